"""Models of the tile periphery, importable without Amaranth or cocotb.

Sub-packages by kind of code:

* ``model.golden``: bit-exact integer models and the specs the RTL shares
  (configs, fixed-point formats, the parameter-port address map, the tile chain);
* ``model.analog``: float models of the analog side (crossbar, aihwkit adapter,
  the SAR's analog front end, ADC metrics);
* ``model.flow``: the flow around them (the network, calibration, capture files).

``model.nmpu``, ``model.sar`` and ``model.capture`` are the public entry
points of DESIGN 3.5, 4.5 and 5; they re-export from the sub-packages.
"""

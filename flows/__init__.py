"""The library behind the commands that run simulators, synthesis or studies.

``tools/`` are thin command lines (argument parsing, printing, exit status) over this
package and over ``model.flow``. The split between the two:

* ``flows``: what needs the RTL or an external tool: the cocotb runs of ``make sim``,
  ``make network`` and ``make bench``, the Verilog of ``make rtl``, Yosys/nextpnr for
  ``make ppa``, the RTL rows of the ADC study (imports ``tb``, ``hw`` and ``model``);
* ``model.flow``: the numpy-only pieces of the golden chain (captures, calibration,
  the import, training, the studies and reports that run no simulator), importable
  without Amaranth or cocotb.

Layering: ``tools`` > ``flows`` > ``tb`` > ``hw`` > ``model``. One module per concept;
this package imports none of them.
"""

from pathlib import Path

#: The repository root (committed captures, default build folders).
REPO = Path(__file__).resolve().parent.parent

"""Verification: everything that checks the RTL against the golden model.

Folders by role, read bottom up (each imports only those above it in this list):

* ``tb.stimulus``: what to test with (plain numpy, every tier): the catalogue of
  configurations, seeded codes and parameters, pause patterns.
* ``tb.stream``: the cocotb stream layer every bench composes: clock/reset
  (``bench``), stream source and sink (``ports``), parameter writer, SAR
  conversion driver and its analog closed loop, payload codec, scoreboard.
* ``tb.pysim``: the same drivers and monitors for Amaranth's simulator.
* ``tb.benches``: per-clock cocotb benches, one module per DUT.
* ``tb.harness``: harness gateware for bulk regressions (stimulus, pauses,
  parameter writer and recorder in RTL beside the DUT).
* ``tb.harness_benches``: the cocotb side of the harnesses, one bulk loop.
* ``tb.runner``: the one runner (build, run, result files) that pytest,
  ``make sim`` and ``make bench`` call.
"""

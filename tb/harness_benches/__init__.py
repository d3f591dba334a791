"""cocotb side of the bulk harnesses: load the memories, wait for ``done``, read back, score
in numpy (one loop, :mod:`tb.harness_benches.bulk`, shared by the three harnesses)."""

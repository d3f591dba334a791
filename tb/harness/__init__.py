"""Harness gateware for bulk regressions: Amaranth around each DUT holding stimulus,
parameters, pause generators and output memories, so the simulator runs without Python."""

"""Per-clock cocotb benches (one module per DUT): driver, monitor and scoreboard against the
golden model, every clock in Python; the protocol corner cases."""

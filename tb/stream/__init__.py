"""The shared stream layer of the cocotb benches: clock and reset, stream source and sink,
parameter writer, SAR conversion driver, payload codec, scoreboard, progress."""

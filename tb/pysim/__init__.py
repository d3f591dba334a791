"""Amaranth-simulator tier: the stream layer's drivers and monitors as async testbenches."""

"""Bit-exact golden models and the specs the RTL shares; imports nothing but numpy."""

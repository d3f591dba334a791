"""The SAR's analog half in a testbench: answer ``cmp`` from ``dac`` with the analog model.

One implementation for every bench and tier. The RTL presents each column's
trial switch state on ``dac``; :meth:`ClosedLoop.answer` decodes it with the
SAR's own ``dac`` layout, checks that every column is on the same step, and
asks the comparator model (``AnalogFrontEnd.compare``) for the decisions of
the conversion being held, keyed as the golden model keys them.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import unsigned
from amaranth.lib import data

from model.sar import step_of
from tb.stream.payload import Codec, port_shape


class ClosedLoop:
    """Comparator answers for conversions of ``analog`` [conversions, columns].

    ``sar``: the ``hw.sar.SAR`` (or a component re-exporting its ``dac``) the
    bench drives; its config and ``dac`` layout are read from it.

    ``first_index``: the comparator noise key of conversion 0 (as in
    ``sar_convert``). :attr:`steps_seen` records each conversion's steps in
    order, for the sequencer check.
    """

    def __init__(self, sar, comparator, analog, *, first_index: int = 0):
        self.config = config = sar.config
        self.comparator = comparator
        self.analog = np.asarray(analog, dtype=np.float64)
        self.first_index = first_index
        self.dac = Codec(port_shape(sar, "dac"))
        self.cmp = Codec(data.ArrayLayout(unsigned(1), config.columns))
        self.steps_seen: dict[int, list[int]] = {}

    def answer(self, dac: int, conversion: int) -> int | None:
        """The ``cmp`` word for the switch states ``dac`` of ``conversion``; None when idle."""
        if dac == 0:
            return None
        states = self.dac.unpack_array(dac)
        steps = step_of(states)
        step = int(steps[0])
        if not (steps == step).all():
            raise AssertionError(f"conversion {conversion}: columns disagree on the step {steps}")
        if not 0 <= conversion < len(self.analog):
            raise AssertionError(f"dac active for conversion {conversion}, none was started")
        self.steps_seen.setdefault(conversion, []).append(step)
        bits = self.comparator.compare(
            self.analog[conversion], states, step, self.first_index + conversion
        )
        return self.cmp.pack_array(bits)

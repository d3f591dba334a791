"""Digital back end of the approximate SAR ADC (DESIGN 4): sequencer, SAR registers, correction.

Timing (``k`` = ``active_steps`` latched at start; see ``docs/sar.md``)::

    edge E0      start & ~busy: input held (sample), k latched, trial bit 0 on dac
    cycles 1..k  step i = cycle i+1: dac shows the trial state, cmp is taken at its end
    cycle k+1    o.valid = 1 (result held until o.ready)
    then         busy falls the cycle after the transfer; the idle cycle is the
                 track (sampling) phase of the next conversion

``start`` is accepted only on a rising edge where ``busy`` is low; a start
while busy (converting or result pending) is ignored, so no result is lost. ``busy`` is
also high while the reset is high, so a start offered then waits for the release instead
of being taken into registers the reset is clearing.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, ResetSignal, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from model.sar import SARConfig


class SAR(wiring.Component):
    """Lockstep SAR back end for ``config.columns`` column ADCs.

    Parameters
    ----------
    config : SARConfig
        Columns, steps, nominal weights and output width.

    Members
    -------
    start : In(1)
        Start pulse; accepted on a rising edge when ``busy`` is low.
    active_steps : In(range(1, steps + 1))
        Steps to run, sampled with an accepted ``start``; values outside
        ``1..steps`` are clamped into that range.
    dac : Out(ArrayLayout(unsigned(steps), columns))
        Switch states: column c at bits ``[c*steps, (c+1)*steps)``, bit i of a
        column = step i (bit 0 = first step, largest weight). All zero when
        not converting.
    cmp : In(columns)
        Comparator decision of column c at bit c, taken at the end of each step.
    busy : Out(1)
        High from the cycle after an accepted start until the cycle after the
        result was accepted, and while the ``sync`` domain's reset is high.
    o : Out(stream.Signature(StructLayout))
        ``payload.codes``: ArrayLayout(unsigned(out_width), columns), corrected
        codes (offset binary); ``payload.decisions``: ArrayLayout(unsigned(steps),
        columns), raw decisions (bit i = step i, skipped steps 0). Flattened:
        code c at ``[c*out_width +: out_width]``, decisions of c at
        ``[columns*out_width + c*steps +: steps]``.
    """

    def __init__(self, config: SARConfig):
        if not isinstance(config, SARConfig):
            raise TypeError(f"SAR takes a SARConfig, not {type(config).__name__}")
        self.config = cfg = config
        payload_layout = data.StructLayout(
            {
                "codes": data.ArrayLayout(unsigned(cfg.out_width), cfg.columns),
                "decisions": data.ArrayLayout(unsigned(cfg.steps), cfg.columns),
            }
        )
        super().__init__(
            {
                "start": In(1),
                "active_steps": In(range(1, cfg.steps + 1)),
                "dac": Out(data.ArrayLayout(unsigned(cfg.steps), cfg.columns)),
                "cmp": In(cfg.columns),
                "busy": Out(1),
                "o": Out(stream.Signature(payload_layout)),
            }
        )

    # -- published timing (read by tests, testbenches and the tile) -------------
    @property
    def latency(self) -> int:
        """Clocks from the edge accepting ``start`` to the first edge that can transfer ``o``,
        for a full conversion (``active_steps = steps``)."""
        return self.latency_at(self.config.steps)

    def latency_at(self, active_steps: int) -> int:
        """:attr:`latency` of an approximate conversion: one clock per step run, plus one."""
        return self.config.check_active_steps(active_steps) + 1

    def period_at(self, active_steps: int) -> int:
        """Start-to-start period with ``start`` held high and ``o.ready`` always high:
        :meth:`latency_at` plus the idle/track (sample) cycle."""
        return self.latency_at(active_steps) + 1

    def elaborate(self, platform):
        cfg = self.config
        m = Module()

        # -- registers -------------------------------------------------------
        # Shared sequencer.
        running_q = Signal()  # compare steps in progress
        valid_q = Signal()  # result held on o
        steps_q = Signal(range(1, cfg.steps + 1), init=cfg.steps)  # latched active_steps
        step_q = Signal(range(cfg.steps))  # current step index
        trial_q = Signal(cfg.steps)  # one-hot trial bit of the current step
        # Per-column SAR registers (kept decisions), column c at [c*steps, (c+1)*steps).
        # One wide register rather than one per column: every bus below is then a
        # single wide expression, which Icarus evaluates once per change instead of
        # once per changed column (quadratic in columns).
        dec_q = Signal(cfg.columns * cfg.steps)
        # early_stop_fill = "interval_midpoint": per column the gap g = U - p between the
        # smallest rejected trial value and the kept sum (model.golden.sar.interval_fill),
        # one wide register as dec_q. Absent with the default fill.
        midpoint = cfg.early_stop_fill == "interval_midpoint"
        gap_width = cfg.gap_width
        gap_q = Signal(cfg.columns * gap_width) if midpoint else None

        # -- combinational ---------------------------------------------------
        # Busy: converting, holding a result, or in reset (a start then would be lost).
        in_reset = ResetSignal("sync", allow_reset_less=True)  # Const(0) if reset-less
        m.d.comb += self.busy.eq(running_q | valid_q | in_reset)
        accept = Signal()  # start seen while idle
        m.d.comb += accept.eq(self.start & ~self.busy)
        last_step = Signal()
        m.d.comb += last_step.eq(step_q == steps_q - 1)
        steps_in = Signal(range(1, cfg.steps + 1))
        m.d.comb += steps_in.eq(
            Mux(
                self.active_steps < 1,
                1,
                Mux(self.active_steps > cfg.steps, cfg.steps, self.active_steps),
            )
        )

        # Midpoint fill for the skipped steps, a constant per active_steps. Written as a
        # Mux chain (a continuous assign in Verilog), not a Switch: Yosys turns a Switch
        # into an ``always @*`` that Icarus never evaluates while steps_q keeps its
        # initial value, leaving fill at X.
        fill = Signal(cfg.sum_width)
        fill_value = Const(0, cfg.sum_width)
        for k in range(1, cfg.steps + 1):
            fill_value = Mux(steps_q == k, cfg.fill(k), fill_value)
        m.d.comb += fill.eq(fill_value)
        if midpoint:  # the nominal weight of the current step, shared by every column's gap
            step_weight = Signal(range(max(cfg.weights) + 1))
            weight_value = Const(0, step_weight.shape())
            for i, w in enumerate(cfg.weights):
                weight_value = Mux(trial_q[i], w, weight_value)
            m.d.comb += step_weight.eq(weight_value)

        # The trial bit in every column: one constant mask per step, selected by the one-hot
        # trial_q (a replicate is a 256-input concatenation that Icarus re-propagates per input).
        trial_all = Const(0, cfg.columns * cfg.steps)
        for i in range(cfg.steps):
            mask = sum(1 << (c * cfg.steps + i) for c in range(cfg.columns))
            trial_all = trial_all | Mux(trial_q[i], Const(mask, cfg.columns * cfg.steps), 0)
        # Switch states presented to the CDACs: kept decisions plus the trial bit.
        m.d.comb += self.dac.eq(Mux(running_q, dec_q | trial_all, 0))
        m.d.comb += self.o.payload.decisions.eq(dec_q)
        # Digital correction: sum of b_i * w_i + fill, saturated. The weights are constants,
        # so sum(b_i * w_i) is a lookup of the decision word in a table of 2**steps partial
        # sums (synthesis reduces it to the same logic as an adder chain). A chain of
        # `steps` adders made Icarus re-evaluate each adder once per changed input (about
        # steps**2 / 2 evaluations per column); the lookup is one (docs/toolchain.md).
        partial_sums = Const(
            sum(
                sum(w for i, w in enumerate(cfg.weights) if word >> i & 1) << (word * cfg.sum_width)
                for word in range(1 << cfg.steps)
            ),
            cfg.sum_width << cfg.steps,
        )
        # Operand isolation: the correction sees the decisions only while a result is
        # held, so it does not toggle at every step (saves power, and keeps the
        # simulators from re-evaluating every column's sum per step).
        dec_held = Signal(cfg.columns * cfg.steps)
        m.d.comb += dec_held.eq(Mux(valid_q, dec_q, 0))
        if midpoint:
            gap_held = Signal(cfg.columns * gap_width)
            m.d.comb += gap_held.eq(Mux(valid_q, gap_q, 0))
        # Largest unsaturated sum. The constant fill: p + ceil(S_k / 2) <= sum of all weights.
        # The midpoint fill: p + g // 2 stays below U <= 2**out_width while g > 0, and is p
        # when g = 0; sized for any register values (p + 2**(out_width-1)) all the same.
        largest = sum(cfg.weights) + ((1 << cfg.out_width) >> 1 if midpoint else 0)
        codes = []
        for c in range(cfg.columns):
            dec_c = Signal(cfg.steps, name=f"dec_held{c}")
            m.d.comb += dec_c.eq(dec_held.word_select(c, cfg.steps))
            total = Signal(max(cfg.sum_width, largest.bit_length()), name=f"sum{c}")
            # The fill: a constant per active_steps, or half the column's gap (rounded down).
            fill_c = gap_held.word_select(c, gap_width)[1:] if midpoint else fill
            m.d.comb += total.eq(fill_c + partial_sums.word_select(dec_c, cfg.sum_width))
            if largest > cfg.full_code:  # redundant weights or the fill can overshoot
                code = Mux(total > cfg.full_code, cfg.full_code, total[: cfg.out_width])
            else:  # sum of all weights is the full code: no overflow possible
                code = total[: cfg.out_width]
            codes.append(code)
        # All codes in one process (an `always @*` in Verilog): Icarus then assembles the
        # payload once per result instead of once per changed column.
        with m.If(valid_q):
            m.d.comb += [self.o.payload.codes[c].eq(code) for c, code in enumerate(codes)]
        m.d.comb += self.o.valid.eq(valid_q)

        # -- control -----------------------------------------------------------
        with m.If(accept):
            m.d.sync += [
                running_q.eq(1),
                steps_q.eq(steps_in),
                step_q.eq(0),
                trial_q.eq(1),
            ]
            m.d.sync += dec_q.eq(0)
            if midpoint:  # every gap starts at 2**out_width
                start_gap = sum((1 << cfg.out_width) << (c * gap_width) for c in range(cfg.columns))
                m.d.sync += gap_q.eq(start_gap)
        with m.Elif(running_q):
            # Keep b_i = cmp for every column; with the midpoint fill, narrow its gap:
            # g - w_i (at least 0) on a kept step, min(g, w_i) on a rejected one.
            for c in range(cfg.columns):
                with m.If(self.cmp[c]):
                    kept = dec_q.word_select(c, cfg.steps)
                    m.d.sync += kept.eq(kept | trial_q)
                if midpoint:
                    gap, w = gap_q.word_select(c, gap_width), step_weight
                    narrowed = Mux(self.cmp[c], Mux(gap > w, gap - w, 0), Mux(gap < w, gap, w))
                    m.d.sync += gap.eq(narrowed)
            m.d.sync += [step_q.eq(step_q + 1), trial_q.eq(trial_q << 1)]
            with m.If(last_step):
                m.d.sync += [running_q.eq(0), valid_q.eq(1), trial_q.eq(0)]
        with m.Elif(valid_q & self.o.ready):
            m.d.sync += valid_q.eq(0)

        return m

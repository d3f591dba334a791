"""The integer analog front end's comparator in RTL, for the bulk harnesses (DESIGN 10).

The SAR harness (``tb.harness.sar``) and the tile harness (``tb.harness.tile``)
both close the SAR's loop in RTL: every clock, the comparator answers the
SAR's switch states ``dac`` with one decision per column on ``cmp``, as
``model.analog.integer_frontend.IntegerFrontEnd.compare`` does, so the golden
model with the same ``IntegerFrontEnd`` reproduces the harness bit for bit.
:class:`IntegerComparator` is that comparator, written once; the harnesses
hold its parameter memory and wire it to the DUT.

Everything the comparator adds is unsigned (see :class:`FrontEndFormat`):
Verilator expands a sign extension bit by bit, which made the 256-column
comparator the tile harness's slowest part.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from model.analog.integer_frontend import (
    FMIX_C1,
    FMIX_C2,
    NOISE_MEAN,
    NOISE_SHIFT,
    STEP_KEY,
    column_keys,
)
from model.sar import SARConfig

#: Width of the run-time noise scale (rms up to 2**24 * 147.8 / 2**16 fine units).
SCALE_WIDTH = 24
#: Width of ``rhs_bias`` (``offset_bias`` plus the noise's bias ``K``).
RHS_WIDTH = SCALE_WIDTH + 12


def fmix32(m: Module, h, name: str) -> Signal:
    """MurmurHash3's fmix32 of a 32-bit Amaranth value (as ``integer_frontend.fmix32``).

    Every stage is a Signal: each stage reads its input twice, and an
    expression used twice is emitted twice (no common subexpressions in the
    Verilog), so a pure expression grew to 6 multipliers per hash instead of 2,
    and to 54 for the key's nested hash. Icarus ran the comparator 4x slower.
    """
    a, b, c, d, e, out = (Signal(32, name=f"{name}_{i}") for i in range(6))
    m.d.comb += [
        a.eq(h),
        b.eq(a ^ (a >> 16)),
        c.eq((b * FMIX_C1)[:32]),
        d.eq(c ^ (c >> 13)),
        e.eq((d * FMIX_C2)[:32]),
        out.eq(e ^ (e >> 16)),
    ]
    return out


class FrontEndFormat:
    """Bit widths of the integer front end's values in the harness memories.

    Every value the comparator adds is unsigned: ``x`` is ``X`` in
    ``[0, 2**(out_width + F)]``; ``weights`` hold non-negative weights up to
    twice the largest nominal one; ``offset`` holds ``O + offset_bias``; the
    noise and the offset bias are moved to the other side of the comparison by
    :meth:`biases`.

    Parameters
    ----------
    config : SARConfig
    frac_bits : int
        ``F``: fine units per LSB are ``2**F``.

    Members
    -------
    column : StructLayout
        One column's word of the parameter memory: ``weights`` [steps], ``offset``.
    conversion : StructLayout
        One conversion's word of a stimulus memory: ``x`` [columns], ``active_steps``.
    """

    def __init__(self, config: SARConfig, frac_bits: int):
        if not isinstance(config, SARConfig):
            raise TypeError(f"FrontEndFormat takes a SARConfig, not {type(config).__name__}")
        if not isinstance(frac_bits, int) or isinstance(frac_bits, bool) or frac_bits < 0:
            raise ValueError(f"frac_bits must be an integer >= 0, not {frac_bits!r}")
        self.frac_bits = frac_bits
        self.x_width = config.out_width + frac_bits + 1
        self.weight_width = max(config.weights).bit_length() + frac_bits + 1
        self.offset_width = config.out_width + frac_bits + 1
        self.offset_bias = 1 << (self.offset_width - 1)
        self.column = data.StructLayout(
            {
                "weights": data.ArrayLayout(unsigned(self.weight_width), config.steps),
                "offset": unsigned(self.offset_width),
            }
        )
        self.conversion = data.StructLayout(
            {
                "x": data.ArrayLayout(unsigned(self.x_width), config.columns),
                "active_steps": unsigned(config.steps.bit_length()),
            }
        )

    def biases(self, noise_scale: int) -> tuple[int, int]:
        """``(noise_bias, rhs_bias)`` for the comparator inputs of the same names.

        With ``B = 510 * scale`` and ``K = ceil(B / 2**16)``, the comparator computes
        ``n' = (S * scale + K * 2**16 - B) >> 16 = n + K`` (unsigned) and decides
        ``X + (O + offset_bias) + n' >= D + (offset_bias + K)``, which is the
        model's ``X + O + n >= D``.
        """
        b = NOISE_MEAN * noise_scale
        k = -(-b >> NOISE_SHIFT)
        return (k << NOISE_SHIFT) - b, self.offset_bias + k


class IntegerComparator(wiring.Component):
    """``IntegerFrontEnd.compare`` in RTL: ``cmp = X + O + noise >= D(dac)``, same clock.

    The per-column weights and offsets are copied from a memory the harness
    holds (read combinationally at ``fe_addr``) into one wide register after
    ``load``; the held inputs and the conversion's noise key are registered
    when ``sample`` is high (the SAR accepting a start). The step of a
    decision is that of column 0's trial state (the columns run in lockstep).

    Parameters
    ----------
    config : SARConfig
    frac_bits : int
        Fine units per LSB are ``2**frac_bits``.

    Members
    -------
    load : In(1)
        Copy the parameter memory again (``ready`` falls until done, ``columns`` cycles).
    fe_addr : Out(range(columns + 1))
        Address of the parameter memory the copy reads.
    fe_data : In(format.column)
        The word at ``fe_addr``: column weights and ``offset + offset_bias``.
    ready : Out(1)
        The parameters are in place.
    sample : In(1)
        Hold ``x`` and ``index`` for the next conversion.
    x : In(ArrayLayout(unsigned(format.x_width), columns))
        Held inputs ``X`` in fine units.
    index : In(32)
        Noise key of the conversion (``vector_index`` of the model, mod 2**32).
    noise_seed : In(32)
    noise_scale : In(SCALE_WIDTH)
    noise_bias : In(NOISE_SHIFT), rhs_bias : In(RHS_WIDTH)
        From :meth:`FrontEndFormat.biases` of ``noise_scale``.
    dac : In(ArrayLayout(unsigned(steps), columns))
        The SAR's switch states (bit i = step i).
    cmp : Out(columns)
        Decision of column c at bit c.
    """

    def __init__(self, config: SARConfig, frac_bits: int = 8):
        self.config = config
        self.format = fmt = FrontEndFormat(config, frac_bits)
        columns, steps = config.columns, config.steps
        super().__init__(
            {
                "load": In(1),
                "fe_addr": Out(range(columns + 1)),
                "fe_data": In(fmt.column),
                "ready": Out(1),
                "sample": In(1),
                "x": In(data.ArrayLayout(unsigned(fmt.x_width), columns)),
                "index": In(32),
                "noise_seed": In(32),
                "noise_scale": In(SCALE_WIDTH),
                "noise_bias": In(NOISE_SHIFT),
                "rhs_bias": In(RHS_WIDTH),
                "dac": In(data.ArrayLayout(unsigned(steps), columns)),
                "cmp": Out(columns),
            }
        )

    def elaborate(self, platform):
        cfg, fmt = self.config, self.format
        columns, steps = cfg.columns, cfg.steps
        m = Module()

        # ------------------------------- parameters: memory -> one wide register
        col_bits = fmt.column.size
        fe_reg = Signal(columns * col_bits)  # column c at [c*col_bits, (c+1)*col_bits)
        scan = Signal(range(columns + 1), init=columns)
        m.d.comb += [self.fe_addr.eq(scan), self.ready.eq(scan == columns)]
        with m.If(self.load):
            m.d.sync += scan.eq(0)
        with m.Elif(scan != columns):
            m.d.sync += [
                fe_reg.eq(Cat(fe_reg[col_bits:], self.fe_data.as_value())),
                scan.eq(scan + 1),
            ]

        # ----------------------------------------------- sample: held inputs, key
        x_q = Signal(data.ArrayLayout(unsigned(fmt.x_width), columns))
        index_q = Signal(32)
        with m.If(self.sample):
            m.d.sync += [x_q.eq(self.x), index_q.eq(self.index)]

        # ------------------- decisions: cmp = X + O + noise >= D(dac), same clock
        dac0 = self.dac[0]
        step = Const(0, range(steps))
        for i in range(steps):  # highest set bit of column 0's trial state
            step = Mux(dac0[i], i, step)
        step_sig = Signal(range(steps))
        m.d.comb += step_sig.eq(step)
        index_hash = fmix32(m, index_q, "index_hash")  # changes once per conversion
        key = fmix32(m, index_hash ^ self.noise_seed ^ (step_sig * STEP_KEY)[:32], "key")
        keys = column_keys(columns)  # the model's per-column constants
        bits = []
        for c in range(columns):
            col = fmt.column(fe_reg.word_select(c, col_bits))
            # The column's hash constant in a register: ``key ^ constant`` becomes a
            # concatenation of single bits and inverted bits in the Verilog, which Icarus
            # re-evaluates (with the whole hash after it) once per bit: 2x slower.
            column_key = Signal(32, name=f"column_key{c}", init=int(keys[c]))
            with m.If(self.load):
                m.d.sync += column_key.eq(int(keys[c]))
            h = fmix32(m, key ^ column_key, f"h{c}")
            s = h[0:8] + h[8:16] + h[16:24] + h[24:32]  # sum of h's four bytes
            noise = Signal(SCALE_WIDTH + 11, name=f"noise{c}")  # n + K (see biases)
            m.d.comb += noise.eq((s * self.noise_scale + self.noise_bias) >> NOISE_SHIFT)
            level = Signal(fmt.weight_width + steps.bit_length(), name=f"level{c}")
            m.d.comb += level.eq(sum(Mux(self.dac[c][i], col.weights[i], 0) for i in range(steps)))
            bits.append(x_q[c] + col.offset + noise >= level + self.rhs_bias)
        m.d.comb += self.cmp.eq(Cat(*bits))
        return m


def add_closed_loop(m, *, dut, comparator, stim, fe_mem, ports, count, total, room, pause):
    """Close ``dut``'s SAR loop through ``comparator``, fed from the ``stim`` memory.

    Wires ``fe_mem`` (per-column weights and offsets) and the noise inputs to
    the comparator (copied on ``ports.load``), and starts one conversion per
    accepted start: while ``go``, the comparator is ready, ``count`` (reset on
    ``load``, one per accepted start) is below ``total``, there is ``room`` for
    the results and ``pause`` is low. Each conversion takes the next slot of
    ``stim`` (``stim_conversions`` used, replayed in a loop), read synchronously
    so no path leads from the VPI-written memory into the DUT's logic but
    through a register; the comparator holds its inputs and noise key
    (``first_index + count``) at the accepting edge. ``dut`` has ``start``,
    ``busy``, ``active_steps``, ``dac`` and ``cmp`` (``hw.sar.SAR``,
    ``hw.tile.TilePeriphery``); ``ports`` are the harness's registered inputs.
    """
    fe_rd = fe_mem.read_port(domain="comb")
    m.d.comb += [
        fe_rd.addr.eq(comparator.fe_addr),
        comparator.fe_data.eq(fe_rd.data),
        comparator.load.eq(ports.load),
    ]
    for name in ("noise_seed", "noise_scale", "noise_bias", "rhs_bias"):
        m.d.comb += getattr(comparator, name).eq(getattr(ports, name))

    slot = Signal(16)  # stimulus slot of the next conversion
    slot_next = Signal(16)
    rd = stim.read_port()  # holds the slot the next accepted start converts
    start, accept = Signal(), Signal()  # accept: the SAR takes the start at this edge
    m.d.comb += [
        slot_next.eq(Mux(slot + 1 == ports.stim_conversions, 0, slot + 1)),
        start.eq(ports.go & ~ports.load & comparator.ready & (count < total) & room & ~pause),
        accept.eq(start & ~dut.busy),
        rd.addr.eq(Mux(ports.load, 0, Mux(accept, slot_next, slot))),
        dut.start.eq(start),
        dut.active_steps.eq(rd.data.active_steps),
        comparator.sample.eq(accept),  # holds x and the noise key
        comparator.x.eq(rd.data.x),
        comparator.index.eq(ports.first_index + count),
        comparator.dac.eq(dut.dac),
        dut.cmp.eq(comparator.cmp),
    ]
    with m.If(ports.load):
        m.d.sync += [count.eq(0), slot.eq(0)]
    with m.Elif(accept):
        m.d.sync += [count.eq(count + 1), slot.eq(slot_next)]

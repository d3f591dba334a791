"""The near-memory processing unit (NMPU) in Amaranth, DESIGN section 3.

Per-column correction affine, phase accumulation (bit-slice shifts and
+/- passes), first compression, batch-norm affine, second compression, ReLU
and output saturation, ``lanes`` columns per clock. Bit-exact with
``model.nmpu.nmpu``; every signal is sized from ``NMPUConfig.ranges`` so no
intermediate can wrap.

Pipeline (one stage per line of the model, registers suffixed ``_q``)::

    i --> [S0 correction] --a_q--> [S1 accumulate] --acc_q--> [S2 compress]
      --y_q--> [S3 batch-norm] --z_q--> [S4 round, ReLU, saturate] --o.payload--> o

All stages advance together when the output register is free
(``advance = ~o.valid | o.ready``); ``i.ready`` is ``advance``, so ``i.ready``
may depend on ``o.ready`` but no ``valid`` depends on any ``ready``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from model.fixed import bits_for
from model.nmpu import NMPUConfig, column_bits, param_data_width

__all__ = ["NMPU", "ConfigPortSignature"]


def _round_shift(v, r: int, mode: str):
    """The model's ``round_shift`` as an Amaranth expression (DESIGN 2)."""
    if r == 0 or mode == "trunc":
        return v >> r
    if mode == "half_up":
        return (v + (1 << (r - 1))) >> r
    return (v + ((1 << (r - 1)) - 1) + v[r]) >> r  # half_even: +1 more when kept LSB is odd


def _clamp(v, lo: int, hi: int):
    """Saturate ``v`` to [lo, hi]; never wraps."""
    return Mux(v > hi, hi, Mux(v < lo, lo, v))


class ConfigPortSignature(wiring.Signature):
    """Parameter write port: ``addr = field << col_bits | column``, ``data`` raw bits, ``we``.

    Fields are numbered as ``model.nmpu.PARAM_FIELDS`` (scale, offset, bn_scale,
    bn_offset); ``data`` carries the raw two's-complement integer in its low bits.
    """

    def __init__(self, addr_width: int, data_width: int):
        super().__init__({"addr": Out(addr_width), "data": Out(data_width), "we": Out(1)})


class NMPU(wiring.Component):
    """Fixed-point NMPU serving ``cfg.columns`` columns, ``cfg.lanes`` per clock.

    Parameters
    ----------
    cfg : NMPUConfig
        Shared with the golden model; validated at construction.

    Members
    -------
    i : In(stream.Signature(StructLayout{codes: ArrayLayout(in_shape, lanes), first, last}))
        ADC codes; beat ``b`` of a phase carries columns ``[b*lanes, (b+1)*lanes)``;
        ``first``/``last`` mark the first/last beat of each phase. Phases of one
        vector arrive back to back.
    o : Out(stream.Signature(StructLayout{data: ArrayLayout(out_shape, lanes), last}))
        Outputs in column order, ``beats`` per vector, ``last`` on the last beat.
    cfg : In(ConfigPortSignature)
        Per-column parameter writes. A write lands in a shadow bank; the active
        bank is loaded from it when the first beat of a vector is accepted, so a
        write takes effect for the vectors whose first beat is accepted after it.
    frame_error : Out(1)
        Sticky: an accepted beat's ``first``/``last`` disagreed with the beat count.
    cfg_error : Out(1)
        Sticky: a write addressed a missing column or field (the write is dropped).
    """

    def __init__(self, cfg: NMPUConfig):
        if not isinstance(cfg, NMPUConfig):
            raise TypeError(f"NMPU takes an NMPUConfig, not {type(cfg).__name__}")
        self.nmpu_config = cfg
        in_shape = signed(cfg.in_width) if cfg.in_signed else unsigned(cfg.in_width)
        out_shape = signed(cfg.out_width) if cfg.out_signed else unsigned(cfg.out_width)
        self.in_layout = data.StructLayout(
            {"codes": data.ArrayLayout(in_shape, cfg.lanes), "first": 1, "last": 1}
        )
        self.out_layout = data.StructLayout(
            {"data": data.ArrayLayout(out_shape, cfg.lanes), "last": 1}
        )
        super().__init__(
            {
                "i": In(stream.Signature(self.in_layout)),
                "o": Out(stream.Signature(self.out_layout)),
                "cfg": In(ConfigPortSignature(2 + column_bits(cfg), param_data_width(cfg))),
                "frame_error": Out(1),
                "cfg_error": Out(1),
            }
        )

    @property
    def latency(self) -> int:
        """Clocks from accepting a vector's last-phase beat to its output beat being valid."""
        return 5

    def elaborate(self, platform):
        cfg = self.nmpu_config
        rg = cfg.ranges
        lanes, beats, phases = cfg.lanes, cfg.beats, cfg.phases
        m = Module()

        fields = cfg.param_fields
        fmt = {f: cfg.param_format(f) for f in fields}

        # ---------------------------------------------------------------- control
        advance = Signal()  # every pipeline register moves one stage
        accept = Signal()  # an input beat transfers this clock
        beat = Signal(range(max(2, beats)))  # never zero-width: lint-clean Verilog
        phase = Signal(range(max(2, phases)))
        vec_start = Signal()  # accepted beat is the first beat of a vector
        m.d.comb += [
            advance.eq(~self.o.valid | self.o.ready),
            self.i.ready.eq(advance),
            accept.eq(self.i.valid & self.i.ready),
            vec_start.eq(accept & (beat == 0) & (phase == 0)),
        ]
        with m.If(accept):
            m.d.sync += beat.eq(Mux(beat == beats - 1, 0, beat + 1))
            with m.If(beat == beats - 1):
                m.d.sync += phase.eq(Mux(phase == phases - 1, 0, phase + 1))
            with m.If(
                (self.i.payload.first != (beat == 0)) | (self.i.payload.last != (beat == beats - 1))
            ):
                m.d.sync += self.frame_error.eq(1)

        # ---------------------------------------- parameter banks (shadow, active)
        col_w = column_bits(cfg)
        shadow = {f: Signal(cfg.columns * fmt[f].width, name=f"{f}_shadow") for f in fields}
        active = {f: Signal(cfg.columns * fmt[f].width, name=f"{f}_active") for f in fields}
        field_sel = self.cfg.addr[col_w:]
        col_sel = self.cfg.addr[:col_w]
        addr_ok = (col_sel < cfg.columns) & (field_sel < len(fields))
        with m.If(self.cfg.we & ~addr_ok):
            m.d.sync += self.cfg_error.eq(1)
        with m.If(self.cfg.we & addr_ok), m.Switch(field_sel):
            for k, f in enumerate(fields):
                with m.Case(k):
                    w = fmt[f].width
                    m.d.sync += shadow[f].word_select(col_sel, w).eq(self.cfg.data[:w])
        with m.If(vec_start):
            m.d.sync += [active[f].eq(shadow[f]) for f in fields]

        def lane_params(f):
            """This beat's parameter ``f`` for each lane (shadow bank at a vector's start)."""
            w = fmt[f].width
            word = Signal(lanes * w, name=f"{f}_beat")
            current = active[f] if beats == 1 else active[f].word_select(beat, lanes * w)
            m.d.comb += word.eq(Mux(vec_start, shadow[f][: lanes * w], current))
            lane = [word[j * w : (j + 1) * w] for j in range(lanes)]
            return [v.as_signed() if fmt[f].signed else v for v in lane]

        par = {f: lane_params(f) for f in fields}

        # ------------------------------------------- S0: correction affine (comb)
        frac_a = rg["a"].frac
        a_shape = signed(rg["a"].bits)
        a = [Signal(a_shape, name=f"a{j}") for j in range(lanes)]
        for j in range(lanes):
            prod = self.i.payload.codes[j] * par["scale"][j]
            ofs = par["offset"][j]
            m.d.comb += a[j].eq(
                (prod << (frac_a - cfg.scale_fmt.frac_bits))
                + (ofs << (frac_a - cfg.offset_fmt.frac_bits))
            )

        # S0 -> S1 pipeline registers
        a_q = [Signal(a_shape, name=f"a{j}_q") for j in range(lanes)]
        a_valid_q = Signal()
        a_beat_q = Signal.like(beat)
        a_phase_q = Signal.like(phase)
        a_vlast_q = Signal()  # last beat of the vector
        bn_fields = ("bn_scale", "bn_offset") if cfg.bn else ()
        bn_a_q = {
            f: [
                Signal(Shape(fmt[f].width, fmt[f].signed), name=f"{f}{j}_a_q") for j in range(lanes)
            ]
            for f in bn_fields
        }
        with m.If(advance):
            m.d.sync += [
                a_valid_q.eq(accept),
                a_beat_q.eq(beat),
                a_phase_q.eq(phase),
                a_vlast_q.eq((beat == beats - 1) & (phase == phases - 1)),
            ]
            m.d.sync += [a_q[j].eq(a[j]) for j in range(lanes)]
            for f in bn_fields:
                m.d.sync += [bn_a_q[f][j].eq(par[f][j]) for j in range(lanes)]

        # ------------------------------------------ S1: phase accumulation (comb)
        terms = []
        for shift, sign in zip(cfg.phase_shifts, cfg.phase_signs, strict=True):
            lo, hi = rg["a"].lo << shift, rg["a"].hi << shift
            terms.append((-hi, -lo) if sign < 0 else (lo, hi))
        t_shape = signed(bits_for(min(t[0] for t in terms), max(t[1] for t in terms)))
        accp_shape = signed(rg["acc_partial"].bits)
        acc_next = [Signal(accp_shape, name=f"acc{j}_next") for j in range(lanes)]
        for j in range(lanes):
            # Shift and sign of the current phase. A Mux chain, not a Switch: it
            # becomes a continuous assign, which Icarus evaluates at time 0 even
            # when its inputs never change (an `always @*` would stay X).
            t = Signal(t_shape, name=f"term{j}")
            pairs = list(zip(cfg.phase_shifts, cfg.phase_signs, strict=True))
            value = None
            for k, (shift, sign) in reversed(list(enumerate(pairs))):
                shifted = a_q[j] << shift
                term = shifted if sign > 0 else -shifted
                value = term if value is None else Mux(a_phase_q == k, term, value)
            m.d.comb += t.eq(value)
            if phases == 1:
                m.d.comb += acc_next[j].eq(t)
            else:
                # Running sums of the first phases-1 phases, one word per beat.
                store = Signal(beats * accp_shape.width, name=f"acc{j}_store")
                held = store.word_select(a_beat_q, accp_shape.width) if beats > 1 else store
                m.d.comb += acc_next[j].eq(Mux(a_phase_q == 0, 0, held.as_signed()) + t)
                with m.If(advance & a_valid_q & (a_phase_q != phases - 1)):
                    if beats > 1:
                        m.d.sync += store.word_select(a_beat_q, accp_shape.width).eq(acc_next[j])
                    else:
                        m.d.sync += store.eq(acc_next[j])

        # S1 -> S2 pipeline registers: only last-phase beats go on.
        acc_q = [Signal(signed(rg["acc"].bits), name=f"acc{j}_q") for j in range(lanes)]
        b_valid_q = Signal()
        b_vlast_q = Signal()
        bn_b_q = {
            f: [Signal.like(s, name=f"{f}{j}_b_q") for j, s in enumerate(bn_a_q[f])]
            for f in bn_fields
        }
        with m.If(advance):
            m.d.sync += [
                b_valid_q.eq(a_valid_q & (a_phase_q == phases - 1)),
                b_vlast_q.eq(a_vlast_q),
            ]
            m.d.sync += [acc_q[j].eq(acc_next[j]) for j in range(lanes)]
            for f in bn_fields:
                m.d.sync += [bn_b_q[f][j].eq(bn_a_q[f][j]) for j in range(lanes)]

        # --------------------------------------- S2: first compression (comb)
        y_lo, y_hi = -(1 << (cfg.mid_width - 1)), (1 << (cfg.mid_width - 1)) - 1
        y_shape = signed(rg["y"].bits)
        y = [Signal(y_shape, name=f"y{j}") for j in range(lanes)]
        for j in range(lanes):
            rounded = Signal(signed(rg["y_round"].bits), name=f"y{j}_round")
            m.d.comb += [
                rounded.eq(
                    _round_shift(acc_q[j] >> cfg.mid_lsb_cut, cfg.mid_round_bits, cfg.rounding)
                ),
                y[j].eq(_clamp(rounded, y_lo, y_hi)),
            ]

        y_q = [Signal(y_shape, name=f"y{j}_q") for j in range(lanes)]
        c_valid_q = Signal()
        c_vlast_q = Signal()
        bn_c_q = {
            f: [Signal.like(s, name=f"{f}{j}_c_q") for j, s in enumerate(bn_b_q[f])]
            for f in bn_fields
        }
        with m.If(advance):
            m.d.sync += [c_valid_q.eq(b_valid_q), c_vlast_q.eq(b_vlast_q)]
            m.d.sync += [y_q[j].eq(y[j]) for j in range(lanes)]
            for f in bn_fields:
                m.d.sync += [bn_c_q[f][j].eq(bn_b_q[f][j]) for j in range(lanes)]

        # ------------------------------------------- S3: batch-norm affine (comb)
        z_shape = signed(rg["z"].bits)
        z = [Signal(z_shape, name=f"z{j}") for j in range(lanes)]
        for j in range(lanes):
            if cfg.bn:
                frac_p = cfg.frac_y + cfg.bn_scale_fmt.frac_bits
                frac_z = rg["z"].frac
                prod = y_q[j] * bn_c_q["bn_scale"][j]
                ofs = bn_c_q["bn_offset"][j]
                m.d.comb += z[j].eq(
                    (prod << (frac_z - frac_p)) + (ofs << (frac_z - cfg.bn_offset_fmt.frac_bits))
                )
            else:
                m.d.comb += z[j].eq(y_q[j])

        z_q = [Signal(z_shape, name=f"z{j}_q") for j in range(lanes)]
        d_valid_q = Signal()
        d_vlast_q = Signal()
        with m.If(advance):
            m.d.sync += [d_valid_q.eq(c_valid_q), d_vlast_q.eq(c_vlast_q)]
            m.d.sync += [z_q[j].eq(z[j]) for j in range(lanes)]

        # ------------------------- S4: second compression, activation, saturation
        out_lo, out_hi = cfg.out_range
        for j in range(lanes):
            r = Signal(signed(rg["r"].bits), name=f"r{j}")
            m.d.comb += r.eq(
                _round_shift(z_q[j] >> cfg.out_lsb_cut, cfg.out_round_bits, cfg.rounding)
            )
            with m.If(advance):
                m.d.sync += self.o.payload.data[j].eq(_clamp(r, out_lo, out_hi))
        with m.If(advance):
            m.d.sync += [self.o.valid.eq(d_valid_q), self.o.payload.last.eq(d_vlast_q)]

        return m

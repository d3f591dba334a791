"""The near-memory processing unit (NMPU) in Amaranth, DESIGN section 3.

Per-column correction affine (bypassed when ``correction`` is off), phase
accumulation (bit-slice shifts and +/- passes), first compression, batch-norm
affine, second compression, ReLU and output saturation, ``lanes`` columns per clock. Bit-exact with
``model.nmpu.nmpu``; every signal is sized from ``NMPUConfig.ranges`` so no
intermediate can wrap.

Combinational lane values are one signal per lane, not one wide vector: Icarus
re-evaluates a wide continuous assignment whenever any lane of it changes,
which is quadratic in lanes (40x slower at 64 lanes, measured).

Pipeline (one stage per line of the model). Each stage register is one
``data.StructLayout`` signal named after the stage it feeds (``s1_q`` ...
``s4_q``), holding ``valid``, ``vlast`` (last beat of a vector), the stage's
lane values and, while they are still needed, the lanes' batch-norm
parameters (``bn``)::

    i --> [S0 correction] --s1_q.a--> [S1 accumulate] --s2_q.acc--> [S2 compress]
      --s3_q.y--> [S3 batch-norm] --s4_q.z--> [S4 round, ReLU, saturate] --o.payload--> o

All stages advance together when the output register is free
(``advance = ~o.valid | o.ready``); ``i.ready`` is ``advance`` (low during a
``flush`` and while the reset is high), so ``i.ready`` may depend on ``o.ready`` but no
``valid`` depends on any ``ready``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Shape, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hw.lane_unit import LaneUnit, input_stage
from model.golden.fixed import bits_for
from model.nmpu import NMPUConfig

__all__ = ["NMPU", "ParamPortSignature"]

#: The pipeline registers, in order; the unit's latency is their number.
STAGES = ("s1_q", "s2_q", "s3_q", "s4_q", "o")


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


class ParamPortSignature(wiring.Signature):
    """Per-column parameter writes: ``addr = field << column_bits | column``, ``data``, ``we``.

    Widths and the address map are ``NMPUConfig.param_addr_width``,
    ``param_data_width`` and ``param_address``; ``data`` carries the raw
    two's-complement integer of the field's format in its low bits. With
    ``readback``, ``re`` asks for a read-back this clock and ``rdata`` (towards the writer)
    returns the latest value written at ``addr``, combinationally, in a clock with ``re``
    high; the unit takes no input beat in that clock (the datapath's own read port of the
    parameter memories serves it: ``hw.param_store``; used by the AXI wrapper, ``hw.axi``).
    """

    def __init__(self, cfg: NMPUConfig, readback: bool = False):
        members = {
            "addr": Out(cfg.param_addr_width),
            "data": Out(cfg.param_data_width),
            "we": Out(1),
        }
        if readback:
            members["re"] = Out(1)
            members["rdata"] = In(cfg.param_data_width)
        super().__init__(members)


class NMPU(LaneUnit):
    """Fixed-point NMPU serving ``config.columns`` columns, ``config.lanes`` per clock.

    Parameters
    ----------
    config : NMPUConfig
        Shared with the golden model; validated at construction.
    readback : bool, keyword-only
        Give the parameter port a read-back (``params.re``/``params.rdata``,
        ``ParamPortSignature``); ``i.ready`` is low in a read-back clock. Off by default (the
        Verilog is then the same as without the option).

    Members
    -------
    i : In(stream.Signature(code_beat_layout))
        ADC codes; beat ``b`` of a phase carries columns ``[b*lanes, (b+1)*lanes)``;
        ``first``/``last`` mark the first/last beat of each phase and ``phase``,
        ``beat`` name the beat's position, so a lost, extra or reordered beat or
        phase is detected. Phases of one vector arrive back to back.
    o : Out(stream.Signature(StructLayout{data: ArrayLayout(out_shape, lanes), last}))
        Outputs in column order, ``beats`` per vector, ``last`` on the last beat.
    params : In(ParamPortSignature)
        Per-column parameter writes, held in two-slot memories (``hw.param_store``):
        a write takes effect for the vectors whose first beat is accepted after it.
    flush : In(1)
        Abort everything in flight (pipeline and output register included) and
        expect a vector start; clears the error flags, keeps the parameters.
    frame_error : Out(1)
        Sticky: an accepted beat was not the one expected (see ``docs/nmpu.md``,
        "Framing"); the unit drops beats until the next vector start.
    param_error : Out(1)
        Sticky: a write addressed a missing column or field (the write is dropped).

    A reset clears the pipeline, the framing state and the error flags, but not
    the parameter memories (storage, as a chip would hold them); ``i.ready`` is low
    while it is high, so a beat offered then transfers after it.
    Handshake, framing and parameter storage are shared with the FP16 unit
    (``hw.lane_unit.input_stage``).
    """

    STAGES = STAGES
    PARAM_PORT = ParamPortSignature

    def elaborate(self, platform):
        cfg = self.config
        rg = cfg.ranges
        lanes, beats, phases = cfg.lanes, cfg.beats, cfg.phases
        m = Module()

        fields = cfg.param_fields
        fmt = {f: cfg.param_format(f) for f in fields}
        param_layout = {
            f: data.ArrayLayout(Shape(fmt[f].width, fmt[f].signed), lanes) for f in fields
        }
        bn_fields = ("bn_scale", "bn_offset") if cfg.bn else ()
        bn_layout = data.StructLayout({f: param_layout[f] for f in bn_fields})

        def stage_layout(name: str, shape: Shape, *, bn: bool, **extra) -> data.StructLayout:
            """One stage register: valid, vlast, the lane values ``name`` and what travels along."""
            members = {"valid": 1, "vlast": 1, name: data.ArrayLayout(shape, lanes), **extra}
            if bn and cfg.bn:
                members["bn"] = bn_layout
            return data.StructLayout(members)

        # ------------------------- control: handshake, framing, parameter banks
        front = input_stage(
            m, self, columns=cfg.columns, lanes=lanes, phases=phases,
            column_bits=cfg.param_column_bits, fields={f: fmt[f].width for f in fields},
            port=ParamPortSignature(cfg, readback=self.readback),
        )  # fmt: skip
        advance, keep, pi = front.advance, front.keep, self.i.payload
        # This beat's parameters, one per lane, viewed in their formats.
        par = {f: data.View(param_layout[f], front.params[f]) for f in fields}

        # ------------------------------------------- S0: correction affine (comb)
        frac_a = rg["a"].frac
        a_shape = signed(rg["a"].bits)
        a = [Signal(a_shape, name=f"a{j}") for j in range(lanes)]  # per lane: module docstring
        for j in range(lanes):
            if not cfg.correction:  # bypassed: x * 1 + 0 at frac_a
                m.d.comb += a[j].eq(self.i.payload.codes[j] << frac_a)
                continue
            prod = self.i.payload.codes[j] * par["scale"][j]
            m.d.comb += a[j].eq(
                (prod << (frac_a - cfg.scale_fmt.frac_bits))
                + (par["offset"][j] << (frac_a - cfg.offset_fmt.frac_bits))
            )

        s1_q = Signal(
            stage_layout("a", a_shape, bn=True, beat=pi.beat.shape(), phase=pi.phase.shape())
        )
        with m.If(advance):
            m.d.sync += [
                s1_q.valid.eq(keep),
                s1_q.vlast.eq((pi.beat == beats - 1) & (pi.phase == phases - 1)),
                s1_q.beat.eq(pi.beat),
                s1_q.phase.eq(pi.phase),
            ]
            m.d.sync += [s1_q.a[j].eq(a[j]) for j in range(lanes)]
            m.d.sync += [s1_q.bn[f].eq(par[f]) for f in bn_fields]

        # ------------------------------------------ S1: phase accumulation (comb)
        terms = []
        for shift, sign in zip(cfg.phase_shifts, cfg.phase_signs, strict=True):
            lo, hi = rg["a"].lo << shift, rg["a"].hi << shift
            terms.append((-hi, -lo) if sign < 0 else (lo, hi))
        t_shape = signed(bits_for(min(t[0] for t in terms), max(t[1] for t in terms)))
        accp_shape = signed(rg["acc_partial"].bits)
        acc_next = [Signal(accp_shape, name=f"acc{j}_next") for j in range(lanes)]
        pairs = list(zip(cfg.phase_shifts, cfg.phase_signs, strict=True))
        for j in range(lanes):
            # Shift and sign of the current phase. A Mux chain, not a Switch: it
            # becomes a continuous assign, which Icarus evaluates at time 0 even
            # when its inputs never change (an `always @*` would stay X).
            t = Signal(t_shape, name=f"term{j}")
            value = None
            for k, (shift, sign) in reversed(list(enumerate(pairs))):
                shifted = s1_q.a[j] << shift
                term = shifted if sign > 0 else -shifted
                value = term if value is None else Mux(s1_q.phase == k, term, value)
            m.d.comb += t.eq(value)
            if phases == 1:
                m.d.comb += acc_next[j].eq(t)
            else:
                # Running sums of the first phases-1 phases, one word per beat.
                store = Signal(beats * accp_shape.width, name=f"acc{j}_store")
                held = store.word_select(s1_q.beat, accp_shape.width) if beats > 1 else store
                m.d.comb += acc_next[j].eq(Mux(s1_q.phase == 0, 0, held.as_signed()) + t)
                with m.If(advance & s1_q.valid & (s1_q.phase != phases - 1)):
                    if beats > 1:
                        m.d.sync += store.word_select(s1_q.beat, accp_shape.width).eq(acc_next[j])
                    else:
                        m.d.sync += store.eq(acc_next[j])

        # Only last-phase beats go on.
        s2_q = Signal(stage_layout("acc", signed(rg["acc"].bits), bn=True))
        with m.If(advance):
            m.d.sync += [
                s2_q.valid.eq(s1_q.valid & (s1_q.phase == phases - 1)),
                s2_q.vlast.eq(s1_q.vlast),
            ]
            m.d.sync += [s2_q.acc[j].eq(acc_next[j]) for j in range(lanes)]
            if cfg.bn:
                m.d.sync += s2_q.bn.eq(s1_q.bn)

        # --------------------------------------- S2: first compression (comb)
        y_lo, y_hi = -(1 << (cfg.mid_width - 1)), (1 << (cfg.mid_width - 1)) - 1
        y_shape = signed(rg["y"].bits)
        y = [Signal(y_shape, name=f"y{j}") for j in range(lanes)]
        for j in range(lanes):
            rounded = Signal(signed(rg["y_round"].bits), name=f"y{j}_round")
            m.d.comb += [
                rounded.eq(
                    _round_shift(s2_q.acc[j] >> cfg.mid_lsb_cut, cfg.mid_round_bits, cfg.rounding)
                ),
                y[j].eq(_clamp(rounded, y_lo, y_hi)),
            ]

        s3_q = Signal(stage_layout("y", y_shape, bn=True))
        with m.If(advance):
            m.d.sync += [s3_q.valid.eq(s2_q.valid), s3_q.vlast.eq(s2_q.vlast)]
            m.d.sync += [s3_q.y[j].eq(y[j]) for j in range(lanes)]
            if cfg.bn:
                m.d.sync += s3_q.bn.eq(s2_q.bn)

        # ------------------------------------------- S3: batch-norm affine (comb)
        z_shape = signed(rg["z"].bits)
        z = [Signal(z_shape, name=f"z{j}") for j in range(lanes)]
        for j in range(lanes):
            if cfg.bn:
                frac_p = cfg.frac_y + cfg.bn_scale_fmt.frac_bits
                frac_z = rg["z"].frac
                prod = s3_q.y[j] * s3_q.bn.bn_scale[j]
                ofs = s3_q.bn.bn_offset[j]
                m.d.comb += z[j].eq(
                    (prod << (frac_z - frac_p)) + (ofs << (frac_z - cfg.bn_offset_fmt.frac_bits))
                )
            else:
                m.d.comb += z[j].eq(s3_q.y[j])

        s4_q = Signal(stage_layout("z", z_shape, bn=False))
        with m.If(advance):
            m.d.sync += [s4_q.valid.eq(s3_q.valid), s4_q.vlast.eq(s3_q.vlast)]
            m.d.sync += [s4_q.z[j].eq(z[j]) for j in range(lanes)]

        # ------------------------- S4: second compression, activation, saturation
        out_lo, out_hi = cfg.out_range
        for j in range(lanes):
            r = Signal(signed(rg["r"].bits), name=f"r{j}")
            m.d.comb += r.eq(
                _round_shift(s4_q.z[j] >> cfg.out_lsb_cut, cfg.out_round_bits, cfg.rounding)
            )
            with m.If(advance):
                m.d.sync += self.o.payload.data[j].eq(_clamp(r, out_lo, out_hi))
        with m.If(advance):
            m.d.sync += [self.o.valid.eq(s4_q.valid), self.o.payload.last.eq(s4_q.vlast)]

        # --------------------------------- flush: drop everything in flight
        with m.If(self.flush):
            m.d.sync += [stage.valid.eq(0) for stage in (s1_q, s2_q, s3_q, s4_q)]
            m.d.sync += self.o.valid.eq(0)

        return m

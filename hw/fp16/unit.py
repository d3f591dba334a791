"""The FP16 baseline post-processing unit in Amaranth, DESIGN section 7.

The same function, ports, streams and parameter port as ``hw.nmpu.NMPU`` (so
the two are interchangeable), computed in IEEE binary16 with one operator per
pipeline stage, ``lanes`` columns per clock. Bit-exact with
``model.fp16.fp16_unit``.

Pipeline (stage registers are ``data.StructLayout`` signals named after the
stage they feed, as in the NMPU)::

    i --> [S0 fp16(code) * scale] --s1_q.p--> [S1 + offset] --s2_q.a-->
      [S2 sign, 2**shift, accumulate] --s3_q.acc--> [S3 * bn_scale] --s4_q.q-->
      [S4 + bn_offset] --s5_q.z--> [S5 round to integer, activation, saturate] --o.payload--> o

Per lane: two multipliers, two or three adders (the accumulation adder only
when ``phases > 1``), the integer conversions, and ``ldexp`` blocks only for
non-zero phase shifts. Parameters are held in two-slot memories of ``2 x columns
x 16`` bits per field, exactly like the NMPU's (``hw.param_store``: a write takes
effect for the vectors whose first beat is accepted after it).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import Out

from hw.lane_unit import LaneUnit, input_stage
from model.nmpu import NMPUConfig

from . import ops

__all__ = ["FP16ParamPortSignature", "FP16Unit"]

#: The pipeline registers, in order; the unit's latency is their number.
STAGES = ("s1_q", "s2_q", "s3_q", "s4_q", "s5_q", "o")
#: Width of every parameter (raw binary16 pattern).
PARAM_WIDTH = 16


class FP16ParamPortSignature(wiring.Signature):
    """Per-column parameter writes: the NMPU's address map, ``data`` a raw binary16 pattern.

    ``addr = field << column_bits | column`` (``NMPUConfig.param_address``),
    ``data`` 16 bits, ``we``.
    """

    def __init__(self, cfg: NMPUConfig):
        super().__init__(
            {"addr": Out(cfg.param_addr_width), "data": Out(PARAM_WIDTH), "we": Out(1)}
        )


class FP16Unit(LaneUnit):
    """FP16 post-processing unit serving ``config.columns`` columns, ``config.lanes`` per clock.

    Parameters
    ----------
    config : NMPUConfig
        Shared with the golden model; its fixed-point formats are unused
        (columns, lanes, in_width/in_signed, phases, phase shifts and signs, bn,
        activation, relu_max and out_width are used).

    Members
    -------
    i : In(stream.Signature(StructLayout{codes: ArrayLayout(in_shape, lanes), first, last,
                                         phase, beat}))
        ADC codes, framed exactly as for ``hw.nmpu.NMPU`` (``hw.nmpu.code_beat_layout``).
    o : Out(stream.Signature(StructLayout{data: ArrayLayout(out_shape, lanes), last}))
        Integer outputs in column order, ``beats`` per vector, ``last`` on the last beat.
    params : In(FP16ParamPortSignature)
        Per-column binary16 parameter writes (``hw.param_store``: in force for the
        vectors whose first beat is accepted after the write).
    flush : In(1)
        Abort everything in flight (pipeline and output register included) and
        expect a vector start; clears the error flags, keeps the parameters.
    frame_error : Out(1)
        Sticky: an accepted beat was not the one expected (the NMPU's framing rules,
        ``docs/nmpu.md``); the unit drops beats until the next vector start.
    param_error : Out(1)
        Sticky: a write addressed a missing column or field (the write is dropped).

    A reset clears the pipeline, the framing state and the error flags, but not
    the parameter memories (as in the NMPU).
    """

    STAGES = STAGES
    PARAM_PORT = FP16ParamPortSignature

    def elaborate(self, platform):
        cfg = self.config
        lanes, beats, phases = cfg.lanes, cfg.beats, cfg.phases
        m = Module()

        fields = cfg.param_fields
        lane_words = data.ArrayLayout(PARAM_WIDTH, lanes)
        bn_fields = ("bn_scale", "bn_offset") if cfg.bn else ()
        cor = cfg.correction
        cor_fields = ("offset",) if cor else ()  # carried to S1

        def stage_layout(name: str, carry: tuple[str, ...], **extra) -> data.StructLayout:
            """One stage register: valid, vlast, the lane values ``name``, parameters carried."""
            members = {"valid": 1, "vlast": 1, name: lane_words, **extra}
            members.update({f: lane_words for f in carry})
            return data.StructLayout(members)

        # ------------------------- control: handshake, framing, parameter banks
        front = input_stage(
            m, self, columns=cfg.columns, lanes=lanes, phases=phases,
            column_bits=cfg.param_column_bits, fields=dict.fromkeys(fields, PARAM_WIDTH),
            port=FP16ParamPortSignature(cfg),
        )  # fmt: skip
        advance, keep, pi = front.advance, front.keep, self.i.payload
        # This beat's parameters, one binary16 pattern per lane.
        par = {f: data.View(lane_words, front.params[f]) for f in fields}

        # ------------------------------------- S0: xh = fp16(code); p = xh * scale
        p = [Signal(PARAM_WIDTH, name=f"p{j}") for j in range(lanes)]  # per lane: see hw.nmpu
        for j in range(lanes):
            xh = ops.from_int(m, self.i.payload.codes[j], cfg.in_width, cfg.in_signed, f"xh{j}")
            # Correction bypassed: xh * 1.0 + 0.0 is exactly xh (the stages stay, as registers).
            m.d.comb += p[j].eq(ops.mul(m, xh, par["scale"][j], f"p{j}") if cor else xh)
        s1_q = Signal(
            stage_layout(
                "p", (*cor_fields, *bn_fields), beat=pi.beat.shape(), phase=pi.phase.shape()
            )
        )
        with m.If(advance):
            m.d.sync += [
                s1_q.valid.eq(keep),
                s1_q.vlast.eq((pi.beat == beats - 1) & (pi.phase == phases - 1)),
                s1_q.beat.eq(pi.beat),
                s1_q.phase.eq(pi.phase),
            ]
            m.d.sync += [s1_q[f].eq(par[f]) for f in cor_fields]
            m.d.sync += [s1_q[f].eq(par[f]) for f in bn_fields]
            m.d.sync += [s1_q.p[j].eq(p[j]) for j in range(lanes)]

        # ----------------------------------------------------- S1: a = p + offset
        a = [Signal(PARAM_WIDTH, name=f"a{j}") for j in range(lanes)]  # per lane: see hw.nmpu
        for j in range(lanes):
            value = ops.add(m, s1_q.p[j], s1_q.offset[j], f"a{j}") if cor else s1_q.p[j]
            m.d.comb += a[j].eq(value)
        s2_q = Signal(stage_layout("a", bn_fields, beat=pi.beat.shape(), phase=pi.phase.shape()))
        with m.If(advance):
            m.d.sync += [
                s2_q.valid.eq(s1_q.valid),
                s2_q.vlast.eq(s1_q.vlast),
                s2_q.beat.eq(s1_q.beat),
                s2_q.phase.eq(s1_q.phase),
            ]
            m.d.sync += [s2_q[f].eq(s1_q[f]) for f in bn_fields]
            m.d.sync += [s2_q.a[j].eq(a[j]) for j in range(lanes)]

        # ------------------- S2: t = sign * a * 2**shift; acc = t (phase 0) or acc + t
        acc_next = [Signal(PARAM_WIDTH, name=f"acc_next{j}") for j in range(lanes)]
        pairs = list(zip(cfg.phase_shifts, cfg.phase_signs, strict=True))
        for j in range(lanes):
            # The current phase's term: a Mux chain (a continuous assign; see hw/nmpu.py).
            t = Signal(PARAM_WIDTH, name=f"term{j}")
            value = None
            for k, (shift, sign) in reversed(list(enumerate(pairs))):
                term = ops.ldexp(m, s2_q.a[j], shift, f"ldexp{j}_{k}")
                if sign < 0:
                    term = ops.neg(m, term, f"neg{j}_{k}")
                value = term if value is None else Mux(s2_q.phase == k, term, value)
            m.d.comb += t.eq(value)
            if phases == 1:
                m.d.comb += acc_next[j].eq(t)
            else:
                # Running sums of the first phases-1 phases, one word per beat.
                store = Signal(beats * PARAM_WIDTH, name=f"acc{j}_store")
                held = store.word_select(s2_q.beat, PARAM_WIDTH) if beats > 1 else store
                total = ops.add(m, held, t, f"acc{j}")
                m.d.comb += acc_next[j].eq(Mux(s2_q.phase == 0, t, total))
                with m.If(advance & s2_q.valid & (s2_q.phase != phases - 1)):
                    if beats > 1:
                        m.d.sync += store.word_select(s2_q.beat, PARAM_WIDTH).eq(acc_next[j])
                    else:
                        m.d.sync += store.eq(acc_next[j])
        s3_q = Signal(stage_layout("acc", bn_fields))  # only last-phase beats go on
        with m.If(advance):
            m.d.sync += [
                s3_q.valid.eq(s2_q.valid & (s2_q.phase == phases - 1)),
                s3_q.vlast.eq(s2_q.vlast),
            ]
            m.d.sync += [s3_q[f].eq(s2_q[f]) for f in bn_fields]
            m.d.sync += [s3_q.acc[j].eq(acc_next[j]) for j in range(lanes)]

        # ------------------------------------------------ S3: q = acc * bn_scale
        q = [Signal(PARAM_WIDTH, name=f"q{j}") for j in range(lanes)]  # per lane: see hw.nmpu
        for j in range(lanes):
            value = ops.mul(m, s3_q.acc[j], s3_q.bn_scale[j], f"q{j}") if cfg.bn else s3_q.acc[j]
            m.d.comb += q[j].eq(value)
        s4_q = Signal(stage_layout("q", bn_fields[1:]))
        with m.If(advance):
            m.d.sync += [
                s4_q.valid.eq(s3_q.valid),
                s4_q.vlast.eq(s3_q.vlast),
            ]
            m.d.sync += [s4_q.q[j].eq(q[j]) for j in range(lanes)]
            if cfg.bn:
                m.d.sync += s4_q.bn_offset.eq(s3_q.bn_offset)

        # ------------------------------------------------ S4: z = q + bn_offset
        z = [Signal(PARAM_WIDTH, name=f"z{j}") for j in range(lanes)]  # per lane: see hw.nmpu
        for j in range(lanes):
            value = ops.add(m, s4_q.q[j], s4_q.bn_offset[j], f"z{j}") if cfg.bn else s4_q.q[j]
            m.d.comb += z[j].eq(value)
        s5_q = Signal(stage_layout("z", ()))
        with m.If(advance):
            m.d.sync += [
                s5_q.valid.eq(s4_q.valid),
                s5_q.vlast.eq(s4_q.vlast),
            ]
            m.d.sync += [s5_q.z[j].eq(z[j]) for j in range(lanes)]

        # ------------- S5: round half to even to an integer, activation, saturation
        # ReLU's max(z, 0) is the lower bound of out_range (0); relu_max is an integer,
        # so clipping after rounding equals clipping before.
        out_lo, out_hi = cfg.out_range
        for j in range(lanes):
            r = ops.to_int(m, s5_q.z[j], out_lo, out_hi, f"out{j}")
            with m.If(advance):
                m.d.sync += self.o.payload.data[j].eq(r)
        with m.If(advance):
            m.d.sync += [self.o.valid.eq(s5_q.valid), self.o.payload.last.eq(s5_q.vlast)]

        # --------------------------------- flush: drop everything in flight
        with m.If(self.flush):
            m.d.sync += [stage.valid.eq(0) for stage in (s1_q, s2_q, s3_q, s4_q, s5_q)]
            m.d.sync += self.o.valid.eq(0)

        return m

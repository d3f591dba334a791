"""Per-column parameter storage of a lane-parallel unit, held in memories as silicon would hold
it: one two-slot register file per field, written through the parameter port and read one
beat (``lanes`` columns) per clock.

Semantics (DESIGN 3.4): a write takes effect for the vectors whose first beat is accepted
after it (the first beat accepted at the write's own clock edge does not see it).

Organisation, per field of width ``w``:

* an Amaranth ``lib.memory.Memory`` of ``beats`` rows; row ``b`` holds the columns of beat
  ``b`` (``b*lanes .. b*lanes+lanes-1``), each in two slots: slot ``s`` of lane ``j`` at bits
  ``[(s*lanes + j)*w, (s*lanes + j + 1)*w)``. One write port with granularity ``w`` (one
  column's slot per write), one asynchronous read port (register-file style: the datapath
  reads the beat's row in the clock it accepts the beat, so the pipeline and its latency are
  those of the former flip-flop banks). A read-back (the AXI wrapper's, ``readback``) borrows
  that port in a clock that accepts no beat, rather than adding a second read port and a
  mux over both slots of every lane: ``docs/integration.md``, "Figures";
* two state bits per column, in flip-flops: ``sel`` (the slot holding the column's latest
  write) and ``pend`` (that write landed after the current vector started, so the current
  vector still reads the other slot). A vector start clears every ``pend``; a write to a
  column whose ``pend`` is clear goes to the other slot and sets ``pend``; a second write in
  the same vector overwrites the pending slot. The slot a lane reads is
  ``sel ^ (pend & ~vec_start)``.

So ``2 x columns x w`` bits of memory (the size of the former shadow and active banks) plus
``2 x columns`` state flip-flops per field replace ``2 x columns x w`` flip-flops and the
bank-to-bank copy. Storage is not cleared by a reset (a memory; ``sel`` is ``reset_less``);
a reset clears ``pend``, so every write before it is in force. Shared by ``hw.nmpu.NMPU``
and ``hw.fp16.unit.FP16Unit`` (``hw.lane_unit.input_stage``).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out


class ParamBanks(wiring.Component):
    """Two-slot memories of ``fields`` (name -> raw width) for ``columns`` columns.

    Members
    -------
    params : In(addr, data, we)
        Writes at ``addr = field_index << column_bits | column`` (``field_index`` the
        field's position in ``address_fields``, default the order of ``fields``);
        ``data`` carries the raw value in its low bits.
    vec_start : In(1)
        A vector's first beat is accepted this clock: the writes before this edge are in
        force from this beat on.
    beat : In(range(beats))
        The beat whose lanes' parameters ``lanes_<field>`` presents.
    flush : In(1)
        Clears ``param_error``; the parameters are kept.
    params.re, params.rdata : In(1), Out(data width), only when ``port`` has them
        Read-back: in a clock with ``re`` high, ``rdata`` (combinational from
        ``params.addr``) is the latest value written to that column and field, i.e. the one
        in force for vectors that start from now on (0 for a missing column or field). It
        goes through the datapath's read port: the row of the addressed column instead of
        ``beat``'s, each lane's latest slot, then that column's lane. So ``lanes_<field>``
        is not this beat's in such a clock, and the unit must take no beat in it
        (``hw.lane_unit.input_stage`` holds ``i.ready`` low).
    lanes_<field> : Out(lanes * width)
        This beat's parameters in force, lane j at ``[j*width, (j+1)*width)``
        (combinational from ``beat`` and ``vec_start``).
    param_error : Out(1)
        Sticky: a write addressed a missing column or field (dropped).

    Attributes
    ----------
    memory_bits : int
        Bits held in the memories (``2 * columns * sum(widths)``).
    state_flip_flops : int
        Slot-state flip-flops (``2 * columns * len(fields)``).
    """

    def __init__(self, *, columns: int, lanes: int, column_bits: int, fields: dict, port,
                 address_fields: tuple | None = None):  # fmt: skip
        self.columns, self.lanes, self.column_bits = columns, lanes, column_bits
        self.fields = dict(fields)
        # Field numbers of the address map: stored fields may be a subset (e.g. no correction).
        self.address_fields = tuple(fields) if address_fields is None else tuple(address_fields)
        missing = set(self.fields) - set(self.address_fields)
        if missing:
            raise ValueError(f"ParamBanks: fields {sorted(missing)} are not in the address map")
        self.beats = columns // lanes
        self.memory_bits = 2 * columns * sum(self.fields.values())
        self.state_flip_flops = 2 * columns * len(self.fields)
        super().__init__(
            {
                "params": In(port),
                "vec_start": In(1),
                "beat": In(range(max(2, self.beats))),
                "flush": In(1),
                **{f"lanes_{f}": Out(lanes * w) for f, w in self.fields.items()},
                "param_error": Out(1),
            }
        )

    def lanes_of(self, name: str):
        """The ``lanes_<name>`` output port."""
        return getattr(self, f"lanes_{name}")

    def _decode_column(self, m: Module, col_sel):
        """(row, lane) of column ``col_sel``: bit fields when ``lanes`` is a power of two,
        else a constant table."""
        lanes, beats = self.lanes, self.beats
        row = Signal(range(max(2, beats)), name="wr_row")
        lane = Signal(range(max(2, lanes)), name="wr_lane")
        if lanes & (lanes - 1) == 0:
            lane_bits = lanes.bit_length() - 1
            m.d.comb += [lane.eq(col_sel[:lane_bits]), row.eq(col_sel[lane_bits:])]
        else:
            with m.Switch(col_sel):
                for c in range(self.columns):
                    with m.Case(c):
                        m.d.comb += [row.eq(c // lanes), lane.eq(c % lanes)]
        return row, lane

    def elaborate(self, platform):
        m = Module()
        lanes, beats, columns = self.lanes, self.beats, self.columns
        names = list(self.fields)
        port = self.params
        field_sel = port.addr[self.column_bits :]
        col_sel = port.addr[: self.column_bits]
        stored = [self.address_fields.index(f) for f in names]
        field_ok = 0
        for k in stored:
            field_ok = field_ok | (field_sel == k)
        addr_ok = (col_sel < columns) & field_ok
        with m.If(self.flush):
            m.d.sync += self.param_error.eq(0)
        with m.Elif(port.we & ~addr_ok):
            m.d.sync += self.param_error.eq(1)

        row, lane = self._decode_column(m, col_sel)
        readback = "rdata" in port.signature.members
        # The read port's row: this beat's, or in a read-back clock the addressed column's.
        read_row = Signal(range(max(2, beats)), name="read_row")
        reading_back = port.re if readback else 0
        m.d.comb += read_row.eq(Mux(port.re, row, self.beat) if readback else self.beat)
        rdata_of = {}  # field number -> the read-back word of that field
        for k, f in zip(stored, names, strict=True):
            w = self.fields[f]
            mem = Memory(shape=2 * lanes * w, depth=beats, init=[])
            m.submodules[f"{f}_mem"] = mem
            sel = Signal(columns, name=f"{f}_sel", reset_less=True)  # slot of the latest write
            pend = Signal(columns, name=f"{f}_pend")  # ... landed during the current vector

            # Write: the column's pending slot if it has one (and no vector starts now),
            # else the other slot, which becomes the pending one.
            wp = mem.write_port(granularity=w)
            we = Signal(name=f"{f}_we")
            slot = Signal(name=f"{f}_wr_slot")
            col_pend = pend.bit_select(col_sel, 1) if columns > 1 else pend
            col_slot = sel.bit_select(col_sel, 1) if columns > 1 else sel
            m.d.comb += [
                we.eq(port.we & addr_ok & (field_sel == k)),
                slot.eq(Mux(col_pend & ~self.vec_start, col_slot, ~col_slot)),
                wp.addr.eq(row),
                wp.data.eq(Cat(port.data[:w] for _ in range(2 * lanes))),
                wp.en.eq(Mux(we, Const(1, 2 * lanes) << (slot * lanes + lane), 0)),
            ]
            with m.If(self.vec_start):
                m.d.sync += pend.eq(0)
            with m.If(we):  # after the clear: a write at a vector start is pending
                if columns > 1:
                    m.d.sync += [
                        pend.bit_select(col_sel, 1).eq(1),
                        sel.bit_select(col_sel, 1).eq(slot),
                    ]
                else:
                    m.d.sync += [pend.eq(1), sel.eq(slot)]

            # Read: this beat's row; per lane the slot in force (in a read-back clock: the
            # addressed column's row, per lane the slot of the latest write).
            rp = mem.read_port(domain="comb")
            m.d.comb += rp.addr.eq(read_row)
            # Signals, not expressions: an expression is emitted (and simulated) once
            # per use, here 2 x lanes wide shifts per field on every beat.
            beat_sel = Signal(lanes, name=f"{f}_beat_sel")
            beat_pend = Signal(lanes, name=f"{f}_beat_pend")
            use_1 = Signal(lanes, name=f"{f}_slot")  # per lane: read slot 1
            m.d.comb += [
                beat_sel.eq(sel.word_select(read_row, lanes) if beats > 1 else sel),
                beat_pend.eq(pend.word_select(read_row, lanes) if beats > 1 else pend),
                use_1.eq(beat_sel ^ Mux(self.vec_start | reading_back, 0, beat_pend)),
            ]
            lanes_out = []
            for j in range(lanes):
                slot0 = rp.data[j * w : (j + 1) * w]
                slot1 = rp.data[(lanes + j) * w : (lanes + j + 1) * w]
                lanes_out.append(Mux(use_1[j], slot1, slot0))
            m.d.comb += self.lanes_of(f).eq(Cat(*lanes_out))

            if readback:  # the addressed column's lane of its row, latest slots
                word = Signal(w, name=f"{f}_readback")
                lanes_now = self.lanes_of(f)
                m.d.comb += word.eq(lanes_now.word_select(lane, w) if lanes > 1 else lanes_now)
                rdata_of[k] = word
        if readback:
            rdata = 0
            for k, word in rdata_of.items():
                rdata = Mux(addr_ok & (field_sel == k), word, rdata)
            m.d.comb += port.rdata.eq(rdata)
        return m

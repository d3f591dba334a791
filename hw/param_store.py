"""Per-column parameter storage of a lane-parallel unit: a shadow bank written through the
parameter port and an active bank loaded from it at each vector start.

A write takes effect for the vectors whose first beat is accepted after it
(the first beat itself reads the shadow bank). The banks are storage: a
reset does not clear them (``reset_less``), as the memory a chip would hold
them in. Shared by ``hw.nmpu.NMPU`` and ``hw.fp16.unit.FP16Unit``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class ParamBanks(wiring.Component):
    """Shadow and active banks of ``fields`` (name -> raw width) for ``columns`` columns.

    Members
    -------
    params : In(addr, data, we)
        Writes at ``addr = field_index << column_bits | column`` (``field_index`` the
        field's position in ``address_fields``, default the order of ``fields``);
        ``data`` carries the raw value in its low bits.
    vec_start : In(1)
        Load the active bank from the shadow bank (a vector's first beat).
    beat : In(range(beats))
        The beat whose lanes' parameters ``lanes_<field>`` presents.
    flush : In(1)
        Clears ``param_error``; the banks are kept.
    lanes_<field> : Out(lanes * width)
        This beat's parameters, lane j at ``[j*width, (j+1)*width)`` (from the
        shadow bank when ``vec_start``).
    param_error : Out(1)
        Sticky: a write addressed a missing column or field (dropped).
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

    def elaborate(self, platform):
        m = Module()
        names = list(self.fields)
        shadow = {
            f: Signal(self.columns * w, name=f"{f}_shadow", reset_less=True)
            for f, w in self.fields.items()
        }
        active = {
            f: Signal(self.columns * w, name=f"{f}_active", reset_less=True)
            for f, w in self.fields.items()
        }
        port = self.params
        field_sel = port.addr[self.column_bits :]
        col_sel = port.addr[: self.column_bits]
        stored = [self.address_fields.index(f) for f in names]
        field_ok = 0
        for k in stored:
            field_ok = field_ok | (field_sel == k)
        addr_ok = (col_sel < self.columns) & field_ok
        with m.If(self.flush):
            m.d.sync += self.param_error.eq(0)
        with m.Elif(port.we & ~addr_ok):
            m.d.sync += self.param_error.eq(1)
        with m.If(port.we & addr_ok), m.Switch(field_sel):
            for k, f in zip(stored, names, strict=True):
                with m.Case(k):
                    w = self.fields[f]
                    m.d.sync += shadow[f].word_select(col_sel, w).eq(port.data[:w])
        with m.If(self.vec_start):
            m.d.sync += [active[f].eq(shadow[f]) for f in names]
        for f, w in self.fields.items():
            width = self.lanes * w
            current = active[f] if self.beats == 1 else active[f].word_select(self.beat, width)
            m.d.comb += self.lanes_of(f).eq(Mux(self.vec_start, shadow[f][:width], current))
        return m

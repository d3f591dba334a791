"""The register block, built field by field from the compiled SystemRDL map (``hw.axi.regmap``).

Per access kind (``hw.axi.regmap.KINDS``), with ``m`` the write's byte mask from ``wstrb``:

* ``const``: reads its reset value; writes are ignored (OKAY).
* ``status``: reads the hardware input ``<reg>_<field>``; writes are ignored.
* ``control``: a stored value, output ``<reg>_<field>``; a write replaces the strobed bytes.
* ``pulse``: output ``<reg>_<field>`` is high for the one clock after a write of 1 (strobed);
  reads 0.
* ``w1c``: sticky; input ``<reg>_<field>_set`` sets it, a write of 1 (strobed) clears it; a
  set and a clear in the same clock leave it set (no event is lost).
* ``counter``: input ``<reg>_incr`` adds one, saturating at all ones; a write with any strobe
  clears it (an increment in the same clock then counts 1).
* ``param``: an external array of NMPU parameters, through the NMPU's parameter port with
  read-back (``params``): column ``(addr - base) / 4``; the strobed bytes are merged with
  the value stored, the unstrobed ones keep it; a write with no strobe on the field's bytes
  does not write. A read, and a write that strobes only part of the field (a
  read-modify-write), assert ``params.re``: the NMPU takes no input beat in that clock (its
  parameter memories have one read port); a write of the whole field does not.

Any other address is unmapped: ``bus.err`` is high, a write changes nothing, a read returns
0, and ``bus_fault`` pulses (the wrapper counts it).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.axi.axil import RegisterBusSignature
from hw.axi.regmap import RegisterMap
from hw.nmpu import ParamPortSignature
from model.nmpu import NMPUConfig


def port_name(reg: str, field: str, suffix: str = "") -> str:
    """The register block's port of a field (lower case): ``<reg>_<field>[_<suffix>]``."""
    return f"{reg}_{field}{'_' + suffix if suffix else ''}".lower()


class RegisterFile(wiring.Component):
    """The registers of ``regmap`` behind a register bus.

    Parameters
    ----------
    regmap : RegisterMap
        The compiled map (``hw.axi.regmap.compile_map``).
    config : NMPUConfig
        The unit behind the ``param`` arrays (its parameter-port address map).

    Members
    -------
    bus : In(RegisterBusSignature)
        Accesses from the AXI4-Lite slave.
    params : Out(ParamPortSignature(config, readback=True))
        Writes to, and read-back from, the NMPU's parameter memories.
    bus_fault : Out(1)
        An access to an unmapped address this clock.
    sticky_any : Out(1)
        Some ``w1c`` flag is set (an interrupt line).
    <reg>_<field> / <reg>_<field>_set / <reg>_incr
        One port per hardware-facing field, as listed in the module docstring.
    """

    def __init__(self, regmap: RegisterMap, config: NMPUConfig):
        self.regmap, self.config = regmap, config
        members = {
            "bus": In(RegisterBusSignature(regmap.addr_width)),
            "params": Out(ParamPortSignature(config, readback=True)),
            "bus_fault": Out(1),
            "sticky_any": Out(1),
        }
        for reg in regmap.registers:
            for f in reg.fields:
                if f.kind == "status":
                    members[port_name(reg.name, f.name)] = In(f.width)
                elif f.kind in ("control", "pulse"):
                    members[port_name(reg.name, f.name)] = Out(f.width, init=f.reset)
                elif f.kind == "w1c":
                    members[port_name(reg.name, f.name, "set")] = In(1)
                elif f.kind == "counter":
                    members[port_name(reg.name, "incr")] = In(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        mask = Signal(32)  # byte mask of the write
        m.d.comb += mask.eq(Cat(*[b.replicate(8) for b in bus.wstrb]))
        rdata_terms, hits, stickies = [], [], []

        for reg in self.regmap.registers:
            if reg.param is not None:
                hits.append(self._param_array(m, reg, mask, rdata_terms))
                continue
            hit = Signal(name=f"{reg.name.lower()}_hit")
            m.d.comb += hit.eq(bus.addr == reg.address >> 2)
            hits.append(hit)
            wr = hit & bus.we
            value = []  # (field, its read value)
            for f in reg.fields:
                new = (bus.wdata & mask)[f.lsb : f.lsb + f.width]
                strobed = mask[f.lsb : f.lsb + f.width]
                if f.kind == "const":
                    value.append((f, f.reset))
                elif f.kind == "status":
                    value.append((f, getattr(self, port_name(reg.name, f.name))))
                elif f.kind == "control":
                    q = getattr(self, port_name(reg.name, f.name))
                    with m.If(wr):
                        m.d.sync += q.eq((q & ~strobed) | new)
                    value.append((f, q))
                elif f.kind == "pulse":
                    q = getattr(self, port_name(reg.name, f.name))
                    m.d.sync += q.eq(Mux(wr, new, 0))
                elif f.kind == "w1c":
                    q = Signal(f.width, init=f.reset, name=port_name(reg.name, f.name))
                    with m.If(getattr(self, port_name(reg.name, f.name, "set"))):
                        m.d.sync += q.eq(1)
                    with m.Elif(wr):
                        m.d.sync += q.eq(q & ~new)
                    value.append((f, q))
                    stickies.append(q)
                elif f.kind == "counter":
                    q = Signal(f.width, init=f.reset, name=port_name(reg.name, f.name))
                    incr = getattr(self, port_name(reg.name, "incr"))
                    full = (1 << f.width) - 1
                    with m.If(wr & strobed.any()):
                        m.d.sync += q.eq(incr)
                    with m.Elif(incr & (q != full)):
                        m.d.sync += q.eq(q + 1)
                    value.append((f, q))
                else:  # regmap refuses any other kind; a new one must be added here
                    raise NotImplementedError(f"{reg.name}.{f.name}: access kind {f.kind}")
            word = 0
            for f, v in value:
                word = word | (v << f.lsb)
            rdata_terms.append(Mux(hit, word, 0))

        mapped = Signal()
        m.d.comb += [
            mapped.eq(Cat(*hits).any()),
            bus.err.eq(~mapped),
            self.bus_fault.eq((bus.we | bus.re) & ~mapped),
            self.sticky_any.eq(Cat(*stickies).any()),
        ]
        rdata = 0
        for term in rdata_terms:
            rdata = rdata | term
        m.d.comb += bus.rdata.eq(rdata)
        return m

    def _param_array(self, m, reg, mask, rdata_terms):
        """Decode external array ``reg`` onto the parameter port; returns its hit signal."""
        bus, cfg, port = self.bus, self.config, self.params
        if reg.stride != 4:
            raise ValueError(f"{reg.name}: parameter arrays need a stride of 4, not {reg.stride}")
        col_bits = max(1, (reg.count - 1).bit_length())
        if reg.address % (4 << col_bits):
            raise ValueError(f"{reg.name}: base {reg.address:#x} is not aligned to its window")
        (f,) = reg.fields
        column = bus.addr[:col_bits]
        hit = Signal(name=f"{reg.name.lower()}_hit")
        m.d.comb += hit.eq((bus.addr[col_bits:] == reg.address >> (2 + col_bits))
                           & (column < reg.count))  # fmt: skip
        base = cfg.param_address(reg.param, 0)
        stored = port.rdata[: f.width]
        strobed = mask[f.lsb : f.lsb + f.width]
        with m.If(hit):  # the port follows the bus address (read-back is combinational)
            m.d.comb += [
                port.addr.eq(base | column),
                port.data.eq((stored & ~strobed) | (bus.wdata & mask)[f.lsb : f.lsb + f.width]),
                port.we.eq(bus.we & strobed.any()),
                port.re.eq(bus.re | (bus.we & strobed.any() & ~strobed.all())),
            ]
        rdata_terms.append(Mux(hit, stored << f.lsb, 0))
        return hit

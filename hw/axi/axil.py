"""AXI4-Lite slave: the five channels in, one register access at a time out.

The protocol half of the register interface; the register block (``hw.axi.registers``)
decodes the accesses. Behaviour an SoC bus sees:

* AW and W are accepted independently, in either order or cycles apart; the write happens
  once both are held, and ``bresp`` follows one clock later. A new AW or W is not taken
  while a write response is waiting for ``bready``.
* A read address is taken when no write is half-received (neither AW nor W held), no read
  is held and no read response is waiting; the read happens the clock after the AR
  handshake (after a write whose halves are both held), and ``rdata``/``rresp`` follow one
  clock later.
* Every access reaches the register block from registers (the held AW/W/AR), so no output
  of the wrapper depends combinationally on an AXI4-Lite input: a parameter read-back,
  which holds the NMPU's input ``tready`` low for its clock, cannot form a path from
  ``araddr``/``arvalid`` to ``s_axis_tready``.
* ``bresp``/``rresp`` are OKAY (0b00) or, for an address the register block does not map,
  SLVERR (0b10); such a write changes nothing. The two low address bits are ignored.
* ``awprot``/``arprot`` are accepted and ignored.

No ``valid`` depends on a ``ready`` of the same channel; one transaction at a time.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

RESP_OKAY, RESP_SLVERR = 0b00, 0b10


class RegisterBusSignature(wiring.Signature):
    """One register access per clock, from the bus slave to a register block.

    ``addr`` (word address: byte address >> 2), ``wdata``, ``wstrb``, ``we`` (a write this
    clock), ``re`` (a read this clock), all from registers of the slave; from the block:
    ``rdata`` and ``err`` (the address is not mapped), both combinational from ``addr``.
    """

    def __init__(self, addr_width: int):
        super().__init__(
            {
                "addr": Out(addr_width - 2),
                "wdata": Out(32),
                "wstrb": Out(4),
                "we": Out(1),
                "re": Out(1),
                "rdata": In(32),
                "err": In(1),
            }
        )


def axil_members(addr_width: int) -> dict:
    """The AXI4-Lite slave's channel ports (AMBA names without a prefix), as a slave sees them."""
    return {
        "awaddr": In(addr_width),
        "awprot": In(3),
        "awvalid": In(1),
        "awready": Out(1),
        "wdata": In(32),
        "wstrb": In(4),
        "wvalid": In(1),
        "wready": Out(1),
        "bresp": Out(2),
        "bvalid": Out(1),
        "bready": In(1),
        "araddr": In(addr_width),
        "arprot": In(3),
        "arvalid": In(1),
        "arready": Out(1),
        "rdata": Out(32),
        "rresp": Out(2),
        "rvalid": Out(1),
        "rready": In(1),
    }


class AXI4LiteSlave(wiring.Component):
    """AXI4-Lite slave with a 32-bit data bus and ``addr_width`` address bits.

    Parameters
    ----------
    addr_width : int
        Byte-address bits (at least 3).

    Members
    -------
    awaddr ... rready : the AXI4-Lite channels (:func:`axil_members`), slave side.
    bus : Out(RegisterBusSignature(addr_width))
        The accesses, to the register block.
    """

    def __init__(self, addr_width: int):
        if not isinstance(addr_width, int) or not 3 <= addr_width <= 32:
            raise ValueError(f"addr_width must be an integer in [3, 32], not {addr_width!r}")
        self.addr_width = addr_width
        super().__init__({**axil_members(addr_width), "bus": Out(RegisterBusSignature(addr_width))})

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        aw_held, w_held, ar_held = Signal(), Signal(), Signal()
        aw_addr_q = Signal(self.addr_width - 2)
        ar_addr_q = Signal(self.addr_width - 2)
        w_data_q, w_strb_q = Signal(32), Signal(4)

        # ---------------------------------------------------------------- control
        write = Signal()  # both halves of a write held: do it this clock
        read = Signal()  # a read address held and no write: do it this clock
        m.d.comb += [
            self.awready.eq(~aw_held & ~self.bvalid),
            self.wready.eq(~w_held & ~self.bvalid),
            self.arready.eq(~aw_held & ~w_held & ~ar_held & ~self.rvalid),
            write.eq(aw_held & w_held),
            read.eq(ar_held & ~write),
        ]
        with m.If(self.awvalid & self.awready):
            m.d.sync += [aw_held.eq(1), aw_addr_q.eq(self.awaddr[2:])]
        with m.If(self.wvalid & self.wready):
            m.d.sync += [w_held.eq(1), w_data_q.eq(self.wdata), w_strb_q.eq(self.wstrb)]
        with m.If(self.arvalid & self.arready):
            m.d.sync += [ar_held.eq(1), ar_addr_q.eq(self.araddr[2:])]

        # ------------------------------------------------------- register access
        m.d.comb += [
            bus.addr.eq(Mux(write, aw_addr_q, ar_addr_q)),
            bus.wdata.eq(w_data_q),
            bus.wstrb.eq(w_strb_q),
            bus.we.eq(write),
            bus.re.eq(read),
        ]

        # -------------------------------------------------------------- responses
        with m.If(write):
            m.d.sync += [
                aw_held.eq(0),
                w_held.eq(0),
                self.bvalid.eq(1),
                self.bresp.eq(Mux(bus.err, RESP_SLVERR, RESP_OKAY)),
            ]
        with m.Elif(self.bvalid & self.bready):
            m.d.sync += self.bvalid.eq(0)
        with m.If(read):
            m.d.sync += [
                ar_held.eq(0),
                self.rvalid.eq(1),
                self.rdata.eq(Mux(bus.err, 0, bus.rdata)),
                self.rresp.eq(Mux(bus.err, RESP_SLVERR, RESP_OKAY)),
            ]
        with m.Elif(self.rvalid & self.rready):
            m.d.sync += self.rvalid.eq(0)
        return m

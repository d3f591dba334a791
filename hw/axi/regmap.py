"""The AXI wrapper's register map, compiled from its SystemRDL source (``nmpu_axi.rdl``).

The ``.rdl`` beside this module is the single source of the map: :func:`compile_map`
elaborates it with ``systemrdl-compiler`` for an ``NMPUConfig`` (its top-level parameters)
and returns plain frozen dataclasses that the register block (``hw.axi.registers``), the
cocotb bench and ``make rtl`` (C header, Markdown) all read. Every field is classified into
one of the access kinds :data:`KINDS` the register block implements; anything else in the
source is refused at elaboration, naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from model.nmpu import NMPUConfig

RDL_FILE = Path(__file__).with_name("nmpu_axi.rdl")
TOP = "nmpu_axi"

#: Access kinds of a field (the ``.rdl`` header says which SystemRDL properties make each).
KINDS = ("const", "status", "control", "pulse", "w1c", "counter", "param")
#: External register arrays -> the NMPU parameter field each holds (DESIGN 3.4).
PARAM_ARRAYS = {
    "SCALE": "scale",
    "OFFSET": "offset",
    "BN_SCALE": "bn_scale",
    "BN_OFFSET": "bn_offset",
}


@dataclass(frozen=True)
class Field:
    """One field: ``name``, bits ``[lsb, lsb + width)``, access ``kind``, ``reset`` value."""

    name: str
    lsb: int
    width: int
    kind: str
    reset: int

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.lsb


@dataclass(frozen=True)
class Register:
    """One register (or one external array of ``count`` registers ``stride`` bytes apart)."""

    name: str
    address: int
    fields: tuple[Field, ...]
    count: int = 1
    stride: int = 4
    param: str | None = None  # an NMPU parameter array: the field it holds

    def addresses(self) -> range:
        return range(self.address, self.address + self.count * self.stride, self.stride)

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


@dataclass(frozen=True)
class RegisterMap:
    """The compiled map: ``registers`` in address order, ``addr_width`` bits of byte address."""

    registers: tuple[Register, ...]
    addr_width: int

    def __getitem__(self, name: str) -> Register:
        for reg in self.registers:
            if reg.name == name:
                return reg
        raise KeyError(name)

    def word_addresses(self) -> dict[int, tuple[Register, int]]:
        """Every mapped byte address -> (its register, index in the array)."""
        return {a: (r, i) for r in self.registers for i, a in enumerate(r.addresses())}


def rdl_parameters(cfg: NMPUConfig, latency: int, sar=None) -> dict:
    """The ``.rdl``'s top-level parameters for ``cfg`` (and ``sar``, a ``SARConfig``, for
    the tile: the ADC registers)."""
    return {
        "SAR_STEPS": sar.steps if sar is not None else 0,
        "SAR_WIDTH": sar.out_width if sar is not None else 8,
        "COLUMNS": cfg.columns,
        "LANES": cfg.lanes,
        "PHASES": cfg.phases,
        "IN_WIDTH": cfg.in_width,
        "OUT_WIDTH": cfg.out_width,
        "LATENCY": latency,
        "CORRECTION": cfg.correction,
        "BN": cfg.bn,
        # An absent field's width is unused (its array is not present): any legal one.
        **{f"{f.upper()}_W": cfg.param_format(f).width if f in cfg.param_fields else 8
           for f in PARAM_ARRAYS.values()},
    }  # fmt: skip


def check_axi_config(cfg: NMPUConfig) -> None:
    """``ValueError`` naming the limit when the register map cannot hold ``cfg``: parameter
    windows of 4096 columns, parameters of at most 32 bits."""
    if cfg.columns > 4096:
        raise ValueError(f"the AXI register map holds at most 4096 columns, not {cfg.columns}")
    if cfg.param_data_width > 32:
        raise ValueError(f"the AXI register map holds parameters of at most 32 bits, not "
                         f"{cfg.param_data_width}")  # fmt: skip


def elaborate_rdl(cfg: NMPUConfig, latency: int, sar=None):
    """The ``systemrdl-compiler`` root node of the map for ``cfg`` (for the PeakRDL exporters);
    with ``sar`` the tile's map, instance ``tile_axi``."""
    from systemrdl import RDLCompiler

    compiler = RDLCompiler()
    compiler.compile_file(str(RDL_FILE))
    return compiler.elaborate(TOP, "tile_axi" if sar is not None else TOP,
                              parameters=rdl_parameters(cfg, latency, sar))  # fmt: skip


def _kind(node) -> str:
    """The access kind of field ``node``; ``ValueError`` for one the block does not implement."""
    from systemrdl.rdltypes import AccessType, OnWriteType

    sw, onwrite = node.get_property("sw"), node.get_property("onwrite")
    if sw == AccessType.r and not node.is_hw_writable:
        return "const"
    if sw == AccessType.r:
        return "status"
    if (sw == AccessType.rw and node.get_property("counter") and onwrite == OnWriteType.wclr
            and node.get_property("incrsaturate") is True):  # fmt: skip
        return "counter"
    if sw == AccessType.rw and onwrite == OnWriteType.woclr and node.is_hw_writable:
        return "w1c"
    if sw == AccessType.rw and onwrite is None and node.get_property("singlepulse"):
        return "pulse"
    if sw == AccessType.rw and onwrite is None and not node.is_hw_writable:
        return "control"
    raise ValueError(f"{RDL_FILE.name}: field {node.get_path()} has an access type the "
                     f"register block does not implement (sw={sw}, onwrite={onwrite})")  # fmt: skip


@lru_cache(maxsize=16)
def compile_map(cfg: NMPUConfig, latency: int, sar=None) -> RegisterMap:
    """Compile ``nmpu_axi.rdl`` for ``cfg`` (an ``NMPUConfig``; ``latency`` its unit's; ``sar``
    the tile's ``SARConfig``, or None for the NMPU alone)."""
    check_axi_config(cfg)
    root = elaborate_rdl(cfg, latency, sar)
    regs = []
    for node in root.top.registers(unroll=False):
        if node.external:
            if not node.is_array or node.inst_name not in PARAM_ARRAYS:
                raise ValueError(f"{RDL_FILE.name}: external register {node.inst_name} is not "
                                 f"one of the parameter arrays {sorted(PARAM_ARRAYS)}")  # fmt: skip
            (count,) = node.array_dimensions
            (value,) = node.fields()
            fields = (Field("value", value.lsb, value.width, "param", 0),)
            regs.append(Register(node.inst_name, node.raw_absolute_address, fields, count,
                                 node.array_stride, PARAM_ARRAYS[node.inst_name]))  # fmt: skip
            continue
        fields = tuple(
            Field(f.inst_name, f.lsb, f.width, _kind(f), int(f.get_property("reset") or 0))
            for f in node.fields()
        )
        regs.append(Register(node.inst_name, node.absolute_address, fields))
    regs.sort(key=lambda r: r.address)
    top = max(r.addresses()[-1] for r in regs) + 4
    return RegisterMap(tuple(regs), max(2, (top - 1).bit_length()))

"""Pack and unpack flat bus words from the Amaranth layouts the RTL is built from.

The generated Verilog flattens every ``data.Layout`` port into one vector
(``i__payload``, ``o__payload``, ``dac``, ...). :class:`Codec` derives each
field's offset, width and signedness from the layout itself, so no testbench
restates a bit position, and converts whole arrays at once with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Shape
from amaranth.lib import data, wiring


@dataclass(frozen=True)
class _Field:
    offset: int
    width: int
    signed: bool
    count: int | None  # None: a scalar; else an array of ``count`` elements


def _fields(layout: data.Layout) -> dict[str, _Field]:
    """Top-level fields of a struct layout (or one unnamed array/scalar field ``""``)."""
    members = layout if isinstance(layout, data.StructLayout) else None
    items = [(name, f.offset, f.shape) for name, f in members] if members else [("", 0, layout)]
    out = {}
    for name, offset, shape in items:
        if isinstance(shape, data.ArrayLayout):
            elem = Shape.cast(shape.elem_shape)
            out[name] = _Field(offset, elem.width, elem.signed, shape.length)
        else:
            s = Shape.cast(shape)
            out[name] = _Field(offset, s.width, s.signed, None)
    return out


def _from_bits(bits: np.ndarray) -> int:
    return int.from_bytes(np.packbits(bits.astype(np.uint8), bitorder="little").tobytes(), "little")


class Codec:
    """Bit-exact conversion between a layout's flat word and named numpy/int fields.

    ``Codec(layout).unpack(word)`` returns ``{field: int or int64 array}``;
    ``pack(field=value, ...)`` the word (missing fields are 0). A plain
    ``ArrayLayout`` has the single field ``""`` (see :meth:`unpack_array`).
    Values out of a field's range raise ``ValueError`` naming the field.
    """

    def __init__(self, layout):
        self.layout = layout
        self.width = Shape.cast(layout).width
        self.fields = _fields(layout)

    def unpack(self, word: int) -> dict:
        """One word: ``{field: int, or int64 array for an array field}``."""
        return {
            name: values[0] if f.count is not None else int(values[0])
            for (name, values), f in zip(
                self.unpack_many([word]).items(), self.fields.values(), strict=True
            )
        }

    def unpack_many(self, words) -> dict:
        """Many words at once: ``{field: array [len(words)] or [len(words), count]}``."""
        nbytes = (self.width + 7) // 8 or 1
        raw = b"".join(int(w).to_bytes(nbytes, "little") for w in words)
        return self.unpack_bytes(np.frombuffer(raw, np.uint8).reshape(len(words), nbytes))

    def unpack_bytes(self, raw: np.ndarray) -> dict:
        """Words given as bytes [words, >= width / 8] (least significant first):
        as :meth:`unpack_many`.

        Each element is read as the 64-bit little-endian window starting at its
        first byte, shifted and masked: a few numpy gathers per field, whatever
        the word width (fields up to 57 bits; wider ones go bit by bit).
        """
        raw = np.asarray(raw, np.uint8)
        n = len(raw)
        padded = np.zeros((n, raw.shape[1] + 8), np.uint64)
        padded[:, : raw.shape[1]] = raw
        out = {}
        for name, f in self.fields.items():
            count = f.count or 1
            start = f.offset + f.width * np.arange(count)
            if f.offset % 8 == 0 and f.width in (8, 16, 32):  # whole bytes: a view
                nbytes = f.width // 8
                chunk = np.ascontiguousarray(raw[:, f.offset // 8 :][:, : count * nbytes])
                values = chunk.view(f"<{'i' if f.signed else 'u'}{nbytes}").astype(np.int64)
            elif f.width > 57:
                values = self._unpack_wide(raw, start, f.width, f.signed)
            else:
                first, shift = start // 8, (start % 8).astype(np.uint64)
                window = np.zeros((n, count), np.uint64)
                for k in range(-(-(f.width + 7) // 8)):  # bytes an element can touch
                    window |= padded[:, first + k] << np.uint64(8 * k)
                values = ((window >> shift) & np.uint64((1 << f.width) - 1)).astype(np.int64)
                if f.signed:
                    values -= (values >> (f.width - 1)) << f.width
            out[name] = values if f.count is not None else values[:, 0]
        return out

    @staticmethod
    def _unpack_wide(raw: np.ndarray, start, width: int, signed: bool) -> np.ndarray:
        """Elements too wide for int64 arithmetic, as Python ints (an object array)."""
        bits = np.unpackbits(raw, axis=1, bitorder="little")
        values = np.array(
            [[_from_bits(row[s : s + width]) for s in start] for row in bits], dtype=object
        ).reshape(len(raw), len(start))
        if signed:
            values = np.where(values >> (width - 1), values - (1 << width), values)
        return values

    def unpack_array(self, word: int) -> np.ndarray:
        """The elements of a plain ``ArrayLayout`` word."""
        return self.unpack(word)[""]

    def pack(self, **values) -> int:
        unknown = set(values) - set(self.fields)
        if unknown:
            raise ValueError(f"unknown field(s) {sorted(unknown)}; layout has {list(self.fields)}")
        bits = np.zeros(self.width, np.uint8)
        for name, value in values.items():
            f = self.fields[name]
            v = np.asarray(value, dtype=np.int64).reshape(-1)
            if v.size != (f.count or 1):
                raise ValueError(f"field {name!r}: {v.size} values, expected {f.count or 1}")
            lo = -(1 << (f.width - 1)) if f.signed else 0
            hi = (1 << (f.width - 1)) - 1 if f.signed else (1 << f.width) - 1
            bad = np.flatnonzero((v < lo) | (v > hi))
            if bad.size:
                raise ValueError(f"field {name!r}[{bad[0]}] = {v[bad[0]]} outside [{lo}, {hi}]")
            u = v & ((1 << f.width) - 1)
            chunk = (u[:, None] >> np.arange(f.width)) & 1
            bits[f.offset : f.offset + chunk.size] = chunk.reshape(-1)
        return _from_bits(bits)

    def pack_array(self, values) -> int:
        """The word of a plain ``ArrayLayout`` holding ``values``."""
        return self.pack(**{"": values})


def port_shape(component: wiring.Component, *path: str):
    """The shape of a member of ``component``'s signature, e.g. ``("i", "payload")``."""
    member = component.signature.members[path[0]]
    for name in path[1:]:
        member = member.signature.members[name]
    return member.shape

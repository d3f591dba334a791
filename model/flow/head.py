"""The network after a captured layer (its *head*), so accuracy is measured with the capture's
own network (DESIGN 5).

A head is a list of dense float layers ``(weight [in, out], bias [out])``, ReLU between
them and an argmax over the last layer's outputs. It is fed the captured layer's
activations in float units (NMPU output integers times ``act_lsb``). Capture and import
files store layer ``i`` as the arrays ``head_weight_<i>`` and ``head_bias_<i>``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Field names of head layer ``i`` in capture and import files.
FIELD_RE = re.compile(r"^head_(weight|bias)_(\d+)$")


def field_names(i: int) -> tuple[str, str]:
    """The (weight, bias) field names of head layer ``i``."""
    return f"head_weight_{i}", f"head_bias_{i}"


@dataclass(frozen=True, eq=False)
class Head:
    """Dense layers after the captured one: ReLU between them, argmax at the end.

    Members
    -------
    layers : tuple of (weight float64 [in, out], bias float64 [out])
    """

    layers: tuple[tuple[np.ndarray, np.ndarray], ...]

    @property
    def inputs(self) -> int:
        return self.layers[0][0].shape[0]

    @property
    def classes(self) -> int:
        return self.layers[-1][0].shape[1]

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The ``head_weight_<i>`` / ``head_bias_<i>`` arrays of a file."""
        out = {}
        for i, (w, b) in enumerate(self.layers):
            wn, bn = field_names(i)
            out[wn], out[bn] = w, b
        return out

    def logits(self, h) -> np.ndarray:
        """Outputs of the last layer [vectors, classes] for activations ``h`` [vectors, inputs]."""
        x = np.asarray(h, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.inputs:
            raise ValueError(f"head inputs must have shape (vectors, {self.inputs}), not {x.shape}")
        for i, (w, b) in enumerate(self.layers):
            x = x @ w + b
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0.0)
        return x

    def accuracy(self, h, labels) -> float:
        """Fraction of vectors whose argmax over :meth:`logits` equals ``labels``."""
        return float(np.mean(np.argmax(self.logits(h), axis=1) == np.asarray(labels)))


def as_float64(arr, name: str, fail) -> np.ndarray:
    """The real array ``arr`` as float64; a non-finite value, or one beyond float64's range
    (a long double), is ``fail(name, problem)`` naming its index (no numpy warning)."""
    arr = np.asarray(arr)
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        fail(name, f"non-finite value at index {[int(j) for j in bad[0]]}")
    with np.errstate(over="ignore"):
        out = np.asarray(arr, dtype=np.float64)
    bad = np.argwhere(~np.isfinite(out))
    if bad.size:
        index = tuple(int(j) for j in bad[0])
        fail(name, f"value {arr[index]!s} at index {list(index)} is beyond float64's range")
    return out


def make_head(layers: Sequence, inputs: int, fail) -> Head | None:
    """Validate ``layers`` [(weight, bias), ...] feeding ``inputs`` activations; ``None`` if empty.

    ``fail(field, problem)`` raises the caller's error (it names the file and field).
    """
    if layers is None or len(layers) == 0:
        return None
    out = []
    width = inputs
    for i, layer in enumerate(layers):
        wn, bn = field_names(i)
        try:
            w, b = layer
        except (TypeError, ValueError):
            fail(wn, "a head layer must be a (weight, bias) pair")
        w, b = np.asarray(w), np.asarray(b)
        for name, arr, ndim in ((wn, w, 2), (bn, b, 1)):
            if arr.dtype.kind not in "fiu" or arr.dtype.kind == "b":
                fail(name, f"dtype {arr.dtype} is not a real number type")
            if arr.ndim != ndim:
                fail(name, f"must be {ndim}-D, not shape {arr.shape}")
            if 0 in arr.shape:
                fail(name, f"shape {arr.shape} has an empty dimension")
            as_float64(arr, name, fail)
        if w.shape[0] != width:
            what = "the captured layer's columns" if i == 0 else f"{field_names(i - 1)[0]} outputs"
            fail(wn, f"has {w.shape[0]} inputs, but {what} are {width}")
        if b.shape != (w.shape[1],):
            fail(bn, f"shape {b.shape} != ({w.shape[1]},) outputs of {wn}")
        w64, b64 = np.array(w, dtype=np.float64), np.array(b, dtype=np.float64)
        w64.flags.writeable = b64.flags.writeable = False
        out.append((w64, b64))
        width = w.shape[1]
    return Head(tuple(out))


def layers_from_arrays(arrays: dict, fail) -> list[tuple[np.ndarray, np.ndarray]]:
    """Collect ``head_weight_<i>`` / ``head_bias_<i>`` from a file's arrays (indices 0..n-1)."""
    found: dict[int, dict[str, np.ndarray]] = {}
    for name, arr in arrays.items():
        m = FIELD_RE.match(name)
        if m:
            found.setdefault(int(m.group(2)), {})[m.group(1)] = arr
    layers = []
    for i in range(len(found)):
        if i not in found:
            missing = min(set(range(max(found) + 1)) - set(found))
            fail(
                field_names(missing)[0],
                f"missing: head layers are numbered from 0 without gaps (found {sorted(found)})",
            )
        wn, bn = field_names(i)
        if "weight" not in found[i]:
            fail(wn, f"missing ({bn} is present)")
        if "bias" not in found[i]:
            fail(bn, f"missing ({wn} is present)")
        layers.append((found[i]["weight"], found[i]["bias"]))
    return layers

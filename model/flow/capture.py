"""Captured activations: the only reader and writer of capture files (DESIGN section 5).

A capture is one ``.npz`` file (no pickle) holding these arrays:

=============  =========  ==========================  ===================================
field          dtype      shape                       meaning
=============  =========  ==========================  ===================================
``analog``     float64    [vectors, phases, columns]  column values, normalised to ADC
                                                       full scale [-1, 1) (finite; values
                                                       outside are clipped by the ADC)
``scale``      int64      [columns]                   NMPU raw ``scale_fmt`` integers
``offset``     int64      [columns]                   NMPU raw ``offset_fmt`` integers
``bn_scale``   int64      [columns]                   NMPU raw ``bn_scale_fmt`` integers
``bn_offset``  int64      [columns]                   NMPU raw ``bn_offset_fmt`` integers
``reference``  float64    [vectors, columns]          float reference of the NMPU output
                                                       (ideal layer output in output LSBs)
``labels``     int64      [vectors]                   optional class labels (0 .. classes-1)
``head_*``     float64    [in, out], [out]            optional (version 2): the network
                                                       after this layer, ``head_weight_<i>``
                                                       and ``head_bias_<i>`` (``model.flow.head``)
``metadata``   unicode    []                          JSON text, below
=============  =========  ==========================  ===================================

``metadata`` is a JSON object: ``schema`` (``"aimc-capture"``), ``schema_version``
(:data:`SCHEMA_VERSION`), ``sar_config`` and ``nmpu_config`` (the configs'
``to_dict()``; :func:`load` returns them as ``SARConfig`` / ``NMPUConfig``),
``provenance`` (simulator and its version, network and layer,
noise settings, seed, creation command, ...) and ``scaling`` (``out_scale``,
``act_lsb``, ``out_frac``: how codes and outputs relate to float units).

:func:`load` validates the schema version (an integer, 1 or 2), the presence,
dtype and shape of every field before reading it (a declared size above
:data:`MAX_ELEMENTS` is refused), their consistency with each other and with the
configs, and the ranges (analog and reference finite, parameters inside their
formats' raw ranges, labels below the head's class count), the head's layer
shapes and ``provenance.adc_front_end`` (``AnalogFrontEnd.sample`` settings), and
raises ``ValueError("<file>: field '<name>': <problem>")`` for every defect, a
damaged archive included. The config dicts themselves are validated by
``NMPUConfig.from_dict`` / ``SARConfig.from_dict``. Version-1 files (no head)
still load.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model.files import NotRegularFile, atomic_write, check_input_path, check_output_path
from model.flow.head import FIELD_RE as HEAD_FIELD_RE
from model.flow.head import Head, layers_from_arrays, make_head
from model.golden.fixed import QFormat
from model.golden.nmpu import PARAM_FIELDS, NMPUConfig
from model.golden.sar import SARConfig
from model.golden.tile import TileConfig

SCHEMA = "aimc-capture"
SCHEMA_VERSION = 2
#: Versions :func:`load` reads (version 1: no head).
SUPPORTED_VERSIONS = (1, 2)
#: Largest element count of one array :func:`load` reads (2**26: 512 MB of float64). The
#: declared shape is checked before the array is read, so a forged header cannot exhaust memory.
MAX_ELEMENTS = 1 << 26
#: Largest label (labels index classes; without a head they must still be sane integers).
MAX_LABEL = (1 << 31) - 1
#: Keys of ``provenance.adc_front_end`` (``AnalogFrontEnd.sample`` keyword arguments).
FRONT_END_KEYS = ("mismatch", "offset", "noise", "seed", "gain", "compression")
REQUIRED_ARRAYS = ("analog", *PARAM_FIELDS, "reference", "metadata")
OPTIONAL_ARRAYS = ("labels",)
REQUIRED_META = ("schema", "schema_version", "sar_config", "nmpu_config", "provenance", "scaling")
SCALING_KEYS = ("out_scale", "act_lsb", "out_frac")


@dataclass(frozen=True)
class Capture:
    """A loaded, validated capture.

    Members
    -------
    analog : float64 [vectors, phases, columns]
    scale, offset, bn_scale, bn_offset : int64 [columns]
    reference : float64 [vectors, columns]
    labels : int64 [vectors] or None
    sar_config : SARConfig
    nmpu_config : NMPUConfig
    provenance, scaling : dict
    head : model.flow.head.Head or None
        The network after this layer (version 2), or ``None``.
    schema_version : int
    path : str
    """

    analog: np.ndarray
    scale: np.ndarray
    offset: np.ndarray
    bn_scale: np.ndarray
    bn_offset: np.ndarray
    reference: np.ndarray
    sar_config: SARConfig
    nmpu_config: NMPUConfig
    provenance: dict[str, Any]
    scaling: dict[str, Any]
    labels: np.ndarray | None = None
    head: Head | None = field(default=None, compare=False)
    schema_version: int = SCHEMA_VERSION
    path: str = field(default="", compare=False)

    @property
    def vectors(self) -> int:
        return self.analog.shape[0]

    @property
    def phases(self) -> int:
        return self.analog.shape[1]

    @property
    def columns(self) -> int:
        return self.analog.shape[2]

    def params(self) -> dict[str, np.ndarray]:
        """The four NMPU parameter arrays, keyed as ``model.nmpu.nmpu`` takes them."""
        return {name: getattr(self, name) for name in PARAM_FIELDS}

    @property
    def tile_config(self) -> TileConfig:
        """The SAR and NMPU configs as the tile's one config."""
        return TileConfig(self.sar_config, self.nmpu_config)

    @property
    def adc_front_end(self) -> dict | None:
        """``AnalogFrontEnd.sample`` settings the capture was calibrated with (validated at
        load; ``{}`` is the ideal front end), or ``None`` when the capture records none."""
        fe = self.provenance.get("adc_front_end")
        return None if fe is None else dict(fe)

    def accuracy(self, out) -> float | None:
        """Accuracy of the capture's own network fed NMPU outputs (or references) ``out``
        [vectors, columns] in output LSBs; ``None`` without a head or labels."""
        if self.head is None or self.labels is None:
            return None
        return self.head.accuracy(np.asarray(out, dtype=np.float64) * self.scaling["act_lsb"],
                                  self.labels)  # fmt: skip


class _Checker:
    """Raises ``ValueError`` with the file and field named."""

    def __init__(self, path):
        self.path = str(path)

    def fail(self, name: str, problem: str):
        raise ValueError(f"{self.path}: field '{name}': {problem}")

    def dtype(self, name: str, arr: np.ndarray, kinds: str, what: str):
        if arr.dtype.kind not in kinds:
            self.fail(name, f"dtype {arr.dtype} is not {what}")

    def shape(self, name: str, arr: np.ndarray, shape: tuple[int, ...]):
        if arr.shape != shape:
            self.fail(name, f"shape {arr.shape} != {shape}")

    def finite(self, name: str, arr: np.ndarray):
        bad = np.argwhere(~np.isfinite(arr))
        if bad.size:
            idx = tuple(int(i) for i in bad[0])
            self.fail(name, f"non-finite value {arr[idx]} at index {list(idx)}")


def _check_arrays(ck: _Checker, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Head | None:
    """Dtypes, shapes, cross-field consistency and ranges (shared by save and load)."""
    analog = arrays["analog"]
    ck.dtype("analog", analog, "f", "floating point")
    if analog.ndim != 3:
        ck.fail("analog", f"must be 3-D [vectors, phases, columns], not shape {analog.shape}")
    vectors, phases, columns = analog.shape
    if vectors < 1 or phases < 1 or columns < 1:
        ck.fail("analog", f"shape {analog.shape} has an empty dimension")
    ck.finite("analog", analog)
    for name in PARAM_FIELDS:
        ck.dtype(name, arrays[name], "iu", "an integer type")
        ck.shape(name, arrays[name], (columns,))
    ref = arrays["reference"]
    ck.dtype("reference", ref, "f", "floating point")
    ck.shape("reference", ref, (vectors, columns))
    ck.finite("reference", ref)
    labels = arrays.get("labels")
    if labels is not None:
        ck.dtype("labels", labels, "iu", "an integer type")
        ck.shape("labels", labels, (vectors,))
        if labels.size and int(labels.min()) < 0:
            ck.fail("labels", f"negative label {int(labels.min())}")
        if labels.size and int(labels.max()) > MAX_LABEL:
            ck.fail("labels", f"label {int(labels.max())} is above {MAX_LABEL}")
    head = make_head(layers_from_arrays(arrays, ck.fail), columns, ck.fail)
    if head is not None and labels is not None and labels.size and labels.max() >= head.classes:
        ck.fail(
            "labels",
            f"label {int(labels.max())} is not a class of the head ({head.classes} "
            f"outputs of head_weight_{len(head.layers) - 1})",
        )

    nmpu_cfg, sar_cfg = meta["nmpu_config"], meta["sar_config"]
    for cname, cfg in (("nmpu_config", nmpu_cfg), ("sar_config", sar_cfg)):
        if "columns" in cfg and cfg["columns"] != columns:
            ck.fail(cname, f"columns {cfg['columns']!r} != {columns} columns of 'analog'")
    if "phases" in nmpu_cfg and nmpu_cfg["phases"] != phases:
        ck.fail("nmpu_config", f"phases {nmpu_cfg['phases']!r} != {phases} phases of 'analog'")
    for name in PARAM_FIELDS:
        text = nmpu_cfg.get(f"{name}_fmt")
        if text is None:
            continue
        try:
            fmt = QFormat.parse(text, name=f"{name}_fmt")
        except (ValueError, TypeError) as exc:
            ck.fail("nmpu_config", str(exc))
        arr = arrays[name]
        bad = np.flatnonzero((arr < fmt.min_raw) | (arr > fmt.max_raw))
        if bad.size:
            c = int(bad[0])
            ck.fail(
                name,
                f"value {int(arr[c])} at column {c} is outside {fmt} raw range "
                f"[{fmt.min_raw}, {fmt.max_raw}]",
            )
    return head


def _check_meta(ck: _Checker, meta: Any) -> dict[str, Any]:
    if not isinstance(meta, dict):
        ck.fail("metadata", f"must be a JSON object, not {type(meta).__name__}")
    for key in REQUIRED_META:
        if key not in meta:
            ck.fail(key, "missing from metadata")
    if meta["schema"] != SCHEMA:
        ck.fail("schema", f"{meta['schema']!r} != {SCHEMA!r}")
    version = meta["schema_version"]
    if type(version) is not int or version not in SUPPORTED_VERSIONS:
        ck.fail(
            "schema_version",
            f"{version!r} is not a supported version (integers {list(SUPPORTED_VERSIONS)})",
        )
    for key in ("sar_config", "nmpu_config", "provenance", "scaling"):
        if not isinstance(meta[key], dict):
            ck.fail(key, f"must be a JSON object, not {type(meta[key]).__name__}")
    for key in SCALING_KEYS:
        value = meta["scaling"].get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            ck.fail("scaling", f"'{key}' must be a number, not {value!r}")
    for key in ("out_scale", "act_lsb"):
        value = meta["scaling"][key]
        if not (math.isfinite(float(value)) and value > 0):
            ck.fail("scaling", f"'{key}' must be positive and finite, not {value}")
    if type(meta["scaling"]["out_frac"]) is not int:
        ck.fail("scaling", f"'out_frac' must be an integer, not {meta['scaling']['out_frac']!r}")
    return meta


def check_front_end(ck: _Checker, fe: Any, sar: SARConfig) -> None:
    """``provenance.adc_front_end``: a JSON object of ``AnalogFrontEnd.sample`` settings, each
    in the front end's own range (``model.analog.sar_frontend.settings_problem``: seed in
    [0, 2**63), ...); a bad one is ``field 'provenance.adc_front_end.<key>'``."""
    from model.analog.sar_frontend import settings_problem

    where = "provenance"
    if not isinstance(fe, dict):
        ck.fail(where, f"'adc_front_end' must be a JSON object, not {fe!r}")
    unknown = sorted(set(fe) - set(FRONT_END_KEYS))
    if unknown:
        ck.fail(
            where,
            f"'adc_front_end' has unknown key {unknown[0]!r} (expected some of {FRONT_END_KEYS})",
        )
    bad = settings_problem(sar, fe)
    if bad is not None:
        ck.fail(f"provenance.adc_front_end.{bad[0]}", bad[1])


def _build_configs(ck: _Checker, meta: dict[str, Any]) -> tuple[SARConfig, NMPUConfig]:
    """The configs from their dicts, validated by the config classes' own ``from_dict``."""
    built = []
    for key, cls in (("sar_config", SARConfig), ("nmpu_config", NMPUConfig)):
        try:
            built.append(cls.from_dict(meta[key]))
        except (ValueError, TypeError) as exc:
            ck.fail(key, str(exc))
    sar, nmpu = built
    try:
        TileConfig(sar, nmpu)
    except ValueError as exc:
        ck.fail("sar_config", f"does not match nmpu_config: {exc}")
    if meta["scaling"]["out_frac"] != nmpu.out_frac:
        ck.fail(
            "scaling",
            f"'out_frac' {meta['scaling']['out_frac']} != {nmpu.out_frac}, the output fraction "
            "bits of nmpu_config",
        )
    if "adc_front_end" in meta["provenance"]:
        check_front_end(ck, meta["provenance"]["adc_front_end"], sar)
    return sar, nmpu


def _as_head(head) -> list:
    if head is None:
        return []
    if isinstance(head, Head):
        return list(head.layers)
    return list(head)


def save(
    path: str | Path,
    *,
    analog,
    scale,
    offset,
    bn_scale,
    bn_offset,
    reference,
    sar_config: SARConfig,
    nmpu_config: NMPUConfig,
    provenance: dict[str, Any],
    scaling: dict[str, Any],
    labels=None,
    head=None,
) -> Path:
    """Validate and write a capture (schema version 2); same inputs give a byte-identical file.

    ``head``: the network after this layer, a ``model.flow.head.Head`` or a sequence of
    ``(weight [in, out], bias [out])`` pairs (ReLU between, argmax at the end); optional.
    Arrays are stored as float64 / int64 whatever their input dtype (after the
    dtype-kind check). Metadata JSON is written with sorted keys. The file is written to a
    temporary file and renamed onto ``path`` (``model.files.atomic_write``); a ``path``
    that exists and is not a regular file (a directory, a FIFO) is a ``ValueError``.
    """
    path = check_output_path(path)
    ck = _Checker(path)
    raw = {
        "analog": np.asarray(analog),
        "scale": np.asarray(scale),
        "offset": np.asarray(offset),
        "bn_scale": np.asarray(bn_scale),
        "bn_offset": np.asarray(bn_offset),
        "reference": np.asarray(reference),
    }
    if labels is not None:
        raw["labels"] = np.asarray(labels)
    for i, (w, b) in enumerate(_as_head(head)):
        raw[f"head_weight_{i}"], raw[f"head_bias_{i}"] = np.asarray(w), np.asarray(b)
    meta = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "sar_config": sar_config.to_dict(),
        "nmpu_config": nmpu_config.to_dict(),
        "provenance": provenance,
        "scaling": scaling,
    }
    try:
        text = json.dumps(meta, sort_keys=True, indent=1, allow_nan=False)
    except (TypeError, ValueError) as exc:
        ck.fail("metadata", f"not JSON-serialisable: {exc}")
    meta = _check_meta(ck, json.loads(text))
    _check_arrays(ck, raw, meta)
    _build_configs(ck, meta)
    out = {
        k: np.ascontiguousarray(v, dtype=np.float64 if v.dtype.kind == "f" else np.int64)
        for k, v in raw.items()
    }
    out["metadata"] = np.array(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A temporary file renamed onto ``path``: a failed write (full disk, size limit, an
    # interrupt) leaves the previous capture intact (model.files).
    with atomic_write(path) as fh:
        np.savez_compressed(fh, **out)
    return path


_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def read_npz(path: str | Path, what: str = "capture") -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, read safely (no pickle, sizes checked first).

    Shared by :func:`load` and the import of analog data. Each member's ``.npy``
    header is read and its declared shape and dtype checked (no object arrays,
    at most :data:`MAX_ELEMENTS` elements) before any data is read, so a forged
    header never allocates; a damaged archive or member (truncated, bad CRC,
    corrupt deflate stream) is a ``ValueError`` naming the file and field.
    ``FileNotFoundError`` for a missing file; a directory, FIFO, device or socket is a
    ``ValueError`` (``<path>: not a capture (.npz) file: a FIFO (named pipe)``) found
    without opening it (``model.files.check_input_path``: a FIFO would block the read).
    """
    path = Path(path)
    ck = _Checker(path)
    what = ("an " if what.startswith(tuple("aeiou")) else "a ") + what  # "an import source"
    try:
        check_input_path(path)
    except NotRegularFile as exc:
        raise ValueError(f"{path}: not {what} (.npz) file: {exc.kind}") from None
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"{path}: not {what} (.npz) file: empty file")
    if not zipfile.is_zipfile(path):  # numpy would call it pickled data
        raise ValueError(f"{path}: not {what} (.npz) file: not a zip archive ({size} bytes)")
    arrays: dict[str, np.ndarray] = {}
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise ValueError(f"{path}: not {what} (.npz) file: {exc}") from None
    with zf:
        for info in zf.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if not info.filename.endswith(".npy"):
                ck.fail(name, "archive member is not a .npy array")
            if name in arrays:
                ck.fail(name, "appears twice in the archive")
            arrays[name] = _read_member(ck, zf, info, name)
    return arrays


def _read_member(ck: _Checker, zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str):
    # zipfile raises NotImplementedError (unknown compression, flags) and RuntimeError
    # (an encryption flag) on damaged headers; numpy ValueError/EOFError on bad .npy data.
    damaged = (
        ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError,
        NotImplementedError, RuntimeError, UnicodeDecodeError, SyntaxError,
    )  # fmt: skip
    try:
        with zf.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            reader = _HEADER_READERS.get(version)
            if reader is None:
                ck.fail(name, f"unsupported .npy format version {version}")
            shape, _, dtype = reader(fh)
    except damaged as exc:
        ck.fail(name, f"unreadable .npy header: {exc}")
    if dtype.hasobject:
        ck.fail(name, f"dtype {dtype} holds Python objects (needs pickle; refused)")
    n = 1
    for d in shape:
        n *= int(d)
    if n > MAX_ELEMENTS:
        ck.fail(name, f"declares shape {tuple(shape)} ({n} elements, limit {MAX_ELEMENTS})")
    try:
        with zf.open(info) as fh:
            return np.lib.format.read_array(fh, allow_pickle=False)
    except damaged as exc:
        ck.fail(name, f"damaged data: {type(exc).__name__}: {exc}")
    except MemoryError:
        ck.fail(name, f"too large to read ({n} elements of {dtype})")


def load(path: str | Path) -> Capture:
    """Read and validate a capture file; ``ValueError`` names the file and field on any defect.

    ``FileNotFoundError`` (an ``OSError``) when the file does not exist.
    """
    path = Path(path)
    ck = _Checker(path)
    arrays = read_npz(path, "capture")
    names = set(arrays)
    for name in REQUIRED_ARRAYS:
        if name not in names:
            ck.fail(name, "missing from the file")
    text = arrays.pop("metadata")
    if text.dtype.kind != "U" or text.shape != ():
        ck.fail("metadata", f"must be a 0-d unicode array, not dtype {text.dtype} {text.shape}")
    try:
        meta = json.loads(str(text))
    except (json.JSONDecodeError, RecursionError) as exc:
        ck.fail("metadata", f"invalid JSON: {exc}")
    meta = _check_meta(ck, meta)
    allowed = set(REQUIRED_ARRAYS) | set(OPTIONAL_ARRAYS)
    unknown = sorted(
        n for n in names - allowed if not (meta["schema_version"] >= 2 and HEAD_FIELD_RE.match(n))
    )
    if unknown:
        why = " (head layers need schema_version 2)" if HEAD_FIELD_RE.match(unknown[0]) else ""
        ck.fail(unknown[0], f"unknown field{why}")
    head = _check_arrays(ck, arrays, meta)
    sar_config, nmpu_config = _build_configs(ck, meta)

    def as_(name, dtype):
        arr = np.array(arrays[name], dtype=dtype)
        arr.flags.writeable = False
        return arr

    return Capture(
        analog=as_("analog", np.float64),
        scale=as_("scale", np.int64),
        offset=as_("offset", np.int64),
        bn_scale=as_("bn_scale", np.int64),
        bn_offset=as_("bn_offset", np.int64),
        reference=as_("reference", np.float64),
        labels=as_("labels", np.int64) if "labels" in arrays else None,
        head=head,
        schema_version=meta["schema_version"],
        sar_config=sar_config,
        nmpu_config=nmpu_config,
        provenance=meta["provenance"],
        scaling=meta["scaling"],
        path=str(path),
    )

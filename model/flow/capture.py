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
``labels``     int64      [vectors]                   optional class labels
``metadata``   unicode    []                          JSON text, below
=============  =========  ==========================  ===================================

``metadata`` is a JSON object: ``schema`` (``"aimc-capture"``), ``schema_version``
(:data:`SCHEMA_VERSION`), ``sar_config`` and ``nmpu_config`` (the configs'
``to_dict()``; :func:`load` returns them as ``SARConfig`` / ``NMPUConfig``),
``provenance`` (simulator and its version, network and layer,
noise settings, seed, creation command, ...) and ``scaling`` (``out_scale``,
``act_lsb``, ``out_frac``: how codes and outputs relate to float units).

:func:`load` validates the schema version, the presence, dtype and shape of
every field, their consistency with each other and with the configs, and the
ranges (analog and reference finite, parameters inside their formats' raw
ranges), and raises ``ValueError("<file>: field '<name>': <problem>")``. The
config dicts themselves are validated by ``NMPUConfig.from_dict`` /
``SARConfig.from_dict``.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model.golden.fixed import QFormat
from model.golden.nmpu import PARAM_FIELDS, NMPUConfig
from model.golden.sar import SARConfig
from model.golden.tile import TileConfig

SCHEMA = "aimc-capture"
SCHEMA_VERSION = 1
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


def _check_arrays(ck: _Checker, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
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
        if labels.size and labels.min() < 0:
            ck.fail("labels", f"negative label {int(labels.min())}")

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
        except ValueError as exc:
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


def _check_meta(ck: _Checker, meta: Any) -> dict[str, Any]:
    if not isinstance(meta, dict):
        ck.fail("metadata", f"must be a JSON object, not {type(meta).__name__}")
    for key in REQUIRED_META:
        if key not in meta:
            ck.fail(key, "missing from metadata")
    if meta["schema"] != SCHEMA:
        ck.fail("schema", f"{meta['schema']!r} != {SCHEMA!r}")
    if meta["schema_version"] != SCHEMA_VERSION:
        ck.fail(
            "schema_version",
            f"{meta['schema_version']!r} is not the supported version {SCHEMA_VERSION}",
        )
    for key in ("sar_config", "nmpu_config", "provenance", "scaling"):
        if not isinstance(meta[key], dict):
            ck.fail(key, f"must be a JSON object, not {type(meta[key]).__name__}")
    for key in SCALING_KEYS:
        value = meta["scaling"].get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            ck.fail("scaling", f"'{key}' must be a number, not {value!r}")
    for key in ("out_scale", "act_lsb"):
        if not (np.isfinite(meta["scaling"][key]) and meta["scaling"][key] > 0):
            ck.fail("scaling", f"'{key}' must be positive and finite, not {meta['scaling'][key]}")
    return meta


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
        ck.fail("sar_config", str(exc))
    return sar, nmpu


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
) -> Path:
    """Validate and write a capture; same inputs give a byte-identical file.

    Arrays are stored as float64 / int64 whatever their input dtype (after the
    dtype-kind check). Metadata JSON is written with sorted keys.
    """
    path = Path(path)
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
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **out)
    return path


def load(path: str | Path) -> Capture:
    """Read and validate a capture file; ``ValueError`` names the file and field on any defect."""
    path = Path(path)
    ck = _Checker(path)
    if path.is_file() and not zipfile.is_zipfile(path):  # numpy would call it pickled data
        size = path.stat().st_size
        raise ValueError(
            f"{path}: not a capture (.npz) file: "
            + ("empty file" if size == 0 else f"not a zip archive ({size} bytes)")
        )
    try:
        npz = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a capture (.npz) file: {exc}") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: not a capture (.npz) file: holds a single array")
    with npz:
        names = set(npz.files)
        for name in REQUIRED_ARRAYS:
            if name not in names:
                ck.fail(name, "missing from the file")
        unknown = sorted(names - set(REQUIRED_ARRAYS) - set(OPTIONAL_ARRAYS))
        if unknown:
            ck.fail(unknown[0], "unknown field")
        arrays = {}
        for name in names:
            try:
                arrays[name] = npz[name]
            except ValueError as exc:  # e.g. an object array, which would need pickle
                ck.fail(name, f"unreadable without pickle: {exc}")
    text = arrays.pop("metadata")
    if text.dtype.kind != "U" or text.shape != ():
        ck.fail("metadata", f"must be a 0-d unicode array, not dtype {text.dtype} {text.shape}")
    try:
        meta = json.loads(str(text))
    except json.JSONDecodeError as exc:
        ck.fail("metadata", f"invalid JSON: {exc}")
    meta = _check_meta(ck, meta)
    _check_arrays(ck, arrays, meta)
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
        sar_config=sar_config,
        nmpu_config=nmpu_config,
        provenance=meta["provenance"],
        scaling=meta["scaling"],
        path=str(path),
    )


def main(argv=None) -> int:
    """``python -m model.capture FILE...``: validate captures and print a summary.

    Exit status 0 when every file is valid, else 2, with one line per bad file.
    """
    import argparse
    import sys

    ap = argparse.ArgumentParser(description=main.__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    args = ap.parse_args(argv)
    status = 0
    for f in args.files:
        try:
            cap = load(f)
        except (OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 2
            continue
        prov = cap.provenance
        print(
            f"{f}: {cap.vectors} vectors x {cap.phases} phases x {cap.columns} columns, "
            f"simulator {prov.get('simulator')} {prov.get('simulator_version', '')}".rstrip()
        )
    return status


if __name__ == "__main__":
    raise SystemExit(main())

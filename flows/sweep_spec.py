"""The sweep spec (``tools.sweep``, ``docs/sweeps.md``): a TOML file naming the axes of a
design-space or Monte Carlo sweep, their values and what each point measures.

::

    [sweep]
    name = "quick"
    kind = "study"            # "study": tile_net networks (ADC study); "capture": a capture

    [params]                  # fixed parameters of every point (defaults below)
    network = "mlp"
    epochs = 6

    [axes]                    # one point per combination of these values
    active_steps = [8, 6, 4]
    adc_seed = [1, 2, 3]
    training = ["float", "chip_specific"]

    [[exclude]]               # optional: combinations left out
    training = "chip_specific"
    active_steps = [8]

    [measure.rtl]             # optional: an RTL check of some points on the bulk harness
    sim = "verilator"
    vectors = 16
    when = { active_steps = [4] }

:func:`load` parses and validates the file and returns a :class:`Spec`; any problem is a
``SpecError`` whose message is one line naming the file and the field
(``sweeps/x.toml: axes.active_steps: must be a list of integers in [1, 8], not [0]``).
Each kind has its parameter table (:data:`PARAMS`): a parameter is fixed (``[params]``)
or an axis (``[axes]``), never both, and every other one takes its default. Ranges
that depend on other parameters (a front end setting against the SAR's width) are the
library's to check when the point runs: such a point fails and records why.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from model.files import check_input_path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser from PyPI (pyproject.toml)
    import tomli as tomllib

KINDS = ("study", "capture")
#: Largest seed of any seed parameter (numpy, torch, the front end): 32-bit unsigned.
MAX_SEED = 2**32 - 1
#: Format presets of the ``capture`` kind's ``formats`` parameter besides ``capture`` (the
#: captured formats) and the spec's own ``[formats.NAME]`` tables: ``flows.ppa.SWEEP``'s.
FORMAT_FIELDS = ("scale", "offset", "frac_y", "mid_width", "bn_scale", "bn_offset")
PPA_FORMATS = ("default", "narrow-bn", "narrow", "narrowest")
#: Parameters that only seed a point: the summary and the plots average over them
#: (confidence bands) instead of drawing a line per value.
SEED_PARAMS = ("adc_seed", "train_seed", "chip_seed")


class SpecError(ValueError):
    """A spec that cannot be run: one line naming the file and the field."""


@dataclass(frozen=True)
class Param:
    """One parameter of a point: its type (``int``, ``float``, ``str``), default, allowed
    values (``choices``) or range (``lo``, ``hi``), whether ``None`` (unset) is allowed,
    and what it is."""

    type: type
    default: object
    help: str
    choices: tuple = ()
    lo: float | None = None
    hi: float | None = None
    optional: bool = False

    def problem(self, v) -> str | None:
        """Why ``v`` is not a value of this parameter (None: it is)."""
        if v is None and self.optional:
            return None
        t = self.type
        ok = (
            (isinstance(v, int) and not isinstance(v, bool))
            if t is int
            else (
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                if t is float
                else isinstance(v, str)
            )
        )
        what = {int: "an integer", float: "a finite number", str: "a string"}[t]
        if self.choices:
            if not ok or v not in self.choices:
                return f"must be one of {', '.join(map(str, self.choices))}, not {v!r}"
            return None
        rng = ""
        if self.lo is not None or self.hi is not None:
            lo, hi = self.lo, self.hi
            rng = f" in [{lo:g}, {hi:g}]" if hi is not None else f" >= {lo:g}"
            ok = ok and (lo is None or v >= lo) and (hi is None or v <= hi)
        return None if ok else f"must be {what}{rng}, not {v!r}"


def _front_end_params(optional_help: str) -> dict[str, Param]:
    return {
        name: Param(float, None, f"{what}; {optional_help}", lo=0.0, optional=True)
        for name, what in (
            ("mismatch", "CDAC unit-cap relative sigma"),
            ("offset", "comparator offset sigma, LSB"),
            ("noise", "comparator noise rms, LSB"),
            ("gain", "per-column gain error sigma"),
            ("compression", "mean per-column compression"),
        )
    }


#: Each kind's parameters (name -> Param).
PARAMS: dict[str, dict[str, Param]] = {
    "study": {
        "network": Param(str, "mlp", "tile_net network", choices=("mlp", "cnn")),
        "active_steps": Param(int, 8, "SAR comparator cycles per conversion", lo=1, hi=8),
        "adc_seed": Param(
            int, 1, "ADC instance evaluated (and trained on, chip_specific)", lo=0, hi=MAX_SEED
        ),
        "level": Param(
            str,
            "harsh",
            "non-ideality level (docs/adc_study.md)",
            choices=("ideal", "moderate", "harsh"),
        ),
        **_front_end_params("unset: the level's"),
        "training": Param(
            str,
            "float",
            "float network or ADC-aware fine-tuning",
            choices=("float", "chip_specific", "distribution"),
        ),
        "calibration": Param(
            str,
            "none",
            "correction stage: identity or per-column calibration",
            choices=("none", "per_column"),
        ),
        "train_seed": Param(
            int, 0, "training seed (CNN float training, ADC-aware fine-tuning)", lo=0, hi=MAX_SEED
        ),
        "epochs": Param(
            int, None, "ADC-aware epochs; unset: the study's", lo=1, hi=1000, optional=True
        ),
        "lr": Param(
            float,
            None,
            "ADC-aware learning rate; unset: the study's",
            lo=1e-6,
            hi=1.0,
            optional=True,
        ),  # fmt: skip
        "instances_per_batch": Param(
            int,
            None,
            "distribution-aware: ADC instances per batch; unset: the study's",
            lo=1,
            hi=64,
            optional=True,
        ),  # fmt: skip
        "column_dropout": Param(
            float,
            None,
            "distribution-aware: column dropout; unset: the study's",
            lo=0.0,
            hi=0.9,
            optional=True,
        ),  # fmt: skip
        "chip_seed": Param(int, 7, "crossbar programming seed", lo=0, hi=MAX_SEED),
        "eval_split": Param(
            str,
            "test",
            "images scored: test, or validation (choosing a recipe)",
            choices=("test", "validation"),
        ),  # fmt: skip
        "test_vectors": Param(
            int,
            None,
            "images scored (the first N of eval_split); unset: all",
            lo=1,
            hi=450,
            optional=True,
        ),  # fmt: skip
    },
    "capture": {
        "capture": Param(
            str, "captures/builtin_digits.npz", "capture file (repo-relative or absolute)"
        ),
        "formats": Param(
            str,
            "capture",
            "NMPU formats: capture, a flows.ppa preset "
            f"({', '.join(PPA_FORMATS)}) or a [formats.NAME] table",
        ),
        "unit": Param(str, "fixed", "post-processing unit", choices=("fixed", "fp16")),
        "active_steps": Param(
            int, None, "SAR comparator cycles; unset: all", lo=1, hi=64, optional=True
        ),
        "adc_seed": Param(
            int, None, "ADC instance; unset: the capture's", lo=0, hi=MAX_SEED, optional=True
        ),
        **_front_end_params("unset: the capture's"),
        "vectors": Param(
            int, None, "vectors scored (the first N); unset: all", lo=1, optional=True
        ),
    },
}

#: ``[measure.rtl]`` keys.
RTL_KEYS = ("sim", "vectors", "when", "seed")


@dataclass(frozen=True)
class RTLCheck:
    """``[measure.rtl]``: points matching ``when`` (parameter -> allowed values) run
    ``vectors`` of their vectors through the tile bulk harness on ``sim``."""

    sim: str
    vectors: int = 16
    when: dict = field(default_factory=dict)
    seed: int = 1

    def applies(self, point: dict) -> bool:
        return all(point.get(k) in vs for k, vs in self.when.items())


@dataclass(frozen=True)
class Spec:
    """A parsed sweep spec; :meth:`points` lists its points in a fixed order."""

    path: str
    name: str
    kind: str
    description: str
    params: dict  # fixed parameters, defaults filled in
    axes: dict  # name -> list of values, in the file's order
    formats: dict  # the spec's own [formats.NAME] tables
    rtl: RTLCheck | None
    exclude: tuple = ()  # ({axis: [values]}, ...): combinations left out

    def points(self) -> list[dict]:
        """Every point: ``{"id", "index", "kind", "params", "format_table", "rtl"}``, the
        last axis varying fastest, the ``exclude`` combinations left out."""
        names = list(self.axes)
        out = []
        for values in itertools.product(*(self.axes[n] for n in names)):
            params = {**self.params, **dict(zip(names, values, strict=True))}
            if any(all(params[k] in vs for k, vs in ex.items()) for ex in self.exclude):
                continue
            i = len(out)
            rtl = self.rtl if self.rtl and self.rtl.applies(params) else None
            rtl_d = (
                None if rtl is None else {"sim": rtl.sim, "vectors": rtl.vectors, "seed": rtl.seed}
            )
            fmt = self.formats.get(params.get("formats")) if self.kind == "capture" else None
            out.append(
                {
                    "id": point_id(self.kind, params, fmt, rtl_d),
                    "index": i,
                    "kind": self.kind,
                    "params": params,
                    "format_table": fmt,
                    "rtl": rtl_d,
                }
            )
        return out

    @property
    def seed_axes(self) -> list[str]:
        return [a for a in self.axes if a in SEED_PARAMS]

    @property
    def series_axes(self) -> list[str]:
        """Axes that are not seeds: one summary row / plot line per combination."""
        return [a for a in self.axes if a not in SEED_PARAMS]


#: Each kind's results version: bumped when a library change alters what a kind's points
#: measure (study 3: the train/validation split, float networks fitted on the train
#: split), so that a rerun does not keep rows measured by older code.
RESULTS_VERSION = {"study": 3, "capture": 1}


def point_id(kind: str, params: dict, format_table, rtl) -> str:
    """A point's identity: the hash of everything that determines its result."""
    text = json.dumps([kind, RESULTS_VERSION[kind], params, format_table, rtl], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _fail(path, where: str, msg: str):
    raise SpecError(f"{path}: {where}: {msg}")


def _table(path, doc: dict, key: str, required: bool = False) -> dict:
    t = doc.get(key)
    if t is None:
        if required:
            _fail(path, key, "missing table")
        return {}
    if not isinstance(t, dict):
        _fail(path, key, f"must be a table, not {type(t).__name__}")
    return t


def parse(doc: dict, path: str = "<spec>") -> Spec:
    """A :class:`Spec` from a parsed TOML document; ``SpecError`` naming the field."""
    known = {"sweep", "params", "axes", "exclude", "measure", "formats"}
    for key in doc:
        if key not in known:
            _fail(path, key, f"unknown table (expected {', '.join(sorted(known))})")
    sweep = _table(path, doc, "sweep", required=True)
    for key in sweep:
        if key not in ("name", "kind", "description"):
            _fail(path, f"sweep.{key}", "unknown key (expected name, kind, description)")
    name = sweep.get("name", Path(path).stem)
    if (
        not isinstance(name, str)
        or not name
        or not name.replace("-", "").replace("_", "").isalnum()
    ):
        _fail(path, "sweep.name", f"must be letters, digits, - and _, not {name!r}")
    kind = sweep.get("kind")
    if kind not in KINDS:
        _fail(path, "sweep.kind", f"must be one of {', '.join(KINDS)}, not {kind!r}")
    description = sweep.get("description", "")
    if not isinstance(description, str):
        _fail(path, "sweep.description", "must be a string")
    table = PARAMS[kind]

    formats = {}
    for fname, ft in _table(path, doc, "formats").items():
        where = f"formats.{fname}"
        if kind != "capture":
            _fail(path, where, 'format tables are for kind = "capture"')
        if not isinstance(ft, dict):
            _fail(path, where, "must be a table")
        missing = [f for f in FORMAT_FIELDS if f not in ft]
        extra = [f for f in ft if f not in FORMAT_FIELDS]
        if missing or extra:
            _fail(
                path,
                where,
                f"needs exactly {', '.join(FORMAT_FIELDS)}"
                + (f" (missing {', '.join(missing)})" if missing else "")
                + (f" (unknown {', '.join(extra)})" if extra else ""),
            )
        for f in FORMAT_FIELDS:
            want = int if f in ("frac_y", "mid_width") else str
            if not isinstance(ft[f], want) or isinstance(ft[f], bool):
                _fail(
                    path,
                    f"{where}.{f}",
                    f"must be {'an integer' if want is int else 'a string'}"
                    f" such as {'3' if want is int else 'UQ(1,7)'}, not {ft[f]!r}",
                )
        formats[fname] = {f: ft[f] for f in FORMAT_FIELDS}

    def check_value(where, pname, v):
        p = table[pname]
        bad = p.problem(v)
        if bad is None and pname == "formats" and v not in ("capture", *PPA_FORMATS, *formats):
            bad = (
                f"must be capture, one of {', '.join(PPA_FORMATS)} or a [formats.NAME] "
                f"table, not {v!r}"
            )
        if bad:
            _fail(path, where, bad)

    params = {}
    for pname, v in _table(path, doc, "params").items():
        if pname not in table:
            _fail(
                path,
                f"params.{pname}",
                f"unknown parameter of kind {kind!r} (known: {', '.join(table)})",
            )
        check_value(f"params.{pname}", pname, v)
        params[pname] = v
    axes = {}
    for pname, vs in _table(path, doc, "axes").items():
        where = f"axes.{pname}"
        if pname not in table:
            _fail(path, where, f"unknown parameter of kind {kind!r} (known: {', '.join(table)})")
        if pname in params:
            _fail(path, where, f"{pname} is also in [params]: a parameter is fixed or an axis")
        if not isinstance(vs, list) or not vs:
            _fail(path, where, f"must be a non-empty list of values, not {vs!r}")
        for i, v in enumerate(vs):
            check_value(f"{where}[{i}]", pname, v)
        if len(set(map(repr, vs))) != len(vs):
            _fail(path, where, f"lists a value twice: {vs!r}")
        axes[pname] = list(vs)
    full = {k: p.default for k, p in table.items() if k not in axes}
    full.update(params)
    if kind == "capture":
        cap = full.get("capture")
        if "capture" in axes:
            _fail(path, "axes.capture", "one capture per sweep (put it in [params])")
        resolved = resolve_capture(cap)
        try:
            check_input_path(resolved, "params.capture")
        except (OSError, ValueError) as exc:
            _fail(path, "params.capture", str(exc))
        full["capture"] = str(resolved)

    exclude = doc.get("exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(e, dict) for e in exclude):
        _fail(path, "exclude", "must be an array of tables ([[exclude]] axis = [values])")
    excl = []
    for j, ex in enumerate(exclude):
        e = {}
        for pname, vs in ex.items():
            where = f"exclude[{j}].{pname}"
            if pname not in axes:
                _fail(path, where, f"not an axis (axes: {', '.join(axes) or 'none'})")
            vs = vs if isinstance(vs, list) else [vs]
            for i, v in enumerate(vs):
                check_value(f"{where}[{i}]" if len(vs) > 1 else where, pname, v)
            e[pname] = vs
        if not e:
            _fail(path, f"exclude[{j}]", "empty: it would exclude every point")
        excl.append(e)

    measure = _table(path, doc, "measure")
    for key in measure:
        if key != "rtl":
            _fail(path, f"measure.{key}", "unknown key (expected rtl; accuracy is always measured)")
    rtl = None
    if "rtl" in measure:
        r = measure["rtl"]
        if not isinstance(r, dict):
            _fail(path, "measure.rtl", "must be a table")
        for key in r:
            if key not in RTL_KEYS:
                _fail(path, f"measure.rtl.{key}", f"unknown key (expected {', '.join(RTL_KEYS)})")
        if r.get("sim") not in ("icarus", "verilator"):
            _fail(path, "measure.rtl.sim", f"must be icarus or verilator, not {r.get('sim')!r}")
        nv = r.get("vectors", 16)
        if not isinstance(nv, int) or isinstance(nv, bool) or not 1 <= nv <= 4096:
            _fail(path, "measure.rtl.vectors", f"must be an integer in [1, 4096], not {nv!r}")
        seed = r.get("seed", 1)
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
            _fail(path, "measure.rtl.seed", f"must be an integer in [0, {MAX_SEED}], not {seed!r}")
        when = r.get("when", {})
        if not isinstance(when, dict):
            _fail(path, "measure.rtl.when", "must be a table of parameter = [values]")
        w = {}
        for pname, vs in when.items():
            where = f"measure.rtl.when.{pname}"
            if pname not in table:
                _fail(path, where, f"unknown parameter of kind {kind!r}")
            vs = vs if isinstance(vs, list) else [vs]
            for i, v in enumerate(vs):
                check_value(f"{where}[{i}]", pname, v)
            w[pname] = vs
        rtl = RTLCheck(r["sim"], nv, w, seed)
    spec = Spec(str(path), name, kind, description, full, axes, formats, rtl, tuple(excl))
    if not spec.points():
        _fail(path, "exclude", "leaves no point to run")
    return spec


def resolve_capture(name: str) -> Path:
    """A capture named relative to the repository (``captures/x.npz``) or absolute."""
    p = Path(name)
    if p.is_absolute():
        return p
    return Path(__file__).resolve().parents[1] / p


def load(path) -> Spec:
    """Read and validate the spec file ``path`` (TOML); ``SpecError`` on any problem."""
    try:
        check_input_path(path, "spec")
    except (OSError, ValueError) as exc:
        raise SpecError(str(exc)) from None
    try:
        doc = tomllib.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from None
    return parse(doc, str(path))

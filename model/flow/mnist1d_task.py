"""A task where the NMPU's formats matter: mnist1d through the built-in crossbar, imported
at each format variant, scored with the float reference, the FP16 unit and the NMPU.

Every format gives the same accuracy on the committed digits captures (the 8x8 digits are
too easy to rank them). ``mnist1d`` (PyPI; Greydanus 2020) generates its 4,000 + 1,000
one-dimensional, 40-point digit signals procedurally (``make_dataset``, no download): a
small MLP reaches only about 60-70 %, so its decisions sit close together and a coarser
parameter format moves them. The flow:

1. data: ``mnist1d.data.make_dataset(get_dataset_args())`` (its own seed), inputs divided by
   the largest training ``|x|`` so they fit the crossbar's DAC range [-1, 1];
2. network: a 40-``hidden``-10 ReLU MLP (scikit-learn, seeded), layer 1 on the crossbar;
3. analog: ``model.analog.crossbar.simulate`` (PCM noise and drift, seeded) on the training
   split (calibration) and the first ``vectors`` test signals (scored);
4. for each variant of ``FORMAT_VARIANTS`` (``NMPUConfig`` fields): the import path
   (``model.flow.importer``: the SAR model with the sampled front end, calibration, batch-norm
   or bias folded in) writes a capture, and ``model.flow.accuracy`` runs the golden chain with
   the NMPU and with the FP16 unit of the same function (``fp16_params_from_fixed``).

``tools.format_sweep`` is the command line.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.analog import crossbar
from model.flow import importer
from model.flow.accuracy import chain_outputs, evaluate
from model.flow.capture import load, save
from model.flow.digits import MLP, Digits, fit_mlp
from model.flow.head import make_head

#: The folded unit with one rounding (no stage-1 cut): the output keeps the fraction bits
#: the scale gives, so a narrower scale is a narrower datapath and nothing else.
_ONE_ROUNDING = {"bn": False, "mid_lsb_cut": 0, "mid_round_bits": 0}
#: Format variants: name -> ``NMPUConfig`` fields over the import's defaults. ``two_mult``
#: is the project's default unit (correction and batch-norm, two multipliers); the others
#: are the paper's one multiply-add per column (``bn = False``: the bias folded into the
#: correction's scale and offset), at the default and at narrower parameter formats.
FORMAT_VARIANTS: dict[str, dict] = {
    "two_mult": {},
    "folded": {"bn": False},
    **{
        f"folded_scale{bits}": {**_ONE_ROUNDING, "scale_fmt": f"UQ(1,{bits - 1})"}
        for bits in (8, 6, 5, 4, 3)
    },
    "folded_offset7": {**_ONE_ROUNDING, "offset_fmt": "Q(6,1)"},
    "folded_offset5": {**_ONE_ROUNDING, "offset_fmt": "Q(5,0)"},
    "folded_scale4_offset8i": {**_ONE_ROUNDING, "scale_fmt": "UQ(1,3)", "offset_fmt": "Q(8,0)"},
}


@functools.lru_cache(maxsize=2)
def load_data() -> Digits:
    """mnist1d's default split (4,000 train, 1,000 test), inputs scaled into [-1, 1] by the
    largest training magnitude. Read-only arrays."""
    from mnist1d.data import get_dataset_args, make_dataset

    d = make_dataset(get_dataset_args())
    scale = float(np.abs(d["x"]).max())
    arrays = (d["x"] / scale, d["y"], d["x_test"] / scale, d["y_test"])
    x_tr, y_tr, x_te, y_te = (np.array(a) for a in arrays)
    y_tr, y_te = y_tr.astype(np.int64), y_te.astype(np.int64)
    x_te = np.clip(x_te, -1.0, 1.0)  # a test signal beyond the training range saturates
    for a in (x_tr, y_tr, x_te, y_te):
        a.flags.writeable = False
    return Digits(x_tr, y_tr, x_te, y_te)


def train_mlp(hidden: int, seed: int = 0, max_iter: int = 300) -> MLP:
    """The 40-``hidden``-10 ReLU MLP on :func:`load_data`'s training split (Adam, seeded)."""
    d = load_data()
    return fit_mlp(d.x_train, d.y_train, hidden, seed, max_iter)


@dataclass(frozen=True)
class TaskSettings:
    """One run of the sweep: network width and seed, scored vectors, crossbar seed, NMPU
    lanes, and the ADC front end (``AnalogFrontEnd.sample`` settings)."""

    hidden: int = 64
    vectors: int = 1000
    seed: int = 1
    lanes: int = 8
    train_seed: int = 0
    max_iter: int = 300
    front_end: tuple = (("mismatch", 0.02), ("offset", 0.5), ("noise", 0.3), ("seed", 1))

    def __post_init__(self):
        for name, lo, hi in (("hidden", 1, 4096), ("vectors", 1, 1000), ("lanes", 1, 4096)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
                raise ValueError(f"--{name} must be an integer in [{lo}, {hi}], not {value!r}")
        if self.hidden % self.lanes:
            raise ValueError(f"--lanes {self.lanes} must divide --hidden {self.hidden}")


def import_source(s: TaskSettings, mlp: MLP) -> dict:
    """The ``model.flow.importer`` source: the crossbar's layer-1 MACs of the training split
    (calibration) and the first ``s.vectors`` test signals, ideal MACs, bias, labels, head."""
    d = load_data()
    x = np.concatenate([d.x_train, d.x_test[: s.vectors]])
    labels = np.concatenate([d.y_train, d.y_test[: s.vectors]])
    xcfg = crossbar.CrossbarConfig(rows=mlp.w1.shape[0])
    result = crossbar.simulate(xcfg, mlp.w1, x, seed=s.seed)
    shape = (len(x), 1, mlp.hidden)

    def bug(name, problem):
        raise AssertionError(f"the mnist1d network's head is malformed: {name}: {problem}")

    return {
        "analog_mac": (result.analog * result.out_scale).reshape(shape),
        "ideal_mac": result.reference.reshape(shape),
        "bias": mlp.b1,
        "labels": labels,
        "calibration": np.arange(len(x)) < len(d.x_train),
        "head": make_head(mlp.head, mlp.hidden, bug),
    }


def format_sweep(s: TaskSettings, out: Path, variants: dict[str, dict] | None = None) -> dict:
    """Accuracy of float, FP16 and fixed on mnist1d for each format variant; each variant's
    capture is written to ``out/<name>.npz``. Returns ``{"task", "float", "rows"}``."""

    variants = FORMAT_VARIANTS if variants is None else variants
    mlp = train_mlp(s.hidden, s.train_seed, s.max_iter)
    src = import_source(s, mlp)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, fields in variants.items():
        opts = importer.ImportOptions(
            lanes=s.lanes, nmpu_set=dict(fields), front_end=dict(s.front_end)
        )
        imported = importer.import_arrays(src, opts, provenance={"task": "mnist1d"})
        path = out / f"{name}.npz"
        save(path, **imported.capture)
        cap = load(path)
        scores = evaluate(cap, chain_outputs(cap))
        cfg = cap.tile_config.nmpu
        rows.append(
            {
                "variant": name,
                "nmpu_set": dict(fields),
                "function": "two_mult" if cfg.bn else "folded",
                "formats": {f: str(cfg.param_format(f)) for f in cfg.param_fields},
                **{f"{unit}_accuracy": scores[unit]["accuracy"] for unit in ("fp16", "fixed")},
                **{f"{unit}_rms_lsb": scores[unit]["rms_lsb"] for unit in ("fp16", "fixed")},
                "float_accuracy": scores["float"]["accuracy"],
            }
        )
    return {
        "task": f"mnist1d, MLP 40-{s.hidden}-10, built-in crossbar (seed {s.seed}), "
        f"{s.vectors} test vectors",
        "settings": {
            **{k: getattr(s, k) for k in ("hidden", "vectors", "seed", "lanes")},
            "front_end": dict(s.front_end),
        },  # fmt: skip
        "rows": rows,
    }

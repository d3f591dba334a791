"""The ADC study's golden-chain rows: ADC-aware training against per-column calibration
(DESIGN 9, Ghosh et al.; ``make adc-study``).

For each network (the digits MLP, and a small CNN whose two convolutions run on
the tile as im2col layers), each ADC non-ideality level and each
``active_steps`` k, the study measures the test accuracy through the bit-exact
golden chain (crossbar chip -> SAR with the sampled front end -> NMPU ->
float head) of:

* ``float`` / ``none`` / ideal ADC: the float network on an ideal converter;
* ``float`` / ``none``: the float network on the mismatched converter, correction
  at identity (its nominal half-LSB folded into the bias);
* ``float`` / ``per_column``: today's flow (``model.flow.calibration``: a
  per-column correction fitted on the training split read through the same chip
  and instance, at the same k);
* ``adc_aware`` ``chip_specific`` / ``none``: fine-tuned with the instance in the
  loop (``model.flow.adc_training``), correction at identity, evaluated on that
  instance (``same``) and on instances it never saw (``other``);
* ``adc_aware`` ``distribution`` / ``none``: fine-tuned over a new random
  instance per batch, evaluated on unseen instances (``other``).

``other`` rows are the mean over the ``other_seeds`` instances (calibrated rows
calibrate each instance on itself). :meth:`Study.run` measures every row (numpy and
torch only) and returns the report ``{"float_accuracy": ..., "rows": [...], "goals": ...}``;
``flows.adc_study`` adds the RTL check of selected rows and the correction stage's
area, and ``model.flow.adc_study_report`` renders the report. :func:`quick_config` is
a small configuration for the test suite. Everything is seeded (``StudyConfig.seed``).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import numpy as np

from model.analog import crossbar
from model.flow import adc_training as at
from model.flow import digits, tile_net
from model.golden.nmpu import NMPUConfig, nmpu

#: The non-ideality levels: ``harsh`` is DESIGN 9's (gain sigma 0.3, 4 LSB offset, ...).
LEVELS = {
    "moderate": at.ADCLevel(
        "moderate", mismatch=0.03, offset=1.0, noise=0.5, gain=0.1, compression=0.3
    ),
    "harsh": at.ADCLevel("harsh", mismatch=0.1, offset=4.0, noise=1.0, gain=0.3, compression=1.0),
}
#: The crossbar every row shares: the published PCM model, read 1 h after programming.
CROSSBAR = crossbar.CrossbarConfig()
CROSSBAR_TEXT = (
    "PCM crossbar (Nandakumar et al. 2019: programming noise, drift, read noise) at "
    f"t = {CROSSBAR.t_inference:g} s, {CROSSBAR.dac_bits}-bit input DAC, no drift compensation"
)


@dataclass
class StudyConfig:
    nets: tuple[str, ...] = ("mlp", "cnn")
    levels: tuple[str, ...] = ("moderate", "harsh")
    ks: tuple[int, ...] = (8, 7, 6, 5, 4)
    same_seed: int = 1
    # Unseen instances: none of them was looked at while the epochs and lr were chosen
    # (that sweep used instances 2-4; see docs/adc_study.md).
    other_seeds: tuple[int, ...] = (11, 12, 13, 14)
    chip_seed: int = 7
    seed: int = 0
    # The ADC-aware recipes per network (docs/adc_study.md, "How the recipe was chosen").
    # MLP: the validation split's best of sweeps/adc_recipe.toml (harsh, k = 8); CNN: as
    # chosen before the split existed (on test images, instances 2-7).
    epochs: dict = field(default_factory=lambda: {"mlp": 40, "cnn": 25})  # chip-specific
    lr: dict = field(default_factory=lambda: {"mlp": 2.5e-3, "cnn": 5e-3})  # chip-specific
    dist_epochs: dict = field(default_factory=lambda: {"mlp": 80, "cnn": 50})
    dist_lr: dict = field(default_factory=lambda: {"mlp": 5e-3, "cnn": 5e-3})
    instances_per_batch: int = 4  # distribution-aware: ADC instances per batch
    column_dropout: float = 0.1  # distribution-aware: column dropout
    cal_images: dict = field(default_factory=lambda: {"mlp": None, "cnn": 400})
    rtl_sims: tuple[str, ...] = ("icarus", "verilator")
    rtl_vectors: int = 64
    rtl_rows: tuple = ()  # (net, level, k, training, variant, calibration)
    area: bool = True
    quick: bool = False  # the test suite's configuration (its sweeps are the quick ones)


#: Share of the training images held out as the validation split (stratified, seed 0).
#: The ADC-aware recipe is chosen on it (``sweeps/adc_recipe.toml``); fine-tuning and
#: calibration use the rest; the test images are scored by the study only.
VALIDATION_FRACTION = 0.2


@dataclass(frozen=True)
class StudyData:
    """The study's three splits of the digits: ``train`` (ADC-aware fine-tuning and
    per-column calibration), ``validation`` (choosing the recipe), ``test`` (the report)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of the ``validation`` or ``test`` split."""
        if name == "validation":
            return self.x_val, self.y_val
        if name == "test":
            return self.x_test, self.y_test
        raise ValueError(f"split must be 'validation' or 'test', not {name!r}")


@functools.lru_cache(maxsize=1)
def study_data() -> StudyData:
    """``digits.load_data()``'s test split as is; its training split divided into train and
    validation (:data:`VALIDATION_FRACTION`, stratified, seed 0). The study's float
    networks (:func:`float_net`), their fine-tuning and calibration see the train images
    only."""
    from sklearn.model_selection import train_test_split

    d = digits.load_data()
    x_tr, x_val, y_tr, y_val = train_test_split(
        d.x_train, d.y_train, test_size=VALIDATION_FRACTION, random_state=0, stratify=d.y_train
    )
    return StudyData(x_tr, y_tr, x_val, y_val, d.x_test, d.y_test)


#: Largest study seed: 32-bit unsigned, as every seed of the command lines.
MAX_SEED = 2**32 - 1


def full_config(seed: int = 0) -> StudyConfig:
    c = StudyConfig(seed=seed)
    c.rtl_rows = (
        ("mlp", "harsh", 8, "adc_aware", "chip_specific", "none"),
        ("mlp", "harsh", 4, "adc_aware", "chip_specific", "none"),
        ("mlp", "harsh", 4, "float", None, "per_column"),
        ("cnn", "harsh", 4, "adc_aware", "chip_specific", "none"),
    )
    return c


def quick_config(seed: int = 0) -> StudyConfig:
    """A seconds-long configuration: the MLP, the harsh level, k = 8 and 4, one other instance."""
    return StudyConfig(
        nets=("mlp",),
        levels=("harsh",),
        ks=(8, 4),
        other_seeds=(11,),
        seed=seed,
        epochs={"mlp": 8, "cnn": 3},
        dist_epochs={"mlp": 12, "cnn": 3},
        rtl_sims=(),
        rtl_vectors=16,
        area=False,
        quick=True,
    )


def study_config(
    seed: int = 0,
    *,
    quick: bool = False,
    rtl_sims: tuple[str, ...] | None = None,
    rtl: bool = True,
    area: bool = True,
) -> StudyConfig:
    """The study's configuration: :func:`full_config`, or :func:`quick_config` with
    ``quick``. ``rtl_sims``: simulators of the RTL rows (``None``: the configuration's; the
    quick one has none, and given simulators check its k = 4 chip-specific row);
    ``rtl=False``: no RTL rows; ``area=False``: no correction-stage synthesis.
    ``ValueError`` for a seed outside ``[0, MAX_SEED]`` (torch's ``manual_seed`` overflowed
    on a huge one, after the first networks were trained)."""
    if seed < 0:
        raise ValueError(f"--seed must be >= 0, not {seed}")
    if seed > MAX_SEED:
        raise ValueError(f"--seed must be at most {MAX_SEED} (2**32-1), not {seed}")
    cfg = quick_config(seed) if quick else full_config(seed)
    if rtl_sims:
        cfg.rtl_sims = tuple(rtl_sims)
        if quick:
            cfg.rtl_rows = (("mlp", "harsh", 4, "adc_aware", "chip_specific", "none"),)
    if not rtl:
        cfg.rtl_sims = ()
    if not area:
        cfg.area = False
    return cfg


# -- networks ----------------------------------------------------------------------------


def float_net(name: str, seed: int) -> tile_net.TileNet:
    """The study's float network ``name``, trained on the train split only (no validation
    or test image): the MLP as the project's (``digits.fit_mlp``, seed 0, whatever
    ``seed``), the CNN with ``seed``; its scales set on the same images."""
    d = study_data()
    if name == "mlp":
        net = tile_net.mlp_net(mlp=digits.fit_mlp(d.x_train, d.y_train, digits.HIDDEN, seed=0))
    else:
        net = tile_net.train_cnn(seed=seed, x=d.x_train, y=d.y_train)
    net.set_scales(d.x_train, CROSSBAR)
    return net


def recipe(c: StudyConfig, name: str, variant: str) -> dict:
    """The ADC-aware recipe of network ``name`` and ``variant`` in ``c``: ``epochs``, ``lr``,
    ``instances_per_batch``, ``column_dropout`` (the sweep's parameter names)."""
    if variant == "distribution":
        return {"epochs": c.dist_epochs[name], "lr": c.dist_lr[name],
                "instances_per_batch": c.instances_per_batch,
                "column_dropout": c.column_dropout}  # fmt: skip
    return {"epochs": c.epochs[name], "lr": c.lr[name], "instances_per_batch": 1,
            "column_dropout": 0.0}  # fmt: skip


def train_variant(
    c: StudyConfig, net, name: str, data, *, level, k: int, adc_seed: int, variant: str,
    seed: int, **overrides,
):  # fmt: skip
    """ADC-aware training of ``net`` (arch ``name``) on ``data``'s training split with
    :func:`recipe`, any of whose entries ``overrides`` replaces (``None``: keep):
    ``variant`` ``chip_specific`` (instance ``adc_seed``) or ``distribution`` (random
    instances)."""
    r = recipe(c, name, variant)
    unknown = set(overrides) - set(r)
    if unknown:
        raise TypeError(f"train_variant: unknown recipe entries {sorted(unknown)}")
    r.update({key: v for key, v in overrides.items() if v is not None})
    return at.train_adc_aware(
        net,
        data.x_train,
        data.y_train,
        level=level,
        active_steps=k,
        adc_seed=adc_seed,
        xcfg=CROSSBAR,
        distribution=variant == "distribution",
        epochs=r["epochs"],
        lr=r["lr"],
        seed=seed,
        instances=r["instances_per_batch"],
        column_dropout=r["column_dropout"],
    )


def evaluate(net, x, y, *, level, adc_seed: int, k: int, mode: str, chip_seed: int,
             cfg: StudyConfig | None = None):  # fmt: skip
    """``(accuracy, layer runs)`` of ``net`` on images ``x``, labels ``y`` through the golden
    chain (``adc_training.evaluate``); ``mode`` ``per_column`` fits the calibration on the
    train split (the first ``cfg.cal_images[arch]`` images where set)."""
    train = study_data().x_train
    n_cal = (cfg or StudyConfig()).cal_images.get(net.arch)
    x_cal = train if n_cal is None else train[:n_cal]
    return at.evaluate(
        net,
        x,
        y,
        level=level,
        adc_seed=adc_seed,
        active_steps=k,
        calibration_mode=mode,
        xcfg=CROSSBAR,
        chip_seed=chip_seed,
        x_cal=x_cal if mode == "per_column" else None,
    )


def describe_net(net: tile_net.TileNet) -> str:
    if net.arch == "mlp":
        return "digits MLP 64-32-10; tile layer fc1 (64 x 32), head in float"
    return (
        "digits CNN: conv3x3 1->8 (im2col 9 x 8 on the tile), maxpool 2, conv3x3 8->16 "
        "(im2col 72 x 16 on the tile), maxpool 2, dense 64->10 in float"
    )


def nonidealities(level: at.ADCLevel | None) -> dict:
    if level is None:
        return {"adc": "ideal (exact weights, no offset, noise, gain error or compression)",
                "crossbar": CROSSBAR_TEXT}  # fmt: skip
    return {
        "adc": level.describe(),
        "mismatch": level.mismatch,
        "offset_lsb": level.offset,
        "noise_lsb": level.noise,
        "gain_sigma": level.gain,
        "compression": level.compression,
        "crossbar": CROSSBAR_TEXT,
    }


# -- the study ---------------------------------------------------------------------------


class Study:
    """The study's golden-chain rows for ``cfg``; ``log`` gets one line per row."""

    def __init__(self, cfg: StudyConfig, log=print):
        self.cfg, self.log = cfg, log
        self.data = study_data()
        self.rows: list[dict] = []
        self.runs: dict[int, tuple] = {}  # row index -> (net, level, seed, k, layer runs)

    def evaluate(self, net, level, seed, k, mode):
        d, c = self.data, self.cfg
        return evaluate(net, d.x_test, d.y_test, level=level, adc_seed=seed, k=k, mode=mode,
                        chip_seed=c.chip_seed, cfg=c)  # fmt: skip

    def add(self, net_name, net, level, k, *, training, variant, calibration, instance, seeds,
            tnet, mode):  # fmt: skip
        accs, runs = [], None
        for s in seeds:
            acc, r = self.evaluate(tnet, level, s, k, mode)
            accs.append(acc)
            runs = runs or r
        row = {
            "network": net_name,
            "adc_level": level.name if level else "ideal",
            "nonidealities": nonidealities(level),
            "training": training,
            "variant": variant,
            "calibration": calibration,
            "adc_ideal": level is None,
            "active_steps": k,
            "eval_instance": instance,
            "instances": list(seeds),
            "accuracy": float(np.mean(accs)),
            "accuracy_per_instance": accs,
            "decisions_per_conversion": k,
            # every column of every conversion of one input (all tile layers) decides k times
            "decisions_per_inference": sum(r.decisions for r in runs) // len(self.data.y_test),
            "correction_stage": "per-column affine" if calibration == "per_column" else "identity",
            "rtl_checked": False,
            "rtl_mismatches": None,
        }
        self.runs[len(self.rows)] = (tnet, level, seeds[0], k, runs)
        self.rows.append(row)
        self.log(format_row(row))
        return row

    def run(self) -> dict:
        """Every row of the study (float, ideal ADC, uncalibrated, calibrated, ADC-aware),
        the bypass check and the goals: the report without RTL or area."""
        c = self.cfg
        self.log(f"adc-study: seed {c.seed} (replay: python -m tools.adc_study --seed {c.seed})")
        floats = {}
        for name in c.nets:
            net = float_net(name, c.seed)
            acc = net.accuracy(self.data.x_test, self.data.y_test)
            floats[name] = acc
            self.rows.append(
                {"network": name, "adc_level": None, "nonidealities": None, "training": "float",
                 "variant": None, "calibration": "none", "adc_ideal": None, "active_steps": None,
                 "eval_instance": None, "instances": [], "accuracy": acc,
                 "accuracy_per_instance": [acc], "decisions_per_conversion": 0,
                 "decisions_per_inference": 0, "correction_stage": None, "rtl_checked": False,
                 "rtl_mismatches": None, "description": describe_net(net)}
            )  # fmt: skip
            self.log(f"{name}: float accuracy {100 * acc:.2f} % ({describe_net(net)})")
            same, others = (c.same_seed,), tuple(c.other_seeds)
            for k in c.ks:
                self.add(name, net, None, k, training="float", variant=None, calibration="none",
                         instance="same", seeds=(0,), tnet=net, mode="nominal")  # fmt: skip
            for lname in c.levels:
                level = LEVELS[lname]
                for k in c.ks:
                    kw = {"training": "float", "variant": None, "tnet": net}
                    self.add(name, net, level, k, calibration="none", instance="same",
                             seeds=same, mode="nominal", **kw)  # fmt: skip
                    self.add(name, net, level, k, calibration="none", instance="other",
                             seeds=others, mode="nominal", **kw)  # fmt: skip
                    self.add(name, net, level, k, calibration="per_column", instance="same",
                             seeds=same, mode="per_column", **kw)  # fmt: skip
                    self.add(name, net, level, k, calibration="per_column", instance="other",
                             seeds=others, mode="per_column", **kw)  # fmt: skip
                    for variant in ("chip_specific", "distribution"):
                        ts = time.perf_counter()
                        aware = train_variant(
                            c, net, name, self.data, level=level, k=k,
                            adc_seed=c.same_seed, variant=variant, seed=c.seed,
                        )  # fmt: skip
                        self.log(f"  trained {name} {lname} k={k} {variant} in "
                                 f"{time.perf_counter() - ts:.1f} s")  # fmt: skip
                        kw = {"training": "adc_aware", "variant": variant, "tnet": aware}
                        if variant == "chip_specific":
                            self.add(name, net, level, k, calibration="none", instance="same",
                                     seeds=same, mode="none", **kw)  # fmt: skip
                        self.add(name, net, level, k, calibration="none", instance="other",
                                 seeds=others, mode="none", **kw)  # fmt: skip
        report = {
            "seed": c.seed,
            "float_accuracy": floats[c.nets[0]],
            "float_accuracy_per_network": floats,
            "test_vectors": int(len(self.data.y_test)),
            "train_images": int(len(self.data.y_train)),
            "validation_images": int(len(self.data.y_val)),
            "levels": {n: nonidealities(LEVELS[n]) for n in c.levels},
            "config": {
                "ks": list(c.ks),
                "same_seed": c.same_seed,
                "other_seeds": list(c.other_seeds),
                "chip_seed": c.chip_seed,
                "epochs": c.epochs,
                "lr": c.lr,
                "recipes": {
                    n: {v: recipe(c, n, v) for v in ("chip_specific", "distribution")}
                    for n in c.nets
                },  # fmt: skip
                "distribution": {
                    "epochs": c.dist_epochs,
                    "instances_per_batch": c.instances_per_batch,
                    "column_dropout": c.column_dropout,
                    "lr": c.dist_lr,
                },  # fmt: skip
                "nmpu_scale_fmt": at.SCALE_FMT,
            },  # fmt: skip
            "rows": self.rows,
        }
        self.check_bypass()
        report["goals"] = goals(self.rows, c)
        return report

    def find(self, net, level, k, training, variant, calibration, instance="same"):
        """The index of a row; ``LookupError`` when the study has no such row."""
        for i, r in enumerate(self.rows):
            key = (r["network"], r["adc_level"], r["active_steps"], r["training"], r["variant"],
                   r["calibration"], r["eval_instance"])  # fmt: skip
            if key == (net, level, k, training, variant, calibration, instance):
                return i
        raise LookupError(f"no study row {net, level, k, training, variant, calibration}")

    def check_bypass(self) -> None:
        """The identity correction equals the NMPU with the correction stage bypassed."""
        for i, (tnet, _, _, _, runs) in self.runs.items():
            if self.rows[i]["calibration"] != "none":
                continue
            for j, r in enumerate(runs):
                bypass = replace_cfg(at.tile_config(tnet.columns(j))[1], correction=False)
                x = r.codes[:, None, :]
                p = {k: v for k, v in r.params.items() if k in bypass.param_fields}
                if not np.array_equal(nmpu(bypass, x, **p), r.out):
                    raise AssertionError(f"row {i} layer {j}: bypassed correction differs")
            return  # one row is enough to show it; the arithmetic is the same for all


def replace_cfg(cfg: NMPUConfig, **kw) -> NMPUConfig:
    return NMPUConfig.from_dict({**cfg.to_dict(), **kw})


def goals(rows: list[dict], c: StudyConfig) -> dict:
    """The issue's goals per network at the harshest level, and comparator cycles saved."""
    out = {}

    def acc(net, level, k, training, variant, calibration, instance):
        for r in rows:
            key = (r["network"], r["adc_level"], r["active_steps"], r["training"], r["variant"],
                   r["calibration"], r["eval_instance"])  # fmt: skip
            if key == (net, level, k, training, variant, calibration, instance):
                return r["accuracy"]
        return None

    level = c.levels[-1]
    for net in c.nets:
        per_k = {}
        for k in c.ks:
            cal_same = acc(net, level, k, "float", None, "per_column", "same")
            cal_other = acc(net, level, k, "float", None, "per_column", "other")
            chip = acc(net, level, k, "adc_aware", "chip_specific", "none", "same")
            dist = acc(net, level, k, "adc_aware", "distribution", "none", "other")
            unc = acc(net, level, k, "float", None, "none", "same")
            per_k[k] = {
                "float_uncalibrated_same": unc,
                "per_column_same": cal_same,
                "chip_specific_same": chip,
                "chip_specific_minus_per_column_points": round(100 * (chip - cal_same), 2),
                "chip_goal_met": bool(chip - cal_same >= -0.01 - 1e-12),
                "per_column_other": cal_other,
                "distribution_other": dist,
                "distribution_minus_per_column_points": round(100 * (dist - cal_other), 2),
                "distribution_goal_met": bool(dist - cal_other >= -0.02 - 1e-12),
            }
        # Fewest comparator cycles reaching the calibrated full conversion's accuracy - 1 point.
        target = per_k[max(c.ks)]["per_column_same"] - 0.01
        methods = {
            "float_uncalibrated_same": ("float", None, "none", "same"),
            "per_column_same": ("float", None, "per_column", "same"),
            "chip_specific_same": ("adc_aware", "chip_specific", "none", "same"),
            "per_column_other": ("float", None, "per_column", "other"),
            "distribution_other": ("adc_aware", "distribution", "none", "other"),
        }
        fewest = {}
        for m, (tr, va, ca, ins) in methods.items():
            ok = [k for k in c.ks if (acc(net, level, k, tr, va, ca, ins) or 0) >= target]
            # the fewest k such that every k' >= k also reaches the target
            ks_sorted = sorted(c.ks)
            best = None
            for k in ks_sorted:
                if all(kk in ok for kk in ks_sorted if kk >= k):
                    best = k
                    break
            fewest[m] = best
        out[net] = {
            "level": level,
            "per_active_steps": per_k,
            "equal_accuracy_target": target,
            "fewest_active_steps_at_target": fewest,
        }
    return out


# -- output --------------------------------------------------------------------------------


def format_row(r: dict) -> str:
    acc = f"{100 * r['accuracy']:6.2f}"
    rtl = "" if not r["rtl_checked"] else f" rtl {r['rtl_mismatches']}"
    return (
        f"{r['network']:4} {str(r['adc_level']):9} k={r['active_steps']} "
        f"{r['training']:9} {str(r['variant'] or '-'):13} {r['calibration']:10} "
        f"{str(r['eval_instance']):5} {acc} %{rtl}"
    )

"""ADC-aware training (Ghosh et al. 2024) and calibration-free deployment on the tile.

Training
--------
The forward pass of every tile layer of a :class:`model.flow.tile_net.TileNet`
goes through the chain the hardware has (:class:`AwareTile`):

1. input DAC (``crossbar.dac``) with a straight-through gradient;
2. the crossbar noise model: for every batch, the current weights are
   programmed onto a fresh chip (``crossbar.program``: PCM programming noise,
   drift and read noise at ``t_inference``) and the effective weights replace
   the weights in the forward pass, the gradient flowing to the weights as if
   they were exact (straight-through noise injection);
3. the SAR ADC: the held comparator input ``lhs = x + offset[c]``
   (``AnalogFrontEnd.held_input`` with the column's gain and compression, in
   torch so the gradient sees the gain and the compression) and the *exact*
   noise-free per-column transfer of the instance at ``active_steps``
   (:class:`SARTable`: the code is constant between consecutive DAC levels, so
   a sorted table of the levels and the golden model's code in each interval
   give ``code = table[searchsorted(levels, lhs)]``, bit-identical to
   ``sar_convert`` of the instance with noise off). Comparator noise is
   added to ``lhs`` once per conversion (the golden model draws it per
   decision: the one approximation of the training forward). Gradient: straight
   through, ``d code / d lhs = 1`` inside the code range;
4. the NMPU as deployed: correction affine at identity, batch-norm affine
   ``bn_gain * q * (code - 128) + bias`` (``q`` = MAC units per code), ReLU and
   rounding to the 8-bit output code (straight-through).

Variants: *chip-specific* (one ADC instance for all batches) and
*distribution-aware* (:class:`InstanceSampler`: new random instances, drawn
from seeds the evaluation never uses, for every batch; with ``instances > 1``
the batch's images are split among several instances, so that one gradient
step averages over several ADCs instead of following one).

Column dropout (distribution-aware training, ``column_dropout``): each tile
layer's output of one image is zeroed column by column with probability
``p`` (the kept columns scaled by ``1 / (1 - p)``), the same column for every
im2col position of that image. The instance distribution's largest term is
the per-column gain error (sigma 0.3 at the harsh level): a network deployed
without calibration must not let a decision hang on one column's magnitude.
Dropping whole columns pushes it to spread each feature over several
columns, which is what averages an unknown column gain out. Training only:
the deployed NMPU is unchanged.

torch rather than numpy because the training needs gradients; float64 so the
held input is computed with the same IEEE operations as the numpy model
(hence the exact-table property), on one thread (``torch.set_num_threads(1)``).

Deployment and evaluation
-------------------------
:func:`evaluate` runs the network through the bit-exact golden chain
(``crossbar`` read of a chip programmed with a fixed seed, ``sar_convert``
with per-decision noise, ``nmpu``), with NMPU parameters from
:func:`deploy_params`: ``per_column`` is today's flow
(``model.flow.calibration.calibrate`` on the training split read through the
same chip and instance); ``none`` sets the correction affine to the identity
(scale 1, offset 0) and keeps batch-norm and bias (folding, for a network
trained without the ADC, the ideal converter's mean reconstruction offset into
the bias: a constant of the nominal design, not a measurement).
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from model.analog import crossbar
from model.analog.sar_frontend import AnalogFrontEnd
from model.flow import calibration
from model.flow.calibration import CALIBRATION_INDEX
from model.flow.tile_net import ACT_MAX, TileNet, fit
from model.golden.nmpu import NMPUConfig, nmpu
from model.golden.sar import SARConfig, sar_convert

#: ADC instances used by distribution-aware training are drawn from seeds at or above
#: this; evaluation instances are below it, so no evaluated instance was trained on.
TRAIN_SEED_BASE = 1_000_000
#: NMPU lanes of every tile layer (divides 8, 16 and 32 columns).
LANES = 8


@dataclass(frozen=True)
class ADCLevel:
    """One setting of the front end's non-idealities (``AnalogFrontEnd.sample`` arguments).

    ``mismatch`` (unit-capacitor relative sigma), ``offset`` and ``noise`` (LSB),
    ``gain`` (per-column gain sigma), ``compression`` (mean tanh strength).
    """

    name: str
    mismatch: float = 0.0
    offset: float = 0.0
    noise: float = 0.0
    gain: float = 0.0
    compression: float = 0.0

    def settings(self, seed: int) -> dict:
        """The ``AnalogFrontEnd.sample`` keyword arguments (also the testbench's ``front_end``)."""
        d = {k: v for k, v in asdict(self).items() if k != "name"}
        if not (d["gain"] or d["compression"]):  # as the default front end records it
            del d["gain"], d["compression"]
        return {**d, "seed": int(seed)}

    def front_end(self, sar: SARConfig, seed: int) -> AnalogFrontEnd:
        return AnalogFrontEnd.sample(sar, **self.settings(seed))

    def describe(self) -> str:
        return (
            f"CDAC mismatch {self.mismatch:g}, comparator offset {self.offset:g} LSB and "
            f"noise {self.noise:g} LSB rms, column gain sigma {self.gain:g}, "
            f"compression {self.compression:g}"
        )


#: Correction scale format of the study's NMPU: the per-column calibration must reach a
#: gain of 1 / (0.25 * 0.73) = 5.5 (a column gain at the front end's floor of 1/4 times
#: the crossbar's mean drift); the default UQ(1,7) stops at 2.
SCALE_FMT = "UQ(3,6)"


def tile_config(columns: int) -> tuple[SARConfig, NMPUConfig]:
    """SAR and NMPU configs of a tile layer of ``columns`` columns (8 lanes, :data:`SCALE_FMT`)."""
    return SARConfig(columns=columns), NMPUConfig(columns=columns, lanes=LANES, scale_fmt=SCALE_FMT)


# -- the exact SAR transfer as a table -------------------------------------------------


class _HeldComparator:
    """A comparator deciding on the held input ``lhs`` directly: ``lhs >= D(s)``.

    Lets ``sar_convert`` (the golden back end: search, correction, fill,
    ``active_steps``) run on chosen comparator inputs.
    """

    def __init__(self, fe: AnalogFrontEnd):
        self.fe = fe
        self.columns, self.steps, self.out_width = fe.columns, fe.steps, fe.out_width

    def compare(self, lhs, trial_states, step, vector_index):
        return (np.asarray(lhs) >= self.fe.dac_level(trial_states)).astype(np.uint8)


@dataclass(frozen=True)
class SARTable:
    """Exact noise-free transfer ``code(lhs)`` of every column of one instance at ``k`` steps.

    Every decision is ``lhs >= D(s)`` for some switch state ``s``, so the code is
    constant between consecutive values of the sorted set of all ``D(s)`` of a
    column; ``codes[c, j]`` is the golden code on interval ``j`` and
    ``code = codes[c, searchsorted(levels[c], lhs, side="right")]`` (a tie gives
    1, as in ``AnalogFrontEnd.compare``).

    Members
    -------
    levels : float64 [columns, 2**steps - 1]
    codes : int64 [columns, 2**steps]
    """

    levels: np.ndarray
    codes: np.ndarray

    @classmethod
    def build(cls, sar: SARConfig, fe: AnalogFrontEnd, active_steps: int) -> SARTable:
        states = np.arange(1, 1 << sar.steps)
        d = fe.dac_level(np.broadcast_to(states[:, None], (states.size, sar.columns)))
        levels = np.sort(d, axis=0)  # [K, columns]
        reps = np.concatenate([levels[:1] - 1.0, (levels[1:] + levels[:-1]) / 2, levels[-1:] + 1])
        codes, _ = sar_convert(sar, _HeldComparator(fe), reps, active_steps)
        return cls(np.ascontiguousarray(levels.T), np.ascontiguousarray(codes.T))

    def lookup(self, lhs) -> np.ndarray:
        """Codes [vectors, columns] for held inputs ``lhs`` [vectors, columns] (numpy)."""
        lhs = np.asarray(lhs, dtype=np.float64)
        out = np.empty(lhs.shape, dtype=np.int64)
        for c in range(lhs.shape[1]):
            out[:, c] = self.codes[c, np.searchsorted(self.levels[c], lhs[:, c], side="right")]
        return out

    @functools.cached_property
    def torch_tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.as_tensor(self.levels), torch.as_tensor(self.codes.astype(np.float64))

    def lookup_torch(self, lhs: torch.Tensor) -> torch.Tensor:
        """Codes (float64 tensor) for ``lhs`` [vectors, columns]; no gradient."""
        levels, codes = self.torch_tables
        idx = torch.searchsorted(levels, lhs.detach().T.contiguous(), right=True)
        return torch.gather(codes, 1, idx).T


def held_input_torch(fe: AnalogFrontEnd, v: torch.Tensor) -> torch.Tensor:
    """``AnalogFrontEnd.held_input(v) + offset`` in torch (same float64 operations)."""
    u = torch.clamp(v, -1.0, 1.0)
    if not fe.linear:
        a = torch.tensor(fe.compression)
        if (a > 0).any():
            safe = torch.where(a > 0, a, torch.ones_like(a))
            u = torch.where(a > 0, torch.tanh(safe * u) / safe, u)
        u = torch.tensor(fe.gain) * u
    x = (u + 1.0) / 2.0 * float(1 << fe.out_width)
    return x + torch.tensor(fe.offset)


def sar_codes_torch(
    fe: AnalogFrontEnd, table: SARTable, v: torch.Tensor, noise=None
) -> torch.Tensor:
    """SAR codes of normalised inputs ``v`` with a straight-through gradient.

    Forward: the exact table code of ``lhs`` (+ ``noise`` [vectors, columns] in
    LSB, if given). Backward: ``d code / d lhs = 1`` for codes inside the range
    (the held input itself, clamped, carries the gradient).
    """
    lhs = held_input_torch(fe, v)
    if noise is not None:
        lhs = lhs + noise
    hard = table.lookup_torch(lhs)
    soft = torch.clamp(lhs - 0.5, 0.0, float((1 << fe.out_width) - 1))
    return soft + (hard - soft).detach()


def _ste(x: torch.Tensor, hard) -> torch.Tensor:
    return x + (torch.as_tensor(hard) - x).detach()


# -- ADC-aware forward -------------------------------------------------------------------


class InstanceSampler:
    """Front ends and tables per tile layer: one fixed instance, or new ones for every batch.

    Parameters
    ----------
    net : TileNet
    level : ADCLevel
    active_steps : int
    seed : int
        Chip-specific: the instance's seed. Distribution-aware: the seed of the
        stream of training instances (each drawn at ``TRAIN_SEED_BASE + ...``).
    distribution : bool
        Draw new instances for every batch (:meth:`next`).
    instances : int
        Distribution-aware: instances per batch (the batch's images are split
        into this many groups, each converted by its own instance), so every
        gradient step averages over several ADC instances instead of following
        one. Chip-specific: must be 1.

    Members
    -------
    fes, tables : list (per tile layer) of lists (per instance) of
        ``AnalogFrontEnd`` and :class:`SARTable`.
    """

    def __init__(self, net: TileNet, level: ADCLevel, active_steps: int, seed: int,
                 distribution: bool = False, instances: int = 1):  # fmt: skip
        if not isinstance(instances, int) or isinstance(instances, bool) or instances < 1:
            raise ValueError(f"InstanceSampler: instances must be an integer >= 1, not "
                             f"{instances!r}")  # fmt: skip
        if instances > 1 and not distribution:
            raise ValueError(f"InstanceSampler: instances={instances} needs distribution=True "
                             "(chip-specific training has one instance)")  # fmt: skip
        self.net, self.level, self.k = net, level, active_steps
        self.distribution, self.instances = distribution, instances
        self.rng = np.random.default_rng([seed, 0xADC])
        self.sars = [tile_config(net.columns(i))[0] for i in range(net.layers)]
        self.fes: list[list[AnalogFrontEnd]] = []
        self.tables: list[list[SARTable]] = []
        self._set([[instance_seed(seed, i) for i in range(net.layers)]])

    def _set(self, seeds) -> None:
        """``seeds[g][i]``: front-end seed of instance ``g`` for tile layer ``i``."""
        self.fes = [[self.level.front_end(sar, int(row[i])) for row in seeds]
                    for i, sar in enumerate(self.sars)]  # fmt: skip
        self.tables = [[SARTable.build(sar, fe, self.k) for fe in fes]
                       for sar, fes in zip(self.sars, self.fes, strict=True)]  # fmt: skip

    def next(self) -> None:
        """New training instances (distribution-aware) before a batch; no-op otherwise."""
        if self.distribution:
            seeds = self.rng.integers(0, 2**31, size=(self.instances, self.net.layers))
            self._set(TRAIN_SEED_BASE + seeds)


def instance_seed(seed: int, layer: int) -> int:
    """Front-end seed of tile layer ``layer`` of the chip with ADC seed ``seed``."""
    return int(seed) + 1000 * layer


class AwareTile:
    """``tile_fn`` of the ADC-aware forward (module docstring, steps 1-4).

    With several instances per batch (:class:`InstanceSampler`), the batch's
    images are split into that many contiguous groups (``np.array_split``), and
    group ``g`` is converted by instance ``g``. ``column_dropout``: the
    probability that one column's output of one image is set to zero (the others
    scaled by ``1 / (1 - p)``), independently per image and column and for every
    position of that image (module docstring, *Column dropout*).
    """

    def __init__(self, net: TileNet, sampler: InstanceSampler, xcfg: crossbar.CrossbarConfig,
                 seed: int, column_dropout: float = 0.0):  # fmt: skip
        if not (isinstance(column_dropout, (int, float)) and 0.0 <= column_dropout < 1.0):
            raise ValueError(f"AwareTile: column_dropout must be in [0, 1), not "
                             f"{column_dropout!r}")  # fmt: skip
        self.net, self.sampler, self.xcfg = net, sampler, xcfg
        self.column_dropout = float(column_dropout)
        self.rng = np.random.default_rng([seed, 0xC0B])
        self.gen = torch.Generator().manual_seed(int(seed))
        self.per_image = rows_per_image(net)

    def __call__(self, i: int, rows: torch.Tensor) -> torch.Tensor:
        net, fes, tables = self.net, self.sampler.fes[i], self.sampler.tables[i]
        xq = _ste(rows, crossbar.dac(rows.detach().numpy(), self.xcfg.dac_bits))
        w = net.w[i]
        xcfg = crossbar.CrossbarConfig(**{**self.xcfg.to_dict(), "rows": w.shape[0]})
        chip = crossbar.program(xcfg, w.detach().numpy(), self.rng)
        mac = xq @ _ste(w, chip.weights)
        v = mac / float(net.out_scale[i])
        per = self.per_image[i]
        images = v.shape[0] // per
        noise = None
        if fes[0].noise:  # every instance of a level has the same comparator noise rms
            noise = fes[0].noise * torch.randn(v.shape, generator=self.gen, dtype=torch.float64)
        parts = []
        for g, idx in enumerate(np.array_split(np.arange(images), len(fes))):
            if idx.size:
                sl = slice(int(idx[0]) * per, (int(idx[-1]) + 1) * per)
                parts.append(sar_codes_torch(fes[g], tables[g], v[sl],
                                             None if noise is None else noise[sl]))  # fmt: skip
        code = parts[0] if len(parts) == 1 else torch.cat(parts)
        half = float(1 << (fes[0].out_width - 1))
        q = float(net.out_scale[i]) / half
        (g_lo, g_hi), (b_lo, b_hi) = bn_limits(net, i, tile_config(net.columns(i))[1])
        gain = torch.clamp(net.bn_gain[i], g_lo, g_hi)  # what the NMPU's formats can hold
        bias = torch.clamp(net.bias[i], b_lo, b_hi)
        h = torch.relu(gain * (q * (code - half)) + bias)
        lsb = float(net.act_lsb[i])
        out = torch.clamp(h / lsb, 0.0, float(ACT_MAX))
        out = _ste(out, torch.floor(out.detach() + 0.5)) * lsb
        p = self.column_dropout
        if p:
            cols = out.shape[1]
            keep = torch.rand((images, 1, cols), generator=self.gen, dtype=torch.float64) >= p
            out = (out.reshape(images, per, cols) * (keep / (1.0 - p))).reshape(out.shape)
        return out


def rows_per_image(net: TileNet) -> list[int]:
    """Rows (crossbar input vectors) each tile layer sees per input image (MLP 1, CNN 64, 16)."""
    one = torch.zeros((1, 64), dtype=torch.float64)
    with torch.no_grad():
        return [int(net.layer_rows(one, i).shape[0]) for i in range(net.layers)]


def train_adc_aware(
    net: TileNet,
    x,
    y,
    *,
    level: ADCLevel,
    active_steps: int,
    adc_seed: int,
    xcfg: crossbar.CrossbarConfig,
    distribution: bool = False,
    epochs: int = 30,
    lr: float = 1e-3,
    seed: int = 0,
    instances: int = 1,
    column_dropout: float = 0.0,
) -> TileNet:
    """Fine-tune a copy of the float ``net`` with the ADC in the loop; returns the copy.

    Chip-specific (``distribution=False``): the front end drawn with
    ``adc_seed`` for every batch. Distribution-aware: ``instances`` new training
    instances per batch (from ``adc_seed``'s stream, seeds >= ``TRAIN_SEED_BASE``),
    each converting its share of the batch's images. ``column_dropout``: see
    :class:`AwareTile`. ``seed`` drives the batch order, the crossbar chips, the
    noise and the dropout masks.
    """
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    aware = net.clone()
    sampler = InstanceSampler(aware, level, active_steps, adc_seed, distribution, instances)
    tile = AwareTile(aware, sampler, xcfg, seed, column_dropout)
    fit(aware, x, y, epochs=epochs, lr=lr, seed=seed, tile_fn=tile, on_batch=sampler.next)
    return aware


# -- deployment on the golden chain --------------------------------------------------


def nominal_offset(sar: SARConfig, active_steps: int) -> float:
    """Mean ``x - code`` (LSB) of the ideal converter at ``active_steps`` over a uniform input.

    0.5 for a full binary conversion (floor quantiser), 0 for an early-stopped
    one (mid-interval fill): the constant a network trained without the ADC
    needs folded into its bias.
    """
    one = replace(sar, columns=1)  # the same converter, early-stop fill included
    n = 1 << sar.out_width
    x = (np.arange(n * 16) + 0.5) / 16  # 16 points per LSB, exact in float64
    codes, _ = sar_convert(one, AnalogFrontEnd.ideal(one), (x / n * 2 - 1)[:, None], active_steps)
    return float(np.mean(x - codes[:, 0]))


def bn_limits(net: TileNet, i: int, nmpu_cfg: NMPUConfig):
    """``(gain_lo, gain_hi), (bias_lo, bias_hi)``: the layer affine the NMPU's ``bn_scale``
    and ``bn_offset`` formats can hold (the training clamps to them, deployment saturates)."""
    q = float(net.out_scale[i]) / (1 << (nmpu_cfg.in_width - 1))
    unit = float(net.act_lsb[i]) * 2.0**nmpu_cfg.out_frac
    out = []
    for fmt, per in ((nmpu_cfg.bn_scale_fmt, unit / q), (nmpu_cfg.bn_offset_fmt, unit)):
        step = 2.0**-fmt.frac_bits
        out.append((fmt.min_raw * step * per, fmt.max_raw * step * per))
    return tuple(out)


def identity_params(net: TileNet, i: int, nmpu_cfg: NMPUConfig, *, nominal: float = 0.0):
    """NMPU parameters with the correction at identity (scale 1, offset 0), bn and bias kept.

    ``nominal``: a constant reconstruction offset (LSB) folded into the bias. ``bn_scale``
    and ``bn_offset`` saturate at their formats, as the training forward clamps them.
    """
    gain = net.bn_gain[i].detach().numpy()
    bias = net.bias[i].detach().numpy()
    q = float(net.out_scale[i]) / (1 << (nmpu_cfg.in_width - 1))
    unit = float(net.act_lsb[i]) * 2.0**nmpu_cfg.out_frac
    return {
        "scale": np.full(nmpu_cfg.columns, 1 << nmpu_cfg.scale_fmt.frac_bits, dtype=np.int64),
        "offset": np.zeros(nmpu_cfg.columns, dtype=np.int64),
        "bn_scale": calibration.quantise(
            gain * q / unit, nmpu_cfg.bn_scale_fmt, "bn_scale", saturate=True
        ),
        "bn_offset": calibration.quantise(
            (bias + gain * q * nominal) / unit, nmpu_cfg.bn_offset_fmt, "bn_offset", saturate=True
        ),
    }


@dataclass
class LayerRun:
    """What one tile layer of an evaluation saw (for captures and the RTL check)."""

    analog: np.ndarray  # [vectors, columns] normalised crossbar outputs (test vectors)
    reference_mac: np.ndarray  # [vectors, columns] ideal MAC
    params: dict
    codes: np.ndarray  # signed ADC codes [vectors, columns] (the NMPU's input)
    out: np.ndarray  # NMPU outputs [vectors, columns]
    front_end: dict
    decisions: int  # comparator decisions made for the test vectors (sum over columns)


def evaluate(
    net: TileNet,
    x,
    y,
    *,
    level: ADCLevel | None,
    adc_seed: int,
    active_steps: int,
    calibration_mode: str,
    xcfg: crossbar.CrossbarConfig,
    chip_seed: int,
    x_cal=None,
) -> tuple[float, list[LayerRun]]:
    """Accuracy of ``net`` on ``x``, ``y`` through the bit-exact golden chain.

    Parameters
    ----------
    level : ADCLevel or None
        The front end's non-idealities; None is the ideal converter.
    adc_seed : int
        Instance seed (layer ``i`` uses :func:`instance_seed`).
    calibration_mode : {"none", "per_column", "nominal"}
        ``none``: identity correction, bn and bias as trained (ADC-aware nets).
        ``nominal``: identity correction with the ideal converter's mean
        offset folded into the bias (float nets without calibration).
        ``per_column``: ``calibration.calibrate`` on ``x_cal`` read through the
        same chip and instance (layer by layer: a later layer calibrates on the
        earlier layers' calibrated outputs, as on the chip).
    chip_seed : int
        Crossbar programming seed (layer ``i`` uses ``chip_seed + i``).

    Returns the accuracy and one :class:`LayerRun` per tile layer.
    """
    if calibration_mode not in ("none", "per_column", "nominal"):
        raise ValueError(f"calibration_mode must be none, per_column or nominal, not "
                         f"{calibration_mode!r}")  # fmt: skip
    x = np.array(x, dtype=np.float64)  # a writable copy (torch wraps it)
    n_test = len(x)
    if calibration_mode == "per_column":
        if x_cal is None:
            raise ValueError("evaluate: per_column calibration needs x_cal")
        x = np.concatenate([x, np.asarray(x_cal, dtype=np.float64)])
    runs: list[LayerRun] = []

    def tile_fn(i, rows):
        rows = rows.numpy()
        n_rows = rows.shape[0]
        per = n_rows // len(x)  # rows per input vector (im2col positions)
        test_rows = n_test * per
        sar, ncfg = tile_config(net.columns(i))
        fe = (level or ADCLevel("ideal")).front_end(sar, instance_seed(adc_seed, i))
        w = net.w[i].detach().numpy()
        xc = crossbar.CrossbarConfig(**{**xcfg.to_dict(), "rows": w.shape[0]})
        chip = crossbar.program(xc, w, np.random.default_rng(chip_seed + i))
        out_scale = float(net.out_scale[i])
        analog = chip.read(rows) / out_scale
        codes, dec = sar_convert(sar, fe, analog[:test_rows], active_steps)
        half = 1 << (sar.out_width - 1)
        if calibration_mode == "per_column":
            cal_codes, _ = sar_convert(
                sar, fe, analog[test_rows:], active_steps, first_index=CALIBRATION_INDEX
            )
            cal = calibration.calibrate(
                ncfg,
                cal_codes - half,
                rows[test_rows:] @ w,
                out_scale=out_scale,
                bias=net.bias[i].detach().numpy(),
                bn_gain=net.bn_gain[i].detach().numpy(),
                act_lsb=float(net.act_lsb[i]),
            )
            params = cal.params()
            # The calibration vectors' outputs feed the next layer's calibration.
            cal_out = nmpu(ncfg, (cal_codes - half)[:, None, :], **params) * net.act_lsb[i]
        else:
            nominal = nominal_offset(sar, active_steps) if calibration_mode == "nominal" else 0.0
            params = identity_params(net, i, ncfg, nominal=nominal)
            cal_out = np.zeros((n_rows - test_rows, ncfg.columns))
        out = nmpu(ncfg, (codes - half)[:, None, :], **params)
        decisions = int(np.count_nonzero(np.arange(sar.steps) < active_steps)) * codes.size
        runs.append(
            LayerRun(
                analog[:test_rows],
                rows[:test_rows] @ w,
                params,
                codes - half,
                out,
                fe.params,
                decisions,
            )
        )
        h = np.concatenate([out * net.act_lsb[i], cal_out])
        return torch.as_tensor(h)

    with torch.no_grad():
        logits = net.forward(torch.as_tensor(x), tile_fn)[:n_test]
    acc = float((logits.argmax(1).numpy() == np.asarray(y)).mean())
    return acc, runs

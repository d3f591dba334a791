"""The simulator flow behind ``python -m tools.capture``: the digits MLP's first layer on a
simulated crossbar, through the SAR model, calibrated, as a capture (docs/captures.md).

Train or load the digits MLP, program layer 1 (64 x hidden) onto a simulated PCM crossbar
(built-in numpy model or IBM aihwkit), read the calibration vectors (training split) and
the capture vectors (first ``vectors`` of the test split), digitise the calibration reads
through the SAR model with a sampled analog front end (CDAC mismatch, comparator offset
and noise), fit the NMPU parameters (``model.flow.calibration``) so the per-column
correction absorbs the crossbar's and the ADC's column errors, and return the keyword
arguments of ``model.capture.save``. The front end is recorded in the provenance
(``adc_front_end``) so that ``make sim`` converts with the same instance.

:class:`CaptureSettings` holds what one capture is made from (the command line's options,
as plain values); :meth:`CaptureSettings.command_line` is the canonical command stored in
the provenance and :meth:`CaptureSettings.from_command` reads it back, so a committed
capture can be regenerated. The same settings give byte-identical files.
"""

from __future__ import annotations

import platform
import shlex
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from model.analog import crossbar
from model.analog.sar_frontend import AnalogFrontEnd, settings_problem
from model.flow import calibration, digits, importer
from model.flow.calibration import CALIBRATION_INDEX
from model.flow.head import make_head
from model.golden.nmpu import MAX_COLUMNS, NMPUConfig, nmpu
from model.golden.sar import SARConfig
from model.golden.tile import TileConfig, adc_codes, nmpu_input

LAYER = "fc1"
#: The command whose options :class:`CaptureSettings` mirrors.
COMMAND = "python -m tools.capture"


@dataclass(frozen=True)
class CaptureSettings:
    """What one simulator capture is made from; the defaults are the command line's.

    ``out`` is only recorded (in the canonical command); ``adc_*`` are the
    ``AnalogFrontEnd.sample`` settings; ``input_bits`` (with ``slice_bits``) bit-slices
    unsigned integer inputs into phases; ``mlp_cache``: trained weights, loaded if the
    file exists, else trained and written there (``None`` or ``""``: trained, not cached).
    """

    out: str = ""
    simulator: str = "builtin"
    vectors: int = 256
    seed: int = 1
    hidden: int = digits.HIDDEN
    lanes: int = 8
    t_inference: float = 3600.0
    dac_bits: int = 8
    adc_mismatch: float = 0.02
    adc_offset: float = 0.5
    adc_noise: float = 0.3
    adc_seed: int = 1
    input_bits: int | None = None
    slice_bits: int = 1
    mlp_cache: str | None = str(digits.MLP_CACHE)

    def __post_init__(self):
        """The options' ranges, before any training or simulation; a ``ValueError`` names the
        option. ``--vectors`` is checked against the test split in :func:`build`, the
        crossbar's ``--dac-bits``/``--t-inference`` by ``CrossbarConfig``."""

        def integer(name: str, lo: int, hi: int, why: str = "") -> None:
            value = getattr(self, name)
            option = "--" + name.replace("_", "-")
            if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
                raise ValueError(f"{option} must be an integer in [{lo}, {hi}]{why}, not {value!r}")

        if self.simulator not in ("builtin", "aihwkit"):
            raise ValueError(f"--simulator must be builtin or aihwkit, not {self.simulator!r}")
        seed = self.seed
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"--seed must be an integer >= 0, not {seed!r}")
        if seed >= 1 << 63:
            raise ValueError(f"--seed must be an integer below 2**63 (numpy, torch), not {seed}")
        integer("hidden", 1, MAX_COLUMNS, " (columns of the tile)")
        integer("lanes", 1, self.hidden, " (NMPU lanes, at most --hidden)")
        if self.hidden % self.lanes:
            raise ValueError(f"--lanes {self.lanes} must divide --hidden {self.hidden}")
        if self.input_bits is not None:
            integer("input_bits", 1, 8)
        integer("slice_bits", 1, 8)
        bad = settings_problem(SARConfig(columns=self.hidden), self.front_end())
        if bad is not None:
            raise ValueError(f"--adc-{bad[0]} {bad[1]}")

    def front_end(self) -> dict:
        """The ``AnalogFrontEnd.sample`` settings (as the provenance records them)."""
        return {
            "mismatch": self.adc_mismatch,
            "offset": self.adc_offset,
            "noise": self.adc_noise,
            "seed": self.adc_seed,
        }

    def command_line(self) -> str:
        """Canonical command reproducing this capture (stored in the provenance)."""
        parts = [
            COMMAND,
            f"--simulator {self.simulator}",
            f"--out {self.out}",
            f"--vectors {self.vectors}",
            f"--seed {self.seed}",
            f"--hidden {self.hidden}",
            f"--lanes {self.lanes}",
            f"--t-inference {self.t_inference:g}",
            f"--dac-bits {self.dac_bits}",
            f"--adc-mismatch {self.adc_mismatch:g}",
            f"--adc-offset {self.adc_offset:g}",
            f"--adc-noise {self.adc_noise:g}",
            f"--adc-seed {self.adc_seed}",
        ]
        if self.input_bits is not None:
            parts += [
                f"--input-bits {self.input_bits}",
                f"--slice-bits {self.slice_bits}",
                f"--mlp-cache {self.mlp_cache}",
            ]
        return " ".join(parts)

    @classmethod
    def from_command(cls, command: str, **overrides) -> CaptureSettings:
        """The settings of a canonical :meth:`command_line` (``overrides`` replace fields).

        ``ValueError`` for a command that is not one (another program, an unknown option,
        an option without its value).
        """
        words = shlex.split(command)
        head = COMMAND.split()
        if words[: len(head)] != head or (len(words) - len(head)) % 2:
            raise ValueError(f"not a {COMMAND} command line: {command!r}")
        types = {"int": int, "float": float}
        kinds = {f.name: types.get(str(f.type).split(" |")[0], str) for f in fields(cls)}
        values = {}
        for option, text in zip(words[len(head) :: 2], words[len(head) + 1 :: 2], strict=True):
            name = option.removeprefix("--").replace("-", "_")
            if not option.startswith("--") or name not in kinds:
                raise ValueError(f"{COMMAND}: unknown option {option!r} in {command!r}")
            values[name] = kinds[name](text)
        return cls(**{**values, **overrides})


def make_config(columns: int, lanes: int) -> TileConfig:
    """The tile config of a capture (the only place it is chosen)."""
    return TileConfig(SARConfig(columns=columns), NMPUConfig(columns=columns, lanes=lanes))


def noise_provenance(xcfg, adc: str) -> dict:
    """The crossbar's noise settings as a capture records them, plus what ``adc`` says."""
    return {
        "model": "PCM, Nandakumar et al. ICECS 2019 (aihwkit PCMLikeNoiseModel constants)",
        "prog_noise_scale": xcfg.prog_noise_scale,
        "drift_scale": xcfg.drift_scale,
        "read_noise_scale": xcfg.read_noise_scale,
        "t_inference_s": xcfg.t_inference,
        "adc": adc,
    }


def nmpu_codes(cfg: TileConfig, fe, v, first_index: int = 0) -> np.ndarray:
    """The NMPU's codes for one-phase normalised values ``v`` [vectors, columns] through ``fe``."""
    codes, _ = adc_codes(cfg, fe, v[:, None, :], first_index=first_index)
    return nmpu_input(cfg, codes)


def get_mlp(s: CaptureSettings) -> digits.MLP:
    """The trained network: from ``s.mlp_cache`` if present, else trained (and cached)."""
    mlp_cache = Path(s.mlp_cache) if s.mlp_cache else None
    if mlp_cache is not None and mlp_cache.exists():
        mlp = digits.MLP.load(mlp_cache)
        if mlp.hidden != s.hidden:
            raise ValueError(f"{mlp_cache}: hidden width {mlp.hidden} != --hidden {s.hidden}")
    else:
        mlp = digits.train_mlp(s.hidden, input_bits=s.input_bits)
        if mlp_cache is not None:
            mlp_cache.parent.mkdir(parents=True, exist_ok=True)
            mlp.save(mlp_cache)
    return mlp


def simulate(s: CaptureSettings, mlp, x, calib_x):
    """The analog simulator's result for inputs ``x`` (``CrossbarResult``) and its versions."""
    xcfg = crossbar.CrossbarConfig(
        rows=mlp.w1.shape[0], t_inference=s.t_inference, dac_bits=s.dac_bits
    )
    if s.simulator == "builtin":
        result = crossbar.simulate(xcfg, mlp.w1, x, seed=s.seed, calib_x=calib_x)
        return xcfg, result, {"model.crossbar": crossbar.MODEL_VERSION, "numpy": np.__version__}
    from model.analog import aihwkit_adapter

    result = aihwkit_adapter.simulate(xcfg, mlp.w1, x, seed=s.seed, calib_x=calib_x)
    return xcfg, result, aihwkit_adapter.versions()


def _check_vectors(vectors: int, available: int) -> None:
    if not 1 <= vectors <= available:
        raise ValueError(f"--vectors must be in [1, {available}], not {vectors}")


def build(s: CaptureSettings, log=None) -> dict:
    """Run the flow; return the keyword arguments of ``model.capture.save``.

    ``ValueError`` (one line, naming the option) for settings the flow cannot honour.
    ``log``: called with each line of the import report (bit-sliced inputs only).
    """
    if s.input_bits is not None:
        return build_sliced(s, log)
    data = digits.load_data()
    _check_vectors(s.vectors, len(data.y_test))  # before any training
    mlp = get_mlp(s)
    x_cal = data.x_train
    x = data.x_test[: s.vectors]
    labels = data.y_test[: s.vectors]

    xcfg, result, sim_version = simulate(s, mlp, x, x_cal)

    cfg = make_config(mlp.hidden, s.lanes)
    fe = AnalogFrontEnd.sample(cfg.sar, **s.front_end())
    cal_read = result.chip.read(x_cal) / result.out_scale
    cal_codes = nmpu_codes(cfg, fe, cal_read, first_index=CALIBRATION_INDEX)[:, 0, :]
    cal = calibration.calibrate(
        cfg.nmpu, cal_codes, x_cal @ mlp.w1, out_scale=result.out_scale, bias=mlp.b1
    )
    reference = calibration.reference_outputs(cfg.nmpu, cal, result.reference, bias=mlp.b1)

    # Expected accuracy of the whole chain (golden model, this ADC instance), for the record.
    out = nmpu(cfg.nmpu, nmpu_codes(cfg, fe, result.analog), **cal.params())
    provenance = {
        "simulator": s.simulator,
        "simulator_version": sim_version,
        "python": platform.python_version(),
        "network": f"digits MLP 64-{mlp.hidden}-10 (ReLU), sklearn load_digits, x = pixel/8 - 1",
        "layer": f"{LAYER} ({mlp.w1.shape[0]}x{mlp.hidden}), weights+bias of model.digits",
        "vectors": f"first {s.vectors} of the test split (split_seed 0, 25 %)",
        "calibration_vectors": f"training split ({len(x_cal)} vectors)",
        "crossbar": xcfg.to_dict(),
        "noise": noise_provenance(
            xcfg, "SAR model with the sampled front end below, in calibration and make sim"
        ),
        "seed": s.seed,
        "command": s.command_line(),
        "float_accuracy": digits.float_accuracy(mlp, x, labels),
        "adc_front_end": s.front_end(),
        "golden_accuracy": digits.rest_accuracy(mlp, cal.dequantise(out), labels),
    }
    return {
        "analog": result.analog[:, None, :],
        **cal.params(),
        "reference": reference,
        "labels": labels,
        "sar_config": cfg.sar,
        "nmpu_config": cfg.nmpu,
        "provenance": provenance,
        "scaling": cal.scaling(),
        "head": mlp.head,
    }


def slices(xi, bits: int, slice_bits: int) -> np.ndarray:
    """Unsigned integer inputs [vectors, rows] -> slices [vectors, phases, rows], LSB first."""
    xi = np.asarray(xi).astype(np.int64)
    mask = (1 << slice_bits) - 1
    return np.stack([(xi >> s) & mask for s in range(0, bits, slice_bits)], axis=1).astype(
        np.float64
    )


def build_sliced(s: CaptureSettings, log=None) -> dict:
    """The simulator flow with bit-sliced inputs (``input_bits``): one phase per slice.

    Inputs are ``input_bits``-bit unsigned codes of the digits; slice ``k`` (its
    ``slice_bits`` bits, value ``v``) drives the crossbar as ``v / (2**slice_bits - 1)``
    in one conversion, the NMPU shifts phase ``k`` by ``k * slice_bits``. The chip's
    reads become an import source (training split: calibration; first ``vectors`` of
    the test split: scored) for ``model.flow.importer``, so this is the import path.
    """
    bits, sb = s.input_bits, s.slice_bits
    if not 1 <= sb <= bits or bits % sb or bits > 8:
        raise ValueError(f"--slice-bits {sb} must divide --input-bits {bits} (at most 8)")
    data = digits.load_data(input_bits=bits)
    _check_vectors(s.vectors, len(data.y_test))  # before any training
    mlp = get_mlp(s)
    xi = np.concatenate([data.x_train, data.x_test[: s.vectors]])
    labels = np.concatenate([data.y_train, data.y_test[: s.vectors]])
    level = float((1 << sb) - 1)
    sl = slices(xi, bits, sb)  # [vectors, phases, rows]
    phases = sl.shape[1]
    flat = sl.reshape(-1, sl.shape[2]) / level
    xcfg, result, sim_version = simulate(s, mlp, flat, None)
    shape = (len(xi), phases, mlp.hidden)
    analog_mac = (result.analog * result.out_scale * level).reshape(shape)
    ideal_mac = (result.reference * level).reshape(shape)
    src = {
        "analog_mac": analog_mac,
        "ideal_mac": ideal_mac,
        "bias": mlp.b1,
        "labels": labels,
        "calibration": np.arange(len(xi)) < len(data.x_train),
        "head": make_head(mlp.head, mlp.hidden, _bug),
    }
    opts = importer.ImportOptions(
        lanes=s.lanes,
        nmpu_set={"phase_shifts": list(range(0, bits, sb))},
        front_end=s.front_end(),
        out_percentile=xcfg.out_percentile,
        out_headroom=xcfg.out_headroom,
    )
    prov = {
        "simulator": s.simulator,
        "simulator_version": sim_version,
        "python": platform.python_version(),
        "network": f"digits MLP 64-{mlp.hidden}-10 (ReLU), sklearn load_digits, inputs "
        f"{bits}-bit codes round(pixel * {(1 << bits) - 1} / 16)",
        "layer": f"{LAYER} ({mlp.w1.shape[0]}x{mlp.hidden}), weights+bias of model.digits, "
        f"inputs bit-sliced into {phases} phases of {sb} bit(s) (LSB first)",
        "crossbar": xcfg.to_dict(),
        "noise": noise_provenance(
            xcfg,
            "SAR model with the sampled front end adc_front_end, in calibration and make sim",
        ),
        "seed": s.seed,
        "command": s.command_line(),
    }
    imported = importer.import_arrays(src, opts, provenance=prov)
    for line in imported.report:
        if log is not None:
            log(line)
    return imported.capture


def _bug(name, problem):
    raise AssertionError(f"the digits network's head is malformed: {name}: {problem}")

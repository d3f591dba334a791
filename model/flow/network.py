"""A whole dense network on analog tiles: every layer through crossbar, SAR ADC and NMPU.

Each dense layer ``h = act(x @ W + b)`` of a trained network (the digits MLP of
``model.flow.digits``, or any list of ``(W [in, out], b [out])``) is programmed on its
own simulated PCM crossbar (``model.analog.crossbar``, one chip per layer), digitised
by its own SAR ADC (sampled analog front end, one instance per layer) and post-processed
by its own NMPU (``model.golden.tile``). The hardware's integer activations of layer
``L`` are the inputs of layer ``L + 1``: no float activation passes between layers.

Inputs of a layer drive the crossbar's input DAC in one of two ways (:class:`InputSpec`):

* ``signed``: float inputs in [-1, 1] through the signed ``dac_bits`` DAC, one phase
  (layer 1 of the 64-32-10 digits MLP, inputs ``pixel / 8 - 1``, as ``tools.capture``);
* ``unsigned``: unsigned integer codes of ``bits`` bits (4-bit pixel codes, or the
  previous layer's 8-bit ReLU outputs), bit-sliced into ``bits / slice_bits`` phases,
  LSB first; slice ``k`` (value ``s``) drives the DAC as ``s / (2**slice_bits - 1)``,
  which a signed DAC of ``slice_bits + 1`` bits represents exactly, and the NMPU weighs
  phase ``k`` by ``2**(k * slice_bits)`` (``phase_shifts``), so ``acc`` is the MAC of
  the whole code.

A hidden layer's input code ``o`` (NMPU output integer) stands for the float
activation ``o * act_lsb`` of the layer before, so the layer's MAC in float units is
``act_lsb * (o @ W)``: the crossbar holds ``W`` itself and ``act_lsb`` is a scale the
import flow absorbs into the ADC full scale and the batch-norm fold.

Calibration is sequential on a calibration split (the digits training split): layer
``L`` is calibrated on the chip reads of the *hardware* activations of layer ``L - 1``
on that split (golden model, comparator noise keyed far from the scored vectors), via
``model.flow.importer.import_arrays`` (full scale, per-column correction, formats,
saturation reports). The last layer has no ReLU (``activation = "none"``, signed
outputs: the logits) and the network's answer is the argmax of its integer outputs.

Per layer, a capture (schema v2, ``model.flow.capture.save`` keyword arguments) holds
that layer's analog column values for the scored vectors, its calibration, the labels
and as head the rest of the network in float (layers ``L + 1 ...``; for the last layer
an identity head, so the capture's accuracy is the argmax of its own outputs). Its
``reference`` is the exact float layer on the layer's actual (hardware) inputs, so a
capture's RMS error is this layer's own error; :attr:`NetworkRun.chain_rms` compares
with the float network's activations instead (errors accumulated along the chain).

:func:`layer_capture` rebuilds layer ``L``'s capture for any inputs (the RTL outputs of
layer ``L - 1`` in ``tools.network``) with the same programmed chip and calibration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from model.analog import crossbar
from model.analog.sar_frontend import AnalogFrontEnd
from model.flow import calibration, importer
from model.flow.calibration import CALIBRATION_INDEX
from model.flow.digits_capture import CaptureSettings
from model.flow.head import make_head
from model.golden.nmpu import nmpu
from model.golden.tile import TileConfig, adc_codes, nmpu_input, tile


@dataclass(frozen=True)
class InputSpec:
    """How a layer's inputs drive the input DAC.

    ``kind``: ``"signed"`` (floats in [-1, 1], one phase, ``dac_bits`` signed DAC) or
    ``"unsigned"`` (integer codes ``0 .. 2**bits - 1`` bit-sliced into phases of
    ``slice_bits``; the DAC has ``slice_bits + 1`` bits, exact on the slice levels).
    ``scale``: float units of one input unit (``act_lsb`` of the layer before; 1 for
    the network's own inputs).
    """

    kind: str
    bits: int = 8
    slice_bits: int = 4
    dac_bits: int = 8
    scale: float = 1.0

    def __post_init__(self):
        if self.kind not in ("signed", "unsigned"):
            raise ValueError(f"InputSpec.kind must be 'signed' or 'unsigned', not {self.kind!r}")
        if self.kind == "unsigned":
            if not 1 <= self.slice_bits <= self.bits or self.bits % self.slice_bits:
                raise ValueError(
                    f"InputSpec.slice_bits {self.slice_bits} must divide bits {self.bits}"
                )
            if self.slice_bits > 15:
                raise ValueError(f"InputSpec.slice_bits must be <= 15, not {self.slice_bits}")
        if not self.scale > 0:
            raise ValueError(f"InputSpec.scale must be positive, not {self.scale!r}")

    @property
    def phases(self) -> int:
        return 1 if self.kind == "signed" else self.bits // self.slice_bits

    @property
    def phase_shifts(self) -> list[int]:
        return [0] if self.kind == "signed" else list(range(0, self.bits, self.slice_bits))

    @property
    def crossbar_dac_bits(self) -> int:
        return self.dac_bits if self.kind == "signed" else self.slice_bits + 1

    def drive(self, x) -> tuple[np.ndarray, float]:
        """Inputs [vectors, rows] -> DAC inputs [vectors, phases, rows] in [-1, 1] and the MAC
        units of one DAC unit per phase (``2**slice_bits - 1`` times ``scale``)."""
        x = np.asarray(x, dtype=np.float64)
        if self.kind == "signed":
            return x[:, None, :], self.scale
        xi = x.astype(np.int64)
        if np.any(xi != x) or xi.min(initial=0) < 0 or xi.max(initial=0) >= 1 << self.bits:
            raise ValueError(
                f"unsigned layer inputs must be integers in [0, {(1 << self.bits) - 1}]"
            )
        mask, level = (1 << self.slice_bits) - 1, float((1 << self.slice_bits) - 1)
        sl = np.stack([(xi >> s) & mask for s in self.phase_shifts], axis=1)
        return sl.astype(np.float64) / level, level * self.scale


@dataclass(frozen=True)
class NetworkOptions:
    """Choices of the whole-network flow (defaults: ``tools.capture``'s).

    ``lanes``: NMPU lanes per layer (``None``: the largest divisor of its columns up to
    ``max_lanes``); ``seed``: crossbar chip of layer ``L`` is seeded ``seed + L``;
    ``front_end``: ``AnalogFrontEnd.sample`` settings, its ``seed`` advanced by ``L`` per
    layer (``{}``: ideal ADCs); ``slice_bits``: bits per phase of hidden activations.
    """

    lanes: tuple | None = None
    max_lanes: int = 64
    seed: int = 1
    t_inference: float = 3600.0
    front_end: dict = field(default_factory=lambda: CaptureSettings().front_end())
    slice_bits: int = 4
    act_percentile: float = 99.9


@dataclass
class Layer:
    """One layer on its tile: the programmed chip and the calibrated capture template.

    ``capture``: ``model.flow.capture.save`` keyword arguments for the golden chain's
    scored vectors; :func:`layer_capture` makes it for other inputs.
    """

    index: int
    weight: np.ndarray
    bias: np.ndarray
    inputs: InputSpec
    chip: crossbar.ProgrammedCrossbar
    capture: dict
    report: list[str]
    cal_out: np.ndarray  # golden hardware outputs on the calibration split

    @property
    def act_lsb(self) -> float:
        return float(self.capture["scaling"]["act_lsb"])


@dataclass
class NetworkRun:
    """The calibrated network and the golden all-hardware chain on the scored vectors.

    ``outputs[L]``: golden NMPU output integers of layer ``L`` [vectors, columns];
    ``float_acts[L]``: the float network's activations of layer ``L``.
    """

    layers: list[Layer]
    labels: np.ndarray
    outputs: list[np.ndarray]
    float_acts: list[np.ndarray]

    @property
    def float_accuracy(self) -> float:
        return accuracy(self.float_acts[-1], self.labels)

    @property
    def golden_accuracy(self) -> float:
        return accuracy(self.outputs[-1], self.labels)

    def layer_rms(self, i: int, out=None) -> float:
        """RMS (output LSB) of layer ``i``'s outputs against its capture's reference."""
        out = self.outputs[i] if out is None else out
        return rms(out - self.layers[i].capture["reference"])

    def chain_rms(self, i: int, out=None) -> float:
        """RMS (output LSB of layer ``i``) against the float network's activations."""
        out = self.outputs[i] if out is None else out
        lsb = self.layers[i].act_lsb
        return rms(np.asarray(out, dtype=np.float64) - self.float_acts[i] / lsb)


def rms(err) -> float:
    return float(np.sqrt(np.mean(np.square(np.asarray(err, dtype=np.float64)))))


def accuracy(logits, labels) -> float:
    """Fraction of vectors whose argmax equals the label."""
    return float(np.mean(np.argmax(np.asarray(logits), axis=1) == np.asarray(labels)))


def float_forward(layers, x) -> list[np.ndarray]:
    """Float activations of every layer (ReLU except after the last)."""
    acts, h = [], np.asarray(x, dtype=np.float64)
    for i, (w, b) in enumerate(layers):
        h = h @ w + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0.0)
        acts.append(h)
    return acts


def _reads(layer_w, spec: InputSpec, chip, x) -> tuple[np.ndarray, np.ndarray]:
    """Analog and ideal per-phase MACs [vectors, phases, columns] (float units) of inputs x."""
    drive, unit = spec.drive(x)
    v, p, rows = drive.shape
    flat = drive.reshape(v * p, rows)
    analog = chip.read(flat).reshape(v, p, -1) * unit
    ideal = (flat @ layer_w).reshape(v, p, -1) * unit
    return analog, ideal


def _head(layers, i: int):
    """The float network after layer ``i``; the last layer gets an identity head (argmax)."""
    if i == len(layers) - 1:
        n = layers[i][0].shape[1]
        return [(np.eye(n), np.zeros(n))]
    return [(np.asarray(w, np.float64), np.asarray(b, np.float64)) for w, b in layers[i + 1 :]]


def _bug(name, problem):
    raise ValueError(f"network: {name}: {problem}")


def build(
    layers,
    first: InputSpec,
    x_cal,
    y_cal,
    x,
    y,
    opts: NetworkOptions = NetworkOptions(),
    *,
    name: str = "dense network",
) -> NetworkRun:
    """Program, calibrate and run every layer of ``layers`` [(W, b), ...] on the golden chain.

    ``first``: how the network's inputs drive layer 0's DAC; ``x_cal``/``y_cal``: the
    calibration split; ``x``/``y``: the scored vectors and labels.
    """
    layers = [(np.asarray(w, np.float64), np.asarray(b, np.float64)) for w, b in layers]
    if not layers:
        raise ValueError("network: no layers")
    for i, (w, b) in enumerate(layers):
        if w.ndim != 2 or b.shape != (w.shape[1],):
            raise ValueError(f"network: layer {i}: weight {w.shape} and bias {b.shape} disagree")
        if i and w.shape[0] != layers[i - 1][0].shape[1]:
            raise ValueError(f"network: layer {i} has {w.shape[0]} inputs, layer {i - 1} "
                             f"{layers[i - 1][0].shape[1]} outputs")  # fmt: skip
    if opts.lanes is not None and len(opts.lanes) != len(layers):
        raise ValueError(f"network: {len(opts.lanes)} lanes given for {len(layers)} layers")
    y_cal, y = np.asarray(y_cal, np.int64), np.asarray(y, np.int64)
    float_acts = float_forward(layers, x)
    built: list[Layer] = []
    outputs: list[np.ndarray] = []
    spec, in_cal, in_x = first, np.asarray(x_cal), np.asarray(x)
    for i, (w, b) in enumerate(layers):
        last = i == len(layers) - 1
        xcfg = crossbar.CrossbarConfig(
            rows=w.shape[0], t_inference=opts.t_inference, dac_bits=spec.crossbar_dac_bits
        )
        chip = crossbar.program(xcfg, w, np.random.default_rng(opts.seed + i))
        a_cal, m_cal = _reads(w, spec, chip, in_cal)
        a_x, m_x = _reads(w, spec, chip, in_x)
        n_cal = len(in_cal)
        src = {
            "analog_mac": np.concatenate([a_cal, a_x]),
            "ideal_mac": np.concatenate([m_cal, m_x]),
            "bias": b,
            "labels": np.concatenate([y_cal, y]),
            "calibration": np.arange(n_cal + len(in_x)) < n_cal,
            "head": make_head(_head(layers, i), w.shape[1], _bug),
        }
        nmpu_set = {"activation": "none" if last else "relu"}
        if spec.phases > 1:
            nmpu_set["phase_shifts"] = spec.phase_shifts
        front_end = dict(opts.front_end)
        if front_end:
            front_end["seed"] = int(front_end.get("seed", 0)) + i
        lanes = (
            importer.valid_lanes(w.shape[1], opts.max_lanes)[-1]
            if opts.lanes is None
            else opts.lanes[i]
        )
        io = importer.ImportOptions(
            lanes=lanes, nmpu_set=nmpu_set, front_end=front_end, act_percentile=opts.act_percentile
        )
        prov = {
            "simulator": "builtin",
            "simulator_version": {"model.crossbar": crossbar.MODEL_VERSION},
            "network": name,
            "layer": f"layer {i} of {len(layers)} ({w.shape[0]}x{w.shape[1]}, "
            f"{'no activation: logits' if last else 'ReLU'}), inputs "
            + (
                f"signed floats through a {spec.dac_bits}-bit DAC"
                if spec.kind == "signed"
                else f"{spec.bits}-bit unsigned codes"
                + (" (layer {i - 1}'s NMPU outputs)" if i else "")
                + f" in {spec.phases} phase(s) of {spec.slice_bits} bit(s)"
            ),
            "crossbar": xcfg.to_dict(),
            "seed": opts.seed + i,
            "inputs": "golden-model outputs of the layer before" if i else "network inputs",
            "head": "identity (argmax of this layer's outputs)"
            if last
            else f"float layers {i + 1}..{len(layers) - 1}",  # fmt: skip
        }
        imp = importer.import_arrays(src, io, provenance=prov)
        cap = imp.capture
        tcfg, fe = _tile_config(cap), _front_end(cap)
        # The hardware's activations: scored vectors (conversions 0, 1, ... as on the RTL)
        # and calibration split (the next layer calibrates on them).
        out = tile(tcfg, fe, cap["analog"], _params(cap)).activations
        codes, _ = adc_codes(tcfg, fe, a_cal / cap["scaling"]["out_scale"],
                             first_index=CALIBRATION_INDEX)  # fmt: skip
        cal_out = nmpu(tcfg.nmpu, nmpu_input(tcfg, codes), **_params(cap))
        layer = Layer(i, w, b, spec, chip, cap, imp.report, cal_out)
        built.append(layer)
        outputs.append(out)
        spec = InputSpec(
            "unsigned", bits=tcfg.nmpu.out_width, slice_bits=opts.slice_bits, scale=layer.act_lsb
        )
        in_cal, in_x = layer.cal_out, out
    return NetworkRun(built, y, outputs, float_acts)


def _params(cap: dict) -> dict:
    return {k: cap[k] for k in ("scale", "offset", "bn_scale", "bn_offset")}


def _tile_config(cap: dict) -> TileConfig:
    return TileConfig(cap["sar_config"], cap["nmpu_config"])


def _front_end(cap: dict) -> AnalogFrontEnd:
    return AnalogFrontEnd.sample(cap["sar_config"], **cap["provenance"]["adc_front_end"])


def layer_capture(layer: Layer, inputs, *, labels=None, note: str = "") -> dict:
    """Layer ``layer``'s capture (``model.flow.capture.save`` keyword arguments) for
    ``inputs`` [vectors, rows] (e.g. the RTL outputs of the layer before): the same chip,
    calibration, configs and head; analog values, reference and labels of these inputs."""
    cap = dict(layer.capture)
    analog, ideal = _reads(layer.weight, layer.inputs, layer.chip, inputs)
    cfg = cap["nmpu_config"]
    ref = (calibration.layer_mac(cfg, ideal) + layer.bias) / layer.act_lsb
    if cfg.activation != "none":
        ref = np.maximum(ref, 0.0)
    cap["analog"] = analog / cap["scaling"]["out_scale"]
    cap["reference"] = ref
    cap["labels"] = cap["labels"] if labels is None else np.asarray(labels, np.int64)
    if note:
        cap["provenance"] = {**cap["provenance"], "inputs": note}
    return cap


def golden_outputs(cap: dict) -> np.ndarray:
    """The golden tile's NMPU outputs for a capture dict (what the RTL must produce)."""
    return tile(_tile_config(cap), _front_end(cap), cap["analog"], _params(cap)).activations

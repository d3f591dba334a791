"""The digits networks ``make network`` runs, calibrated and through the golden chain.

``python -m tools.network`` picks one of :data:`NETWORKS` by name; :func:`build` loads its
committed weights and the digits data, chooses the first layer's inputs (signed
``pixel / 8 - 1`` on an 8-bit DAC, or unsigned pixel codes bit-sliced into phases) and
runs ``model.flow.network.build`` (every layer calibrated on the training split, the
golden all-hardware chain on the scored test vectors). numpy only; the RTL side is
``flows.network``.
"""

from __future__ import annotations

from pathlib import Path

from model.flow import digits, network

#: The networks: name -> (weights file relative to the repository, input bits or ``None``
#: for signed inputs).
NETWORKS = {
    "mlp256": ("captures/digits_mlp_256x4.npz", 4),
    "mlp32": ("captures/digits_mlp.npz", None),
}
#: The repository root (where the weights files are committed).
REPO = Path(__file__).resolve().parents[2]


def build(
    name: str = "mlp256",
    *,
    vectors: int | None = None,
    lanes: tuple[int, ...] | None = None,
    slice_bits: int = 4,
    input_slice_bits: int = 1,
    seed: int = 1,
    adc_ideal: bool = False,
) -> network.NetworkRun:
    """Calibrate network ``name`` and run the golden chain on the first ``vectors`` of the
    test split (``None``: all).

    ``lanes``: NMPU lanes per layer (``None``: the largest divisor of the columns up to
    64); ``slice_bits``: bits per phase of hidden activations; ``input_slice_bits``: bits
    per phase of the pixel codes; ``seed``: crossbar seed (layer ``L``: ``seed + L``);
    ``adc_ideal``: ideal ADC front ends. ``ValueError`` (one line) for bad settings.
    """
    path, bits = NETWORKS[name]
    mlp = digits.MLP.load(REPO / path)
    data = digits.load_data(input_bits=bits)
    n = len(data.y_test) if vectors is None else vectors
    if not 1 <= n <= len(data.y_test):
        raise ValueError(f"--vectors must be in [1, {len(data.y_test)}], not {n}")
    if bits is None:
        first = network.InputSpec("signed", dac_bits=8)
        what = "64-32-10 digits MLP on signed inputs pixel/8 - 1"
    else:
        first = network.InputSpec("unsigned", bits=bits, slice_bits=input_slice_bits)
        what = f"64-{mlp.hidden}-10 digits MLP on {bits}-bit pixel codes"
    extra = {"front_end": {}} if adc_ideal else {}
    opts = network.NetworkOptions(lanes=lanes, seed=seed, slice_bits=slice_bits, **extra)
    layers = [(mlp.w1, mlp.b1), (mlp.w2, mlp.b2)]
    return network.build(
        layers, first, data.x_train, data.y_train, data.x_test[:n], data.y_test[:n], opts,
        name=f"{what} ({path})",
    )  # fmt: skip

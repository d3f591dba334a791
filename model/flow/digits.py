"""A small 64-N-10 ReLU MLP on scikit-learn's bundled 8x8 digits, for captured activations.

The data set ships inside scikit-learn (``sklearn.datasets.load_digits``, no
download). Pixels 0..16 are mapped to the signed DAC range [-1, 1] by
``x = pixel / 8 - 1``, or, with ``input_bits = B``, quantised to the unsigned
integer codes ``round(pixel * (2**B - 1) / 16)`` that bit-sliced inputs need
(the network is then trained on ``code / (2**B - 1)`` and its first layer is
rescaled to take the codes themselves). Layer 1 (64 x N) is the layer mapped onto the analog
tile; :func:`rest_accuracy` runs everything after its activations in float.

Trained weights are cached in ``captures/digits_mlp.npz`` (written by
``python -m tools.capture``) so committed captures do not depend on the
scikit-learn version; :func:`train_mlp` re-trains deterministically (seeded,
about a second) and :func:`get_mlp` falls back to it when the file is absent.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.files import write_with
from model.flow.capture import read_npz

#: Default hidden width N of the 64-N-10 network (= crossbar columns of layer 1).
HIDDEN = 32
#: Default cache of the trained weights (small, committed).
MLP_CACHE = Path(__file__).resolve().parents[2] / "captures" / "digits_mlp.npz"
_MLP_FIELDS = ("w1", "b1", "w2", "b2")


@dataclass(frozen=True)
class Digits:
    """Train/test split; ``x_*`` float [samples, 64] in [-1, 1], ``y_*`` int labels 0..9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class MLP:
    """Weights of ``y = relu(x @ w1 + b1) @ w2 + b2``; ``w1`` [64, N], ``w2`` [N, 10]."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray

    @property
    def hidden(self) -> int:
        return self.w1.shape[1]

    def save(self, path: str | Path) -> None:
        """Write the weights to exactly ``path`` (no ``.npz`` appended), atomically."""
        arrays = {k: getattr(self, k) for k in _MLP_FIELDS}
        write_with(path, lambda fh: np.savez(fh, **arrays))

    @property
    def head(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The layers after layer 1 (``model.flow.head`` / capture ``head`` form)."""
        return [(self.w2, self.b2)]

    @classmethod
    def load(cls, path: str | Path) -> MLP:
        """The weights written by :meth:`save`, read safely (``model.flow.capture.read_npz``:
        a missing file is a ``FileNotFoundError``; a FIFO, directory or damaged archive, a
        missing field or a field of another type or shape a ``ValueError`` naming the file
        and field)."""
        found = read_npz(path, "trained-weights")
        for k in _MLP_FIELDS:
            if k not in found:
                raise ValueError(f"{path}: field '{k}': missing (fields: {', '.join(_MLP_FIELDS)})")
            if found[k].dtype.kind not in "fiu":
                raise ValueError(f"{path}: field '{k}': dtype {found[k].dtype} is not a real type")
        arrays = {k: np.asarray(found[k], dtype=np.float64) for k in _MLP_FIELDS}
        mlp = cls(**arrays)
        rows, n = mlp.w1.shape if mlp.w1.ndim == 2 else (-1, -1)
        k = mlp.w2.shape[1] if mlp.w2.ndim == 2 else -1
        shapes = {"w1": (rows, n), "b1": (n,), "w2": (n, k), "b2": (k,)}
        for k, shape in shapes.items():
            if getattr(mlp, k).shape != shape:
                raise ValueError(f"{path}: field '{k}': shape {getattr(mlp, k).shape} != {shape}")
        return mlp


def to_inputs(pixels) -> np.ndarray:
    """Map 0..16 pixel intensities to the signed DAC range [-1, 1]."""
    return np.asarray(pixels, dtype=np.float64) / 8.0 - 1.0


def to_codes(pixels, bits: int) -> np.ndarray:
    """Quantise 0..16 pixel intensities to unsigned ``bits``-bit integer codes (as float)."""
    levels = (1 << bits) - 1
    p = np.asarray(pixels, dtype=np.float64)
    return np.floor(p * levels / 16.0 + 0.5)


@functools.lru_cache(maxsize=4)
def load_data(
    split_seed: int = 0, test_fraction: float = 0.25, input_bits: int | None = None
) -> Digits:
    """The bundled digits, stratified split (seeded); inputs in [-1, 1], or unsigned
    ``input_bits``-bit integer codes when given."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x_all = to_inputs(data.data) if input_bits is None else to_codes(data.data, input_bits)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x_all,
        data.target.astype(np.int64),
        test_size=test_fraction,
        random_state=split_seed,
        stratify=data.target,
    )
    for a in (x_tr, x_te, y_tr, y_te):
        a.flags.writeable = False
    return Digits(x_tr, y_tr, x_te, y_te)


def train_mlp(
    hidden: int = HIDDEN, seed: int = 0, split_seed: int = 0, input_bits: int | None = None
) -> MLP:
    """Train the 64-``hidden``-10 ReLU MLP with scikit-learn's MLPClassifier (seeded, Adam).

    With ``input_bits`` it is trained on ``code / (2**bits - 1)`` and ``w1`` is divided by
    ``2**bits - 1``, so the returned network takes the integer codes of :func:`load_data`.
    """
    d = load_data(split_seed, input_bits=input_bits)
    norm = 1.0 if input_bits is None else float((1 << input_bits) - 1)
    mlp = fit_mlp(d.x_train / norm, d.y_train, hidden, seed)
    return MLP(mlp.w1 / norm, mlp.b1, mlp.w2, mlp.b2)


def fit_mlp(x, y, hidden: int, seed: int, max_iter: int = 400) -> MLP:
    """A one-hidden-layer ReLU MLP fitted to ``x`` [samples, inputs], labels ``y`` with
    scikit-learn's MLPClassifier (Adam, L2 1e-3, seeded; stopping early is not an error)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=(hidden,),
        activation="relu",
        alpha=1e-3,
        max_iter=max_iter,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x, y)
    w1, w2 = (np.asarray(c, dtype=np.float64) for c in clf.coefs_)
    b1, b2 = (np.asarray(c, dtype=np.float64) for c in clf.intercepts_)
    return MLP(w1, b1, w2, b2)


def get_mlp(hidden: int = HIDDEN, cache: str | Path | None = MLP_CACHE) -> MLP:
    """The cached trained network if ``cache`` exists with width ``hidden``, else train it."""
    if cache is not None and Path(cache).exists():
        mlp = MLP.load(cache)
        if mlp.hidden == hidden:
            return mlp
    return train_mlp(hidden)


def layer1_mac(mlp: MLP, x) -> np.ndarray:
    """Layer-1 matrix-vector product ``x @ w1`` [vectors, N] (what the crossbar computes)."""
    return np.asarray(x, dtype=np.float64) @ mlp.w1


def layer1(mlp: MLP, x) -> np.ndarray:
    """Float layer-1 activations ``relu(x @ w1 + b1)`` [vectors, N]."""
    return np.maximum(layer1_mac(mlp, x) + mlp.b1, 0.0)


def rest_logits(mlp: MLP, h) -> np.ndarray:
    """Logits [vectors, classes] from layer-1 activations ``h`` [vectors, N] (float or
    dequantised)."""
    h = np.asarray(h, dtype=np.float64)
    if h.ndim != 2 or h.shape[1] != mlp.hidden:
        raise ValueError(f"activations must have shape (vectors, {mlp.hidden}), not {h.shape}")
    return h @ mlp.w2 + mlp.b2


def rest_accuracy(mlp: MLP, h, labels) -> float:
    """Accuracy of the float layers after layer 1, fed with activations ``h``."""
    pred = np.argmax(rest_logits(mlp, h), axis=1)
    return float(np.mean(pred == np.asarray(labels)))


def float_accuracy(mlp: MLP, x=None, labels=None) -> float:
    """Float accuracy of the whole network (default: on the test split)."""
    if x is None:
        d = load_data()
        x, labels = d.x_test, d.y_test
    return rest_accuracy(mlp, layer1(mlp, x), labels)

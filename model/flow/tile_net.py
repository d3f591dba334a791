"""Networks whose layers run on the tile: the digits MLP and a small im2col CNN (torch).

A :class:`TileNet` is a chain of *tile layers* -- matrix-vector products that
the crossbar computes, the SAR ADC digitises and the NMPU turns into 8-bit
ReLU activations -- glued by digital float operations (im2col, max-pooling)
and ending in a float head (dense layer + argmax). How a tile layer is
computed is not decided here: :meth:`TileNet.forward` takes a ``tile_fn(i,
rows)`` that maps the rows of tile layer ``i`` ([vectors, in]) to its
activations ([vectors, out]); the float network, the ADC-aware training
forward and the bit-exact golden chain (``model.flow.adc_training``) are
three such functions.

Two architectures on scikit-learn's 8x8 digits (inputs ``pixel / 8 - 1``):

* ``mlp``: the project's 64-32-10 MLP (``model.flow.digits``); tile layer 0
  is its first layer (64 x 32), the head its second.
* ``cnn``: conv 3x3 (1 -> 8, pad 1) on the tile as an im2col layer (9 x 8,
  64 vectors per image), 2x2 max-pool, conv 3x3 (8 -> 16, pad 1) as an im2col
  layer (72 x 16, 16 vectors per image), 2x2 max-pool, dense 64 -> 10 head.
  The second layer's inputs are the first layer's activations divided by
  ``in_scale[1]`` (the largest activation, 255 output LSBs), so they sit in
  the input DAC's [0, 1] range; its weights are multiplied by the same factor
  when the scale is set, so the float function is unchanged.

Each tile layer ``i`` computes ``h = relu(bn_gain * (rows @ w) + bias)``:
``bn_gain`` and ``bias`` are what the NMPU's batch-norm stage applies
(``bn_scale``, ``bn_offset``), trained with the network. Torch runs in float64
on one thread (``torch.set_num_threads(1)``: the machines are shared, and the
networks are far too small to gain from more).
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from model.analog import crossbar
from model.flow import calibration, digits

#: The activation code range of every tile layer (8-bit unsigned NMPU output).
ACT_MAX = 255


def _param(a) -> nn.Parameter:
    return nn.Parameter(torch.as_tensor(np.asarray(a, dtype=np.float64)).clone())


class TileNet(nn.Module):
    """A network of tile layers and a float head.

    Parameters
    ----------
    arch : {"mlp", "cnn"}
    weights, biases : lists of arrays [in, out], [out], one per tile layer
    head_w, head_b : arrays [in, 10], [10]

    Members
    -------
    w, bias, bn_gain : ParameterList, one per tile layer ([in, out], [out], [out])
    head_w, head_b : Parameter
    in_scale, out_scale, act_lsb : float64 arrays [tile layers]
        Divisor of the layer's inputs before the input DAC; MAC units per ADC
        full scale; layer-output units per NMPU output LSB (0 until
        :meth:`set_scales`).
    """

    def __init__(self, arch: str, weights, biases, head_w, head_b):
        super().__init__()
        if arch not in ("mlp", "cnn"):
            raise ValueError(f"TileNet.arch must be 'mlp' or 'cnn', not {arch!r}")
        if len(weights) != len(biases) or len(weights) != (1 if arch == "mlp" else 2):
            raise ValueError(f"TileNet({arch!r}): wrong number of tile layers {len(weights)}")
        self.arch = arch
        self.w = nn.ParameterList([_param(w) for w in weights])
        self.bias = nn.ParameterList([_param(b) for b in biases])
        self.bn_gain = nn.ParameterList([_param(np.ones(len(b))) for b in biases])
        self.head_w = _param(head_w)
        self.head_b = _param(head_b)
        n = len(weights)
        self.in_scale = np.ones(n)
        self.out_scale = np.zeros(n)
        self.act_lsb = np.zeros(n)

    @property
    def layers(self) -> int:
        return len(self.w)

    def columns(self, i: int) -> int:
        return self.w[i].shape[1]

    def clone(self) -> TileNet:
        """A deep copy (parameters and scales)."""
        net = TileNet(
            self.arch,
            [w.detach().numpy() for w in self.w],
            [b.detach().numpy() for b in self.bias],
            self.head_w.detach().numpy(),
            self.head_b.detach().numpy(),
        )
        with torch.no_grad():
            for dst, src in zip(net.bn_gain, self.bn_gain, strict=True):
                dst.copy_(src)
        net.in_scale, net.out_scale, net.act_lsb = (
            self.in_scale.copy(),
            self.out_scale.copy(),
            self.act_lsb.copy(),
        )
        return net

    # -- forward ----------------------------------------------------------------------
    def float_tile(self, i: int, rows: torch.Tensor) -> torch.Tensor:
        """The float tile layer ``relu(bn_gain * (rows @ w) + bias)``."""
        return torch.relu(self.bn_gain[i] * (rows @ self.w[i]) + self.bias[i])

    def forward(self, x: torch.Tensor, tile_fn=None) -> torch.Tensor:
        """Logits [batch, 10] of inputs ``x`` [batch, 64] in [-1, 1]; ``tile_fn(i, rows)``."""
        tile_fn = tile_fn or self.float_tile
        if self.arch == "mlp":
            h = tile_fn(0, x)
            return h @ self.head_w + self.head_b
        b = x.shape[0]
        rows = im2col(x.reshape(b, 1, 8, 8))  # [b*64, 9]
        h = tile_fn(0, rows).reshape(b, 8, 8, -1).permute(0, 3, 1, 2)
        h = nn.functional.max_pool2d(h, 2)  # [b, 8, 4, 4]
        rows = im2col(h / float(self.in_scale[1]))  # [b*16, 72]
        h = tile_fn(1, rows).reshape(b, 4, 4, -1).permute(0, 3, 1, 2)
        h = nn.functional.max_pool2d(h, 2).reshape(b, -1)  # [b, 64]
        return h @ self.head_w + self.head_b

    def layer_rows(self, x: torch.Tensor, i: int, tile_fn=None) -> torch.Tensor:
        """The rows tile layer ``i`` sees for inputs ``x`` (earlier layers through ``tile_fn``)."""
        seen = {}

        def spy(j, rows):
            if j == i:
                seen["rows"] = rows
                raise _Stop
            return (tile_fn or self.float_tile)(j, rows)

        with contextlib.suppress(_Stop):
            self.forward(x, spy)
        return seen["rows"]

    def set_scales(self, x_cal, xcfg: crossbar.CrossbarConfig) -> None:
        """Choose every layer's input scale, ADC full scale and output LSB on float data.

        Layer by layer on the float network: ``out_scale`` puts the
        ``xcfg.out_percentile`` of ``|rows @ w|`` at ``xcfg.out_headroom`` of full
        scale (as the capture flow), ``act_lsb`` the 99.9th percentile of the
        positive activations at code 255; for the CNN, ``in_scale[1]`` is the
        first layer's largest activation ``255 * act_lsb[0]``, and layer 1's
        weights are multiplied by it (same float function).
        """
        x = torch.as_tensor(np.array(x_cal, dtype=np.float64))
        with torch.no_grad():
            for i in range(self.layers):
                rows = self.layer_rows(x, i)
                mac = (rows @ self.w[i]).numpy()
                self.out_scale[i] = crossbar.choose_out_scale(
                    mac, xcfg.out_percentile, xcfg.out_headroom
                )
                h = self.float_tile(i, rows).numpy()
                self.act_lsb[i] = calibration.choose_act_lsb(h, ACT_MAX)
                if self.arch == "cnn" and i == 0:
                    s = ACT_MAX * self.act_lsb[0]
                    self.w[1].mul_(s / self.in_scale[1])
                    self.in_scale[1] = s

    def accuracy(self, x, y, tile_fn=None) -> float:
        with torch.no_grad():
            logits = self.forward(torch.as_tensor(np.array(x, dtype=np.float64)), tile_fn)
        return float((logits.argmax(1).numpy() == np.asarray(y)).mean())


class _Stop(Exception):
    pass


def im2col(img: torch.Tensor) -> torch.Tensor:
    """3x3, pad 1 patches of ``img`` [b, ch, H, W] as rows [b * H * W, ch * 9] (pixel-major)."""
    b, ch, hh, ww = img.shape
    cols = nn.functional.unfold(img, 3, padding=1)  # [b, ch*9, H*W]
    return cols.transpose(1, 2).reshape(b * hh * ww, ch * 9)


def mlp_net(hidden: int = digits.HIDDEN, mlp: digits.MLP | None = None) -> TileNet:
    """A digits MLP as a TileNet: ``mlp``, or the project's trained one
    (``model.flow.digits.get_mlp``)."""
    m = mlp if mlp is not None else digits.get_mlp(hidden)
    return TileNet("mlp", [m.w1], [m.b1], m.w2, m.b2)


def train_cnn(seed: int = 0, epochs: int = 40, x=None, y=None) -> TileNet:
    """Train the small digits CNN in float (Adam, seeded, about 10 s on one thread) on
    images ``x`` and labels ``y`` (default: the digits' training split)."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if x is None:
        d = digits.load_data()
        x, y = d.x_train, d.y_train

    def init(fan_in, shape):
        return rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)

    net = TileNet(
        "cnn",
        [init(9, (9, 8)), init(72, (72, 16))],
        [np.zeros(8), np.zeros(16)],
        init(64, (64, 10)) * 0.5,
        np.zeros(10),
    )
    fit(net, x, y, epochs=epochs, lr=3e-3, seed=seed)
    return net


def fit(
    net: TileNet, x, y, *, epochs: int, lr: float, seed: int, tile_fn=None, batch=64, on_batch=None
) -> None:
    """Adam on the cross-entropy, shuffled batches from ``seed``; ``on_batch()`` before each."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    xt = torch.as_tensor(np.array(x, dtype=np.float64))
    yt = torch.as_tensor(np.array(y, dtype=np.int64))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(epochs):
        order = rng.permutation(len(yt))
        for s in range(0, len(order), batch):
            idx = torch.as_tensor(order[s : s + batch])
            if on_batch is not None:
                on_batch()
            loss = nn.functional.cross_entropy(net(xt[idx], tile_fn), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()

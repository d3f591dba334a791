"""Golden model of the SAR ADC's digital back end (DESIGN 4): config, sequence, correction.

Bit-exact with ``hw.sar.SAR``. The back end is digital, but a conversion is a
closed loop: at every step the analog comparator decides on the trial switch
state. :func:`sar_convert` therefore takes a *comparator*, any object with
``columns``, ``steps``, ``out_width`` and ``compare(v, trial_states, step,
vector_index)``; the analog model of DESIGN 4.3 is
``model.analog.sar_frontend.AnalogFrontEnd``. This module imports no analog
model, so ``hw`` can take ``SARConfig`` from here.

Conventions (also in ``docs/sar.md``)
-------------------------------------
Let ``N = 2**out_width``.

* Switch state. A column's CDAC switch state ``s`` is an integer bit mask,
  bit ``i`` = step ``i`` (bit 0 = first step = largest weight). At step ``i``
  the trial state is ``kept decisions b_0..b_{i-1}`` with bit ``i`` set and all
  later bits clear, so the step is the index of the highest set bit
  (:func:`step_of`).
* Decision. The comparator answers ``b_i = 1`` to keep the trial bit.
* Correction. ``code = min(sum_i b_i * weights[i] + fill(k), N - 1)`` with the
  *nominal* integer weights (the back end does not know the mismatch).
* Approximate conversion with ``active_steps = k``: steps ``k..M-1`` are not
  run, their decisions are reported as 0, and the unresolved part is filled
  with the midpoint ``fill(k) = ceil(S_k / 2) = (S_k + 1) // 2`` where
  ``S_k = sum(weights[k:])`` (``fill(M) = 0``). A full conversion adds
  ``sum_{i>=k} b_i w_i`` in ``[0, S_k]`` to the same partial sum, so
  ``|code_k - code_M| <= max(fill, S_k - fill) = ceil(S_k / 2)``. For binary
  weights the fill is the next trial bit, ``2**(out_width - 1 - k)``. This is
  ``early_stop_fill = "half_skipped"`` (the default).
* ``early_stop_fill = "interval_midpoint"``: the unbiased option. The steps run
  bound the code a full conversion would give to ``[p, U)``: ``p`` the kept sum,
  ``U`` the smallest rejected trial value ``p_i + w_i`` (``N`` if none was
  rejected). The fill is half the gap, rounded down: ``code = p + max(U - p, 0)
  // 2``, the midpoint of the codes ``p..U-1`` rounded up, as the binary fill
  is. The gap ``g = U - p`` is a running value per column (:func:`interval_fill`):
  ``N`` at the start, then ``max(g - w_i, 0)`` on a kept step and ``min(g, w_i)``
  on a rejected one. For binary weights it equals ``half_skipped``; for
  redundant weights it removes the upward bias of ``ceil(S_k / 2)`` (docs/sar.md).
  A full conversion gets fill 0 in both modes (``U - p <= 1``).
* Signed view for the NMPU: ``signed = code - 2**(out_width - 1)``
  (:func:`to_signed`, i.e. the MSB inverted: offset binary -> two's complement).
* Ideal quantiser (the reference an ideal front end must reproduce):
  ``clip(floor((v + 1) / 2 * N), 0, N - 1)`` (:func:`ideal_codes`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import known_kwargs

#: Largest number of column ADCs accepted (as ``NMPUConfig``).
MAX_COLUMNS = 4096
#: Largest number of bit-cycles accepted; more is not a sensible SAR.
MAX_STEPS = 32
#: Largest code width accepted (x and D stay exact in float64 well beyond this).
MAX_OUT_WIDTH = 24
#: Values of ``SARConfig.early_stop_fill``: what an approximate conversion adds for the
#: steps it did not run (module docstring).
EARLY_STOP_FILLS = ("half_skipped", "interval_midpoint")
#: Decisions (rows x columns) per block of :func:`sar_convert` with a holding comparator.
#: Large enough that the numpy calls per block and step (several dozen, about 1 us each,
#: more on a loaded machine) stay small against the work on the block, small enough that
#: its work arrays stay a few MB. Measured at 256 columns: 2**16 and 2**17 best, 2**15
#: about 10 % slower on a loaded machine, 2**13 about 30 %.
BLOCK = 1 << 16


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def binary_weights(out_width: int) -> tuple[int, ...]:
    """Binary weights ``(2**(out_width-1), ..., 2, 1)``."""
    return tuple(1 << (out_width - 1 - i) for i in range(out_width))


@dataclass(frozen=True)
class SARConfig:
    """Elaboration-time parameters of the SAR ADC (DESIGN 4.1), shared by ``hw`` and ``model``.

    Parameters
    ----------
    columns : int
        Column ADCs converting in lockstep.
    steps : int
        Bit-cycles ``M`` of a full conversion.
    weights : tuple of int, optional
        ``M`` positive DAC weights in output LSBs, first step first. Default:
        binary weights, which requires ``steps == out_width``.
    out_width : int
        Output code width.
    early_stop_fill : str
        What an approximate conversion adds for its skipped steps, one of
        :data:`EARLY_STOP_FILLS`: ``"half_skipped"`` (``ceil(S_k / 2)``, a constant per
        ``active_steps``) or ``"interval_midpoint"`` (the midpoint of the interval the
        steps run leave, per column; unbiased for redundant weights).

    Raises ``ValueError`` naming the parameter when weights are not positive
    integers, their number differs from ``steps``, they do not cover the
    output range (``sum(weights) >= 2**out_width - 1``), a weight exceeds one
    plus the sum of the later ones (missing codes), or sizes are out of range.
    """

    columns: int = 256
    steps: int = 8
    weights: tuple[int, ...] | None = None
    out_width: int = 8
    early_stop_fill: str = "half_skipped"

    def __post_init__(self):
        if self.early_stop_fill not in EARLY_STOP_FILLS:
            raise ValueError(
                f"SARConfig.early_stop_fill must be one of {EARLY_STOP_FILLS}, "
                f"not {self.early_stop_fill!r}"
            )
        for name, lo, hi in (
            ("columns", 1, MAX_COLUMNS),
            ("steps", 1, MAX_STEPS),
            ("out_width", 1, MAX_OUT_WIDTH),
        ):
            value = getattr(self, name)
            if not _is_int(value):
                raise ValueError(f"SARConfig.{name} must be an integer, not {value!r}")
            if not lo <= value <= hi:
                raise ValueError(f"SARConfig.{name} must be in [{lo}, {hi}], not {value!r}")
            object.__setattr__(self, name, int(value))
        weights = self.weights
        if weights is None:
            if self.steps != self.out_width:
                raise ValueError(
                    f"SARConfig.weights must be given when steps ({self.steps}) != "
                    f"out_width ({self.out_width}); binary weights need steps == out_width"
                )
            weights = binary_weights(self.out_width)
        if isinstance(weights, (str, bytes)) or not hasattr(weights, "__len__"):
            raise ValueError(f"SARConfig.weights must be a sequence of integers, not {weights!r}")
        weights = tuple(weights)
        for i, w in enumerate(weights):
            if not _is_int(w) or w <= 0:
                raise ValueError(
                    f"SARConfig.weights must be positive integers, not {w!r} at step {i}"
                )
        weights = tuple(int(w) for w in weights)
        if len(weights) != self.steps:
            raise ValueError(
                f"SARConfig.weights must have steps={self.steps} entries, not {len(weights)}"
            )
        full = (1 << self.out_width) - 1
        if sum(weights) < full:
            raise ValueError(
                f"SARConfig.weights must cover the output range: sum {sum(weights)} < "
                f"2**out_width - 1 = {full}"
            )
        for i, w in enumerate(weights):
            rest = sum(weights[i + 1 :])
            if w > rest + 1:
                raise ValueError(
                    f"SARConfig.weights[{i}] = {w} exceeds 1 + sum of later weights = {rest + 1}"
                    " (missing codes)"
                )
        object.__setattr__(self, "weights", weights)

    # -- derived sizes -------------------------------------------------------
    @property
    def full_code(self) -> int:
        """Largest output code, ``2**out_width - 1``."""
        return (1 << self.out_width) - 1

    @property
    def sum_width(self) -> int:
        """Width of the unsaturated correction sum ``sum(b_i w_i) + fill``."""
        return max(1, sum(self.weights).bit_length())

    @property
    def hardware_bits(self) -> int:
        """Estimated size of the SAR's RTL in bits, a closed form of the config (the rule and
        its limit: ``model.golden.config.check_hardware_size``, docs/nmpu.md "Hardware size").

        Per column: the decision register, the CDAC switch states and the held decisions
        (``3 x steps``), the correction sum and the code (``sum_width + out_width``), and the
        correction's lookup: ``hw.sar`` reads the column's sum of weights from a table of
        ``2**steps`` rows of ``sum_width`` bits, counted as ``2**steps * sum_width / 16`` (a
        table bit elaborates about 20x faster than a datapath bit, measured).
        """
        lookup = -(-(self.sum_width << self.steps) // 16)
        gap = self.gap_width if self.early_stop_fill == "interval_midpoint" else 0
        return self.columns * (3 * self.steps + self.sum_width + self.out_width + lookup + gap)

    def skipped_sum(self, active_steps: int) -> int:
        """``S_k``: sum of the weights of the steps not run when ``active_steps = k``."""
        self.check_active_steps(active_steps)
        return sum(self.weights[active_steps:])

    def fill(self, active_steps: int) -> int:
        """The ``half_skipped`` fill added for the skipped steps: ``(S_k + 1) // 2`` (0 for a
        full run). With ``interval_midpoint`` the fill depends on the decisions
        (:func:`interval_fill`); this is then its upper bound."""
        return (self.skipped_sum(active_steps) + 1) // 2

    @property
    def gap_width(self) -> int:
        """Width of the ``interval_midpoint`` gap register, which holds ``0..2**out_width``."""
        return self.out_width + 1

    def check_active_steps(self, k) -> int:
        """``k`` if it is a valid ``active_steps`` (an integer in 1..steps), else ``ValueError``."""
        if not _is_int(k) or not 1 <= k <= self.steps:
            raise ValueError(f"active_steps must be an integer in [1, {self.steps}], not {k!r}")
        return int(k)

    # -- serialisation -------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain JSON-able dict; :meth:`from_dict` inverts it."""
        return {
            "columns": self.columns,
            "steps": self.steps,
            "weights": list(self.weights),
            "out_width": self.out_width,
            "early_stop_fill": self.early_stop_fill,
        }

    @classmethod
    def from_dict(cls, d: dict) -> SARConfig:
        """Build from a dict as written by :meth:`to_dict`; unknown keys raise ``ValueError``."""
        kwargs = known_kwargs(cls, d)
        if isinstance(kwargs.get("weights"), list):  # anything else: __post_init__ names it
            kwargs["weights"] = tuple(kwargs["weights"])
        return cls(**kwargs)


def to_signed(cfg: SARConfig, codes) -> np.ndarray:
    """Signed (two's complement) view of offset-binary codes: ``code - 2**(out_width-1)``."""
    return np.asarray(codes, dtype=np.int64) - (1 << (cfg.out_width - 1))


def ideal_codes(cfg: SARConfig, v) -> np.ndarray:
    """The ideal quantiser ``clip(floor((v + 1) / 2 * 2**out_width), 0, 2**out_width - 1)``."""
    x = (np.clip(np.asarray(v, dtype=np.float64), -1.0, 1.0) + 1.0) / 2.0 * (1 << cfg.out_width)
    return np.clip(np.floor(x), 0, cfg.full_code).astype(np.int64)


def decision_masks(decisions) -> np.ndarray:
    """Decisions ``[..., steps]`` of 0/1 -> integer masks ``[...]`` (bit i = step i)."""
    d = np.asarray(decisions, dtype=np.int64)
    return (d << np.arange(d.shape[-1])).sum(axis=-1)


def step_of(trial_states) -> np.ndarray:
    """The step a trial switch state belongs to: the index of its highest set bit (-1 for 0)."""
    s = np.asarray(trial_states, dtype=np.int64)
    out = np.full(s.shape, -1, dtype=np.int64)
    nz = s > 0
    out[nz] = np.floor(np.log2(s[nz])).astype(np.int64)
    return out


def correct(cfg: SARConfig, decisions, active_steps) -> np.ndarray:
    """Digital correction: ``min(sum_i b_i * weights[i] + fill, 2**out_width - 1)``.

    ``decisions`` is [..., steps] of 0/1, ``active_steps`` an int or an int
    array broadcastable to ``decisions.shape[:-1]``. The fill is ``cfg.fill(k)``
    or, with ``early_stop_fill = "interval_midpoint"``, :func:`interval_fill`.
    """
    d = np.asarray(decisions, dtype=np.int64)
    k = np.asarray(active_steps)
    total = d @ np.array(cfg.weights, dtype=np.int64) + _fills(cfg, d, k)
    return np.minimum(total, cfg.full_code)


def interval_fill(cfg: SARConfig, decisions, active_steps) -> np.ndarray:
    """The ``interval_midpoint`` fill ``max(U - p, 0) // 2`` of each conversion (module
    docstring), from its decisions [..., steps] and ``active_steps`` (broadcastable to
    ``decisions.shape[:-1]``): the gap ``g = U - p`` runs from ``2**out_width`` through
    ``max(g - w_i, 0)`` on a kept step and ``min(g, w_i)`` on a rejected one, steps
    ``i < k`` only, exactly as ``hw.sar`` updates its gap register.
    """
    d = np.asarray(decisions) != 0
    k = np.asarray(active_steps)
    gap = np.full(np.broadcast_shapes(d.shape[:-1], k.shape), 1 << cfg.out_width, np.int64)
    for i, w in enumerate(cfg.weights):
        step = np.where(d[..., i], np.maximum(gap - w, 0), np.minimum(gap, w))
        gap = np.where(i < k, step, gap)
    return gap >> 1


def _fills(cfg: SARConfig, decisions, k) -> np.ndarray:
    """The fill of each conversion: ``cfg.fill(k)`` or :func:`interval_fill`."""
    if cfg.early_stop_fill == "interval_midpoint":
        return interval_fill(cfg, decisions, k)
    fills = np.array([0] + [cfg.fill(j) for j in range(1, cfg.steps + 1)], dtype=np.int64)
    return fills[k]


def sar_convert(cfg: SARConfig, comparator, v, active_steps=None, *, first_index=0):
    """Convert ``v`` [vectors, columns] exactly as the hardware does (DESIGN 4.2, 4.5).

    Parameters
    ----------
    comparator
        The analog half: ``columns``, ``steps``, ``out_width`` matching ``cfg``
        and ``compare(v, trial_states, step, vector_index)`` -> 0/1 per column
        (``model.analog.sar_frontend.AnalogFrontEnd``), called once per step
        with int64 states. A comparator that also has ``hold(v,
        vector_index)`` is asked through the object it returns instead, whose
        ``compare(trial_states, step, out=)`` must write ``compare(v,
        trial_states, step, vector_index)`` into the uint8 array ``out``: the
        input-only work (clipping, transfer, offset, the noise hash of the
        vector) is then done once per conversion instead of once per step,
        and the search runs in blocks of about :data:`BLOCK` decisions, each
        held once.
    active_steps : int or int array [vectors], optional
        Steps run per vector (1..steps); default ``cfg.steps``.
    first_index : int
        Vector index of row 0 for the noise draws (row r is vector
        ``first_index + r``), so a long stream can be converted in pieces.

    Returns
    -------
    codes : int64 array [vectors, columns]
        ``correct(cfg, decisions, active_steps)``, accumulated during the search.
    decisions : uint8 array [vectors, columns, steps]; skipped steps are 0.
    """
    v = np.asarray(v, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != cfg.columns:
        raise ValueError(f"v must be [vectors, {cfg.columns}], not {v.shape}")
    have = (comparator.columns, comparator.steps, comparator.out_width)
    if have != (cfg.columns, cfg.steps, cfg.out_width):
        raise ValueError(
            f"comparator (columns, steps, out_width) = {have} does not match the SARConfig "
            f"{(cfg.columns, cfg.steps, cfg.out_width)}"
        )
    nvec = v.shape[0]
    if not _is_int(first_index):
        raise ValueError(f"first_index must be an integer, not {first_index!r}")
    k = np.full(nvec, cfg.steps) if active_steps is None else np.asarray(active_steps)
    if k.dtype.kind not in "iu":  # 2.7, True or "3" would be truncated or parsed silently
        raise ValueError(f"active_steps must be integers, not {active_steps!r}")
    try:
        k = np.broadcast_to(k, (nvec,)).astype(np.int64)
    except ValueError:
        raise ValueError(
            f"active_steps must be one integer or one per vector ({nvec}), not shape {k.shape}"
        ) from None
    if k.size and (k.min() < 1 or k.max() > cfg.steps):
        raise ValueError(f"active_steps must be in [1, {cfg.steps}], got {k.min()}..{k.max()}")
    index = first_index + np.arange(nvec)
    codes = np.empty(v.shape, dtype=np.int64)
    decisions = np.empty((*v.shape, cfg.steps), dtype=np.uint8)
    if hasattr(comparator, "hold"):  # in blocks of rows, each held once
        block = max(1, min(nvec, BLOCK // cfg.columns))
        hold = comparator.hold
    else:  # one call per step on every vector, int64 states: as it always was
        block = max(1, nvec)

        def hold(v, index):
            return _NotHeld(comparator, v, index)

    work = _SearchArrays(cfg, (block, cfg.columns))
    for r in range(0, nvec, block):
        rows = slice(r, r + block)
        held = hold(v[rows], index[rows])
        _search(cfg, held.compare, k[rows], codes[rows], decisions[rows], work)
    return codes, decisions


class _NotHeld:
    """``hold`` for a comparator that has none: its ``compare`` at every step (int64 states)."""

    def __init__(self, comparator, v, index):
        self.comparator, self.v, self.index = comparator, v, index

    def compare(self, trial_states, step, out):
        b = self.comparator.compare(self.v, trial_states.astype(np.int64), step, self.index)
        out[...] = np.asarray(b) != 0
        return out


#: The bits of every byte value, least significant first: ``_BYTE_BITS[x, j] = (x >> j) & 1``;
#: ``_BYTE_BITS_64`` holds each row's 8 bytes as one uint64 (native order, as read back).
_BYTE_BITS = ((np.arange(256)[:, None] >> np.arange(8)) & 1).astype(np.uint8)
_BYTE_BITS_64 = _BYTE_BITS.view(np.uint64).reshape(256)


class _SearchArrays:
    """The work arrays of :func:`_search` for blocks of up to ``shape`` [rows, columns],
    allocated once per conversion and reused by every block (no allocation per block).

    Switch states are uint32 (``steps <= MAX_STEPS = 32`` bits), so the
    per-step updates run on narrow same-type arrays. ``byte_sums[j][x]`` is
    the sum of the nominal weights of steps ``8j..8j+7`` whose bit is set in
    the byte value ``x``: the codes are read from the final switch states a
    byte at a time.
    """

    def __init__(self, cfg: SARConfig, shape):
        self.kept = np.empty(shape, dtype=np.uint32)  # switch state of the decisions so far
        self.trial = np.empty(shape, dtype=np.uint32)
        self.bit = np.empty(shape, dtype=np.uint32)
        self.byte = np.empty(shape, dtype=np.int64)  # one byte of the final states
        self.b = np.empty(shape, dtype=np.uint8)  # this step's decisions
        w = np.zeros(-(-cfg.steps // 8) * 8, dtype=np.int64)
        w[: cfg.steps] = cfg.weights
        self.byte_sums = [_BYTE_BITS @ w[lo : lo + 8] for lo in range(0, cfg.steps, 8)]


def _search(cfg, compare, k, codes, decisions, work: _SearchArrays) -> None:
    """The successive-approximation search of :func:`sar_convert` on one block of rows.

    ``compare(trial_states, step, out)`` writes the comparator's decisions
    for the block (uint8, into ``out``); the search writes ``codes`` [rows,
    columns] and ``decisions`` [rows, columns, steps]. The steps only update
    the switch state, in place in ``work`` (a fresh whole-array temporary per
    operation costs more than the operation); the decisions are its bits
    and the codes ``min(sum_i b_i w_i + fill, 2**out_width - 1)``, both read
    from it a byte (8 steps) at a time through 256-entry tables.
    """
    n = codes.shape[0]
    kept, trial, bit, byte, b = (
        a[:n] for a in (work.kept, work.trial, work.bit, work.byte, work.b)
    )
    kept[...] = 0
    first_skip = int(k.min()) if k.size else cfg.steps  # from this step on some rows stop
    for i in range(cfg.steps):
        step_bit = np.uint32(1 << i)
        np.bitwise_or(kept, step_bit, out=trial)
        compare(trial, i, out=b)
        if i >= first_skip:
            b &= (i < k)[:, None]
        kept += np.multiply(b, step_bit, out=bit)  # bit i is clear: + is |
    codes[...] = 0
    packed = decisions.view(np.uint64) if cfg.steps % 8 == 0 else None  # 8 steps per word
    for j, lo in enumerate(range(0, cfg.steps, 8)):
        byte[...] = np.bitwise_and(np.right_shift(kept, lo, out=bit), 0xFF, out=bit)
        codes += work.byte_sums[j].take(byte, mode="clip")
        if packed is not None:
            packed[..., j] = _BYTE_BITS_64.take(byte, mode="clip")
        else:
            width = min(8, cfg.steps - lo)
            decisions[..., lo : lo + width] = _BYTE_BITS[:, :width].take(byte, axis=0, mode="clip")
    codes += _fills(cfg, decisions, k[:, None])
    np.minimum(codes, cfg.full_code, out=codes)

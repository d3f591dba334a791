"""Inputs held by the SAR's analog front end and compared step by step: the fast path.

:class:`HeldInput` is the one place comparator decisions are made (DESIGN 4.3):
``AnalogFrontEnd.hold`` returns one, ``model.golden.sar.sar_convert`` and the
closed-loop testbenches call its :meth:`~HeldInput.compare`. It draws noise only for
the decisions a draw can flip and gets the same decisions bit for bit as a draw for
every decision (tests/test_sar_bit_identity.py); its numpy passes run in place in
work arrays recycled from one hold to the next (see ``model.analog.sar_frontend``,
"Speed").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from model.analog.counter_noise import (
    GOLDEN,
    NOISE_REACH,
    RADIUS_BOUND,
    S54,
    absorb,
    box_muller_cosine,
    box_muller_radius,
    hash_fields,
    hash_lane,
    mix64,
)

if TYPE_CHECKING:
    from model.analog.sar_frontend import AnalogFrontEnd


class HeldInput:
    """Inputs sampled and held by an :class:`AnalogFrontEnd`, to be compared step by step.

    A conversion compares the same held input with a new trial DAC level at
    every step, so what depends on the input alone is done once, here: the
    clipped (and transferred) input plus offset ``x + offset``, the part of
    the noise hash that depends on the vector only, and a float-rounding
    bound. :meth:`compare` is the one place decisions are made
    (:meth:`AnalogFrontEnd.compare` is ``HeldInput(...).compare``); it works
    in place in work arrays that are reused at every step and recycled to the
    next :class:`HeldInput` (see :class:`WorkArrays`).

    Parameters
    ----------
    fe : AnalogFrontEnd
    v : float array [..., columns]
        Normalised inputs.
    vector_index : int or int array broadcastable to ``v.shape[:-1]``
        Index of each vector (keys the noise draws).

    Members
    -------
    shape : tuple
        Shape of ``v`` and of the decisions.
    """

    def __init__(self, fe: AnalogFrontEnd, v, vector_index):
        v = np.asarray(v, dtype=np.float64)
        if v.ndim == 0 or v.shape[-1] != fe.columns:
            raise ValueError(
                f"v must be [..., {fe.columns}] (the front end's columns), not {v.shape}"
            )
        self.fe = fe
        self.shape = v.shape
        self._work = WorkArrays.acquire(v.size)
        lhs = fe.held_input(v, out=self._work("lhs", np.float64, v.size).reshape(v.shape))
        lhs += fe.offset
        self._lhs = lhs
        if fe.noise:
            vi = np.asarray(vector_index)
            try:
                vi = np.broadcast_to(vi, v.shape[:-1])
            except ValueError:
                raise ValueError(
                    f"vector_index of shape {vi.shape} does not broadcast to {v.shape[:-1]}"
                ) from None
            # (seed, vector) of every row, the first two fields of the noise hash, and with
            # the step as third field for each step of a conversion, computed at once
            self._row_keys = hash_fields(fe.seed, vi.reshape(-1))
            self._step_keys = absorb(self._row_keys, np.arange(fe.steps)[:, None])
            self._column_fields = np.arange(fe.columns, dtype=np.uint64)
            # Margin for float rounding in the filters of _redecide_near: many times
            # the few ulp of the largest magnitude involved (an ulp is <= 2**-52 of it).
            largest = max(-lhs.min(initial=0.0), lhs.max(initial=0.0))
            scale = float(largest) + fe._largest_level + NOISE_REACH * fe.noise
            self._slack = 1e-6 + scale * 2.0**-40
            #: Decisions further than this from their threshold get no draw.
            self._reach = NOISE_REACH * fe.noise + self._slack
            #: ... and none further than this, by the top 10 bits of their hash lane 1.
            self._flip_reach = fe.noise * RADIUS_BOUND + self._slack

    def __del__(self):
        work = getattr(self, "_work", None)
        if work is not None:
            work.release()

    def compare(self, trial_states, step: int, out=None) -> np.ndarray:
        """Decisions (uint8, 1 iff ``x + offset + noise >= D(trial_states)``) of the held inputs.

        Parameters
        ----------
        trial_states : int array broadcastable to :attr:`shape`
            Switch states (bit i = step i).
        step : int
            The step being decided (keys the noise).
        out : uint8 array, optional
            C-contiguous array of :attr:`shape` to write the decisions into.
        """
        shape = self.shape
        try:
            s = np.asarray(trial_states)
            s = s if s.shape == shape else np.broadcast_to(s, shape)
        except ValueError:
            raise ValueError(
                f"trial_states of shape {np.shape(trial_states)} does not broadcast to the "
                f"held inputs {shape}"
            ) from None
        self.fe._check_states(s)
        if out is None:
            out = np.empty(shape, dtype=np.uint8)
        elif out.shape != shape or out.dtype != np.uint8 or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous uint8 array of shape {shape}")
        level = self.fe._level(s, self._work)
        decide = out.view(bool)
        np.greater_equal(self._lhs, level, out=decide)  # the noiseless decisions
        if self.fe.noise:
            if 0 <= step < self.fe.steps:  # (seed, vector, step) of every row
                keys = self._step_keys[step]
            else:
                keys = absorb(self._row_keys, step)
            self._redecide_near(decide.reshape(-1), level.reshape(-1), keys)
        return out

    def _redecide_near(self, decide, level, keys) -> None:
        """Add the noise draw to the decisions it can flip and decide those again, in place.

        ``decide`` and ``level`` are flat (C order), ``keys`` the noise hash
        of (seed, vector, step) per row. Bit-identical to adding a draw to
        every decision (the definition): a draw is ``r cos(2 pi u2)`` with
        ``|draw| <= r``, the Box-Muller radius, so a decision further than
        ``noise * r`` (plus a float rounding margin) from its threshold keeps
        its noiseless value. Two filters, each cheaper than what it saves: the
        distance against ``noise * NOISE_REACH`` (no hash), then against
        ``noise`` times a bound of the decision's own radius read from the top
        bits of its hash lane 1 (:data:`RADIUS_BOUND`: no ``log1p``, ``sqrt``
        or ``cos``). The draw is computed for what is left, about a third of
        the decisions at the last step and far fewer before it.
        """
        fe, work, lhs = self.fe, self._work, self._lhs.reshape(-1)
        size = lhs.size
        gap = np.subtract(lhs, level, out=work("gap", np.float64, size))
        np.abs(gap, out=gap)
        is_near = np.less_equal(gap, self._reach, out=work("near", bool, size))
        n = int(np.count_nonzero(is_near))
        if not n:
            return
        if 2 * n > size:  # most decisions are near: hash them all, no gathers
            near, n = None, size
        else:
            near = is_near.nonzero()[0]
            gap = gap.take(near, out=work("near_gap", np.float64, n), mode="clip")
        base = self._noise_hash(keys, near)
        tmp = work("tmp", np.uint64, n)
        lane1 = hash_lane(base, 1, work("lane1", np.uint64, n), tmp)
        bucket = work("bucket", np.int64, n)
        np.right_shift(lane1, S54, out=bucket.view(np.uint64))  # top 10 bits
        reach = self._flip_reach.take(bucket, out=work("reach", np.float64, n), mode="clip")
        can_flip = np.less_equal(gap, reach, out=work("flip", bool, n)).nonzero()[0]
        m = can_flip.size
        if not m:
            return
        at = can_flip if near is None else near.take(can_flip)  # flat indices
        # the draws r cos(2 pi u2), as counter_normal computes them
        radius = box_muller_radius(lane1.take(can_flip, out=tmp[:m], mode="clip"), reach[:m])
        lane2 = hash_lane(base.take(can_flip, mode="clip"), 2, lane1[:m], tmp[:m])
        draw = box_muller_cosine(lane2, work("draw", np.float64, m))
        draw *= radius
        # lhs + noise * draw, rounded as the plain formula rounds it (+ and * commute)
        draw *= fe.noise
        draw += lhs.take(at, out=radius, mode="clip")
        at_level = level.take(at, out=gap[:m], mode="clip")
        decide[at] = np.greater_equal(draw, at_level, out=work("flip", bool, m))

    def _noise_hash(self, keys: np.ndarray, near: np.ndarray | None) -> np.ndarray:
        """The hash of (seed, vector, step, column) at the flat indices ``near`` of a
        [rows, columns] block (all if None), from the row ``keys`` of (seed, vector,
        step); in a work array. ``box_muller_radius`` and ``box_muller_cosine`` of its
        lanes 1 and 2 make the draw."""
        work, columns = self._work, self.fe.columns
        if near is None:  # every decision: broadcast, no gathers
            base = work("base", np.uint64, keys.size * columns)
            np.bitwise_xor(keys[:, None], self._column_fields, out=base.reshape(-1, columns))
        else:
            n = near.size
            rows = np.floor_divide(near, columns, out=work("rows", np.int64, n))
            column = np.multiply(rows, columns, out=work("columns", np.int64, n))
            np.subtract(near, column, out=column)
            base = keys.take(rows, out=work("base", np.uint64, n), mode="clip")
            base ^= column.view(np.uint64)  # columns >= 0: the same bits
        base += GOLDEN
        return mix64(base, work("tmp", np.uint64, base.size))


class WorkArrays:
    """Named 1-D work arrays of one :class:`HeldInput`, allocated on first use, then reused.

    ``work(name, dtype, n)`` is the first ``n`` elements of array ``name``,
    allocated with room for the whole held block so it is never reallocated
    for a larger subset. A released set goes to a short free list and the
    next :meth:`acquire` takes it: a fresh multi-megabyte array costs a page
    fault per 4 kB on first touch (about 2 us each here), more than the
    numpy passes over it, and ``sar_convert`` holds every block of every
    conversion anew. Only small sets are kept (at most :data:`_SPARE_COUNT`
    of up to :data:`_SPARE_ELEMENTS` elements), so the memory kept is bounded.
    """

    def __init__(self):
        self._arrays: dict[str, np.ndarray] = {}
        self._capacity = 0

    @classmethod
    def acquire(cls, capacity: int) -> WorkArrays:
        """A set for a block of ``capacity`` elements: a released one if any, else new."""
        work = _SPARE.pop() if _SPARE else cls()
        if capacity > work._capacity:
            work._capacity = capacity
            work._arrays.clear()
        return work

    def release(self) -> None:
        """Hand the arrays to the next :meth:`acquire` (no longer used by their holder)."""
        if len(_SPARE) < _SPARE_COUNT and self._capacity <= _SPARE_ELEMENTS:
            _SPARE.append(self)

    def __call__(self, name: str, dtype, n: int) -> np.ndarray:
        arr = self._arrays.get(name)
        if arr is None or arr.size < n:
            arr = self._arrays[name] = np.empty(max(n, self._capacity), dtype=dtype)
        return arr[:n]


#: Released work-array sets (see :class:`WorkArrays`).
_SPARE: list[WorkArrays] = []
_SPARE_COUNT, _SPARE_ELEMENTS = 2, 1 << 17


class ComparePerStep:
    """Holder for a subclass that overrides ``compare``: asks its ``compare`` at every step."""

    def __init__(self, fe: AnalogFrontEnd, v, vector_index):
        self.fe, self.v, self.vector_index = fe, v, vector_index

    def compare(self, trial_states, step: int, out=None) -> np.ndarray:
        b = self.fe.compare(self.v, trial_states, step, self.vector_index)
        if out is None:
            return b
        out[...] = b
        return out

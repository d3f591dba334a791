"""Counter-based Gaussian noise: a draw that is a pure function of (seed, vector, step, column).

The comparator noise of the SAR's analog front end (``model.analog.sar_frontend``):
a splitmix64-style hash of the four integers, two uniforms from it, Box-Muller. A draw
does not depend on how calls are batched or ordered, so the golden model and the
closed-loop testbenches see the same decisions bit for bit.
"""

from __future__ import annotations

import numpy as np

# The hash runs in place on preallocated uint64 buffers: a chain of whole-array
# temporaries costs several times the arithmetic itself (allocation, page faults).
# Its arithmetic wraps modulo 2**64 by design; it is done on arrays (0-d ones for
# single values), where numpy does not warn about the wrap as it does for scalars.
KEY = np.uint64(0x243F6A8885A308D3)
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MUL1, MUL2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
S30, S27, S31, S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


def mix64(z: np.ndarray, tmp: np.ndarray | None = None) -> np.ndarray:
    """splitmix64 finaliser, in place on the uint64 array ``z`` (wrapping); returns ``z``.

    ``tmp`` is scratch space of ``z``'s shape (allocated when None).
    """
    tmp = np.empty_like(z) if tmp is None else tmp
    for shift, mul in ((S30, MUL1), (S27, MUL2)):
        np.right_shift(z, shift, out=tmp)
        z ^= tmp
        z *= mul
    np.right_shift(z, S31, out=tmp)
    z ^= tmp
    return z


def as_field(value) -> np.ndarray:
    """A hash field as uint64: the two's complement bits of its int64 value."""
    return np.asarray(value).astype(np.int64).astype(np.uint64)


def absorb(h, value) -> np.ndarray:
    """``mix64((h ^ value) + golden)``: one more field into the hash (broadcasts, new array)."""
    h = np.asarray(h ^ as_field(value))  # 0-d stays an array, so the ops below are in place
    h += GOLDEN
    return mix64(h)


def hash_fields(*fields) -> np.ndarray:
    """The hash of the integer fields, in order, starting from a fixed key (broadcasts)."""
    h = np.asarray(KEY)
    for f in fields:
        h = absorb(h, f)
    return h


def hash_lane(base, lane: int, out, tmp) -> np.ndarray:
    """Lane ``lane`` of the hash ``base``, ``mix64(base ^ lane)``, into the uint64 ``out``."""
    np.bitwise_xor(base, np.uint64(lane), out=out)
    return mix64(out, tmp)


def lane_uniform(lane_bits, out, sign: float = 1.0) -> np.ndarray:
    """``sign * u`` into ``out``: ``u`` in [0, 1) on a 2**-53 grid, the top 53 bits of a
    hash lane (``lane_bits`` is shifted in place)."""
    lane_bits >>= S11
    out[...] = lane_bits  # < 2**53: exact
    out *= sign * 2.0**-53  # exact: a power of two
    return out


def box_muller_radius(lane1, out) -> np.ndarray:
    """Box-Muller radius ``sqrt(-2 log1p(-u1))`` from hash lane 1 (consumed): bounds |draw|."""
    r = lane_uniform(lane1, out, sign=-1.0)  # -u1
    np.log1p(r, out=r)
    r *= -2.0
    return np.sqrt(r, out=r)


def box_muller_cosine(lane2, out) -> np.ndarray:
    """Box-Muller angle term ``cos(2 pi u2)`` from hash lane 2 (consumed)."""
    c = lane_uniform(lane2, out)
    c *= 2.0 * np.pi
    return np.cos(c, out=c)


#: Largest |draw| of :func:`counter_normal`: sqrt(-2 ln 2**-53) = 8.572 (u1 < 1 - 2**-53
#: after the 53-bit quantisation), rounded up.
NOISE_REACH = 8.6

#: An upper bound of the Box-Muller radius for each 1/1024 of the range of ``u1``, i.e.
#: for each value of the top 10 bits of hash lane 1: the radius at the top of the bucket
#: (1 ppb up for float rounding), NOISE_REACH for the last. Reading it costs a shift and
#: a gather instead of ``log1p`` and ``sqrt``.
RADIUS_BOUND = np.append(
    np.sqrt(-2.0 * np.log1p(-np.arange(1, 1024) / 1024.0)) * (1 + 1e-9), NOISE_REACH
)
S54 = np.uint64(64 - 10)


def counter_normal(seed: int, vector_index, step: int, column) -> np.ndarray:
    """Standard-normal draw that is a pure function of (seed, vector, step, column).

    Broadcasts ``vector_index`` and ``column``. Two uniforms from the hash
    (lanes 1 and 2), then Box-Muller: ``sqrt(-2 log1p(-u1)) * cos(2 pi u2)``.
    """
    base = hash_fields(seed, vector_index, step, column)
    bits, tmp = np.empty_like(base), np.empty_like(base)
    radius = box_muller_radius(hash_lane(base, 1, bits, tmp), np.empty(base.shape))
    return radius * box_muller_cosine(hash_lane(base, 2, bits, tmp), np.empty(base.shape))

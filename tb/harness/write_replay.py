"""The harnesses' random parameter writes: the xorshift64 sequence, in RTL and replayed in numpy.

The NMPU and tile harnesses write random (field, column, value) triples at
random cycles (``tb.harness.common.add_param_writer``); :class:`WriteReplay`
reproduces them from the same seed, so the golden model knows the parameters
every vector saw.
"""

from __future__ import annotations

import numpy as np

from model.nmpu import NMPUConfig

MASK64 = (1 << 64) - 1


def xorshift64(x):
    """One xorshift64 step (Marsaglia 13/7/17) on an int or an Amaranth value."""
    if isinstance(x, int):
        x ^= (x << 13) & MASK64
        x ^= x >> 7
        x ^= (x << 17) & MASK64
        return x
    x = x ^ (x << 13)[:64]
    x = x ^ (x >> 7)
    return x ^ (x << 17)[:64]


def write_fields(config: NMPUConfig, state: int) -> tuple[str, int, int]:
    """The (field, column, raw value) a writer state encodes (as the harness decodes it)."""
    fields = config.param_fields
    name = fields[((state & 0xFF) * len(fields)) >> 8]
    column = (((state >> 8) & 0xFFFF) * config.columns) >> 16
    fmt = config.param_format(name)
    raw = (state >> 32) & ((1 << fmt.width) - 1)
    if fmt.signed and raw >> (fmt.width - 1):
        raw -= 1 << fmt.width
    return name, column, raw


class WriteReplay:
    """The harness's random parameter writes, replayed in numpy.

    ``segments(counts)`` splits consecutive vectors into runs that saw the
    same parameters, given how many writes had landed at each one's start
    (``vec_log``); ``for_vectors(counts)`` gives the parameters [vectors,
    columns] of each vector; ``model(fn, x, counts)`` runs a golden model on
    each run at once. State carries over between calls (chunks).
    """

    def __init__(self, config: NMPUConfig, initial: dict, seed: int):
        self.config = config
        self.current = {f: np.array(initial[f], np.int64) for f in config.param_fields}
        self.state = seed & MASK64
        self.applied = 0

    def segments(self, counts) -> list[tuple[slice, dict]]:
        """(vectors, parameters [columns]) for each run of equal write counts."""
        counts = np.asarray(counts, np.int64)
        previous = np.concatenate([[self.applied], counts[:-1]])
        back = np.flatnonzero(counts < previous)
        if back.size:
            v = back[0]
            raise AssertionError(
                f"vector {v}: write count {counts[v]} went back from {previous[v]}"
            )
        starts = np.flatnonzero(np.diff(counts, prepend=-1)) if counts.size else counts
        out = []
        for a, b in zip(starts, [*starts[1:], counts.size], strict=True):
            for _ in range(int(counts[a]) - self.applied):
                name, column, value = write_fields(self.config, self.state)
                self.current[name][column] = value
                self.state = xorshift64(self.state)
            self.applied = int(counts[a])
            out.append((slice(int(a), int(b)), {f: v.copy() for f, v in self.current.items()}))
        return out

    def for_vectors(self, counts) -> dict:
        """The parameters [vectors, columns] each vector saw."""
        return self._per_vector(self.segments(counts), len(counts))

    def model(self, fn, x: np.ndarray, counts) -> np.ndarray:
        """``fn(config, x, **params)`` with the parameters each vector of ``x`` saw.

        One call per run of vectors with the same parameters when runs are long
        (no or rare writes: 6x faster than per-vector parameters), else one call.
        """
        segments = self.segments(counts)
        if len(segments) * 16 > len(x):
            return fn(self.config, x, **self._per_vector(segments, len(x)))
        return np.concatenate([fn(self.config, x[v], **p) for v, p in segments])

    def _per_vector(self, segments, vectors: int) -> dict:
        out = {f: np.empty((vectors, self.config.columns), np.int64) for f in self.current}
        for run, params in segments:
            for f, value in params.items():
                out[f][run] = value
        return out

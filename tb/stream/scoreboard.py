"""In-order scoreboard: transactions predicted by the golden model against those a monitor saw.

Tier-agnostic (plain numpy): the cocotb benches feed it from their monitors.
A transaction is a dict of fields (ints or integer arrays); array mismatches
are reported per element with the transaction's label and a column index.
"""

from __future__ import annotations

import hashlib
from collections import deque
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Expected:
    label: str  # e.g. "vector 3 beat 1"
    fields: dict
    first_column: int = 0  # column of element 0 of the array fields


@dataclass
class Scoreboard:
    """Compare observed transactions with expected ones in order; keep counts and first errors."""

    name: str
    log: object = None
    max_reports: int = 10
    expected: deque = field(default_factory=deque)
    checked: int = 0
    values_checked: int = 0
    mismatches: int = 0
    errors: list = field(default_factory=list)
    #: SHA-256 of everything observed, in order (:meth:`digest`): two simulators that
    #: produced the same outputs report the same digest, whatever the model says.
    observed: object = field(default_factory=hashlib.sha256, repr=False)

    def expect(self, label: str, fields: dict, first_column: int = 0) -> None:
        self.expected.append(Expected(label, fields, first_column))

    def observe(self, fields: dict) -> None:
        for name in sorted(fields):
            self._record(name, np.atleast_1d(fields[name]))
        if not self.expected:
            self._error(f"{self.name}: transaction {self.checked} arrived, none was expected")
            self.checked += 1
            return
        exp = self.expected.popleft()
        for name, want in exp.fields.items():
            got = fields[name]
            want_a, got_a = np.atleast_1d(want), np.atleast_1d(got)
            self.values_checked += want_a.size
            for j in np.flatnonzero(want_a != got_a):
                where = f" column {exp.first_column + j}" if np.ndim(want) else ""
                self._error(
                    f"{self.name}: {exp.label}{where} {name}: expected {want_a[j]}, got {got_a[j]}"
                )
        self.checked += 1

    def compare(self, got: dict, want: dict, describe) -> None:
        """Bulk form of :meth:`observe` for a whole chunk of a harness run: arrays field by field.

        Every element of ``want`` is counted. ``describe(field, index)`` names a
        mismatching element as ``(order, text)``; a chunk's mismatches are recorded
        earliest ``order`` first (only the first :attr:`max_reports` of each field
        are described; the rest are counted).
        """
        found, uncounted = [], 0
        for name, want_a in want.items():
            got_a, want_a = np.asarray(got[name]), np.asarray(want_a)
            self._record(name, got_a)
            if got_a.shape != want_a.shape:
                found.append(
                    ((), f"{self.name}: {name} has shape {got_a.shape}, not {want_a.shape}")
                )
                continue
            self.values_checked += want_a.size
            diff = got_a != want_a
            if diff.any():  # argwhere only when needed: 50x faster on a clean chunk
                bad = np.argwhere(diff)
                uncounted += max(0, len(bad) - self.max_reports)
                found += [
                    describe(name, tuple(int(i) for i in at)) for at in bad[: self.max_reports]
                ]
        self.checked += 1
        for _, text in sorted(found, key=lambda f: f[0]):
            self._error(text)
        self.mismatches += uncounted

    def _record(self, name: str, values: np.ndarray) -> None:
        """Fold observed ``values`` of field ``name`` into :attr:`observed` (as int64, so the
        digest does not depend on how a bench happened to type its arrays)."""
        self.observed.update(f"{name}{values.shape}".encode())
        self.observed.update(np.ascontiguousarray(values, dtype=np.int64).tobytes())

    def digest(self) -> str:
        """Hex SHA-256 of the observed transactions so far (for cross-simulator checks)."""
        return self.observed.hexdigest()

    def _error(self, text: str) -> None:
        self.mismatches += 1
        if len(self.errors) < self.max_reports:
            self.errors.append(text)
            if self.log is not None:
                self.log.error("mismatch: %s", text)

    def figures(self) -> dict:
        return {
            f"{self.name}_checked": self.checked,
            f"{self.name}_values_checked": self.values_checked,
            f"{self.name}_mismatches": self.mismatches,
            f"{self.name}_digest": self.digest(),
        }

    def assert_clean(self) -> None:
        """Every expected transaction arrived and matched."""
        assert not self.mismatches, f"{self.mismatches} mismatches; first: {self.errors}"
        assert not self.expected, (
            f"{self.name}: {len(self.expected)} expected transactions never arrived "
            f"(next: {self.expected[0].label})"
        )

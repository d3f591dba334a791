"""The NMPU's parameter bank as a bench sees it: a mirror of the shadow bank, and random writes.

One definition of the parameter writers' semantics, shared by the cocotb writer
(``tb.stream.params.ParamWriter``) and the Amaranth-simulator one
(``tb.pysim.testbench.PysimParamWriter``): a write presented in one cycle lands
at the next rising edge, and a vector whose first beat is accepted at that same
edge does not see it (DESIGN 3.4: a write takes effect for the vectors that
start after it). The writers call :meth:`ParamMirror.land` after that edge and
:meth:`ParamMirror.snapshot` for a vector that starts.
"""

from __future__ import annotations

import numpy as np

from model.nmpu import NMPUConfig


class ParamMirror:
    """The per-column parameters a DUT holds, field -> int64 array [columns].

    A reset is invisible here, as in the RTL (docs/nmpu.md, "Framing, flush and reset"): it
    clears no parameter, and a write presented while reset is high lands like any other.
    """

    def __init__(self, config: NMPUConfig, initial: dict | None = None):
        self.config = config
        self.shadow = {
            f: np.array(initial[f], np.int64) if initial else np.zeros(config.columns, np.int64)
            for f in config.param_fields
        }

    def land(self, name: str, column: int, value: int) -> None:
        """A write of ``name[column] = value`` has landed (the edge after it was presented)."""
        self.shadow[name][column] = value

    def snapshot(self) -> dict:
        """The parameters in force for a vector whose first beat transfers now."""
        return {f: a.copy() for f, a in self.shadow.items()}

    def random_write(self, rng: np.random.Generator) -> tuple[str, int, int]:
        """A uniformly drawn (field, column, raw value in the field's format)."""
        fields = self.config.param_fields
        name = fields[int(rng.integers(len(fields)))]
        column = int(rng.integers(self.config.columns))
        fmt = self.config.param_format(name)
        return name, column, int(rng.integers(fmt.min_raw, fmt.max_raw, endpoint=True))

"""What every bulk harness must do with a wrong expectation: fail the run and name it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tb.runner import SUMMARY_FILE, CocotbFailure


def expect_one_named_mismatch(run: Callable[[], object], build_dir: Path, prefix: str) -> None:
    """``run()`` (a harness run told to expect one wrong value) raises ``CocotbFailure``, and
    its one summary row counts one mismatch whose first error starts with ``prefix``."""
    with pytest.raises(CocotbFailure):  # a failed cocotb test fails the run
        run()
    (f,) = [json.loads(line) for line in (build_dir / SUMMARY_FILE).read_text().splitlines()]
    assert f["mismatches"] == 1, f
    assert f["errors"][0].startswith(prefix), f["errors"]

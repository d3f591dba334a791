"""Shared pytest fixtures: a printed, replayable seed (also for hypothesis tests) and a per-test
build folder."""

from __future__ import annotations

import os
import re
import zlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def seed_for(nodeid: str) -> int:
    """The seed of test ``nodeid``: $SEED if set, else a stable hash (crc32) of the test id."""
    env = os.environ.get("SEED")
    return int(env) if env else zlib.crc32(nodeid.encode()) & 0x7FFFFFFF


def announce_seed(value: int, nodeid: str) -> None:
    """Print the seed with the command line that replays the test with it."""
    print(f"\nseed={value}  (replay: SEED={value} pytest '{nodeid}')")


@pytest.fixture
def seed(request) -> int:
    """Seed for this test: $SEED if set, else a stable hash of the test id. Printed for replay."""
    value = seed_for(request.node.nodeid)
    announce_seed(value, request.node.nodeid)
    return value


@pytest.fixture(autouse=True)
def _hypothesis_seed(request):
    """Hypothesis tests draw from the same seed as the ``seed`` fixture (so ``SEED=n`` replays
    them too) and print it; other tests are untouched."""
    if getattr(request.function, "is_hypothesis_test", False):
        import hypothesis  # only hypothesis tests get here: it is a dev dependency

        value = seed_for(request.node.nodeid)
        hypothesis.seed(value)(request.function)
        announce_seed(value, request.node.nodeid)


@pytest.fixture
def build_dir(request) -> Path:
    """One build folder per test case under build/tests/, so parallel runs never collide."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
    path = REPO / "build" / "tests" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


#: Tests that take a minute or more on a 2-core machine (builds, synthesis, long runs).
LONG = (
    "test_harness_cocotb.py::test_nmpu_bulk_regression[verilator",
    "test_sar_harness.py::test_sar_harness_bit_exact[verilator",
    "test_rtl.py::test_verilog_synthesizes",
    "test_rtl.py::test_verilog_is_lint_clean[paper_default",
    "test_ppa.py",
    "test_sar_cocotb.py::test_sar_closed_loop[default256]",
    "paper_default-",
    "test_nmpu_rtl_matches_model[paper_default]",
    "test_fp16_rtl_matches_model[phases4_relu_clip]",
    "test_axi_cocotb.py::test_axi_wrapper_matches_model",
)


def pytest_addoption(parser):
    parser.addoption(
        "--seeded-only",
        action="store_true",
        help="run only the tests that draw from the seed (the seed fixture or hypothesis): "
        "make test-seeds runs them under SEED=1..10",
    )


def is_seeded(item) -> bool:
    """Whether the test draws random data from its seed (and so can fail by chance)."""
    function = getattr(item, "function", None)
    return "seed" in item.fixturenames or getattr(function, "is_hypothesis_test", False)


def pytest_collection_modifyitems(config, items):
    """With ``--seeded-only``, deselect the tests that draw nothing from the seed.

    The longest tests first, then the other simulator runs, then the rest: pytest-xdist
    (``make test``: ``--dist load --maxschedchunk 1``, one test at a time per worker) then
    keeps both workers busy to the end instead of leaving one long test for last."""

    def weight(item) -> int:
        if any(key in item.nodeid for key in LONG):
            return 0
        return 1 if item.get_closest_marker("cocotb") is not None else 2

    if config.getoption("--seeded-only"):
        unseeded = [item for item in items if not is_seeded(item)]
        items[:] = [item for item in items if is_seeded(item)]
        config.hook.pytest_deselected(items=unseeded)
    items.sort(key=weight)  # stable: collection order within a weight

"""Shared pytest fixtures: a printed, replayable seed and a per-test build folder."""

from __future__ import annotations

import os
import re
import zlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def seed(request) -> int:
    """Seed for this test: $SEED if set, else a stable hash of the test id. Printed for replay."""
    env = os.environ.get("SEED")
    value = int(env) if env else zlib.crc32(request.node.nodeid.encode()) & 0x7FFFFFFF
    print(f"\nseed={value}  (replay: SEED={value} pytest '{request.node.nodeid}')")
    return value


@pytest.fixture
def build_dir(request) -> Path:
    """One build folder per test case under build/tests/, so parallel runs never collide."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
    path = REPO / "build" / "tests" / name
    path.mkdir(parents=True, exist_ok=True)
    return path

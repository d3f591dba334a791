"""Harness read-back: memory dumps, bus-word unpacking and the write replay, against
independent references (Python integers, Icarus writing real dump files, per-vector replay).
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from amaranth.hdl import signed, unsigned
from amaranth.lib import data
from hypothesis import given, settings
from hypothesis import strategies as st

from model.nmpu import NMPUConfig, nmpu
from tb.harness.common import CORE, add_memory_dump
from tb.harness.write_replay import WriteReplay
from tb.harness_benches.bulk import read_dump
from tb.stimulus.nmpu import random_codes, random_params
from tb.stream.payload import Codec


def _field_values(word: int, offset: int, width: int, count: int, is_signed: bool) -> list:
    """Oracle: the elements of a field of ``word``, by Python integer shifts."""
    out = []
    for k in range(count):
        v = (word >> (offset + k * width)) & ((1 << width) - 1)
        out.append(v - (1 << width) if is_signed and v >> (width - 1) else v)
    return out


@st.composite
def layouts(draw):
    """Struct layouts of scalar and array fields, any widths (byte-aligned or not, narrow or
    wider than int64)."""
    fields = {}
    for i in range(draw(st.integers(1, 4))):
        width = draw(st.integers(1, 70))  # over 57 bits: the Python-integer path
        shape = signed(width) if draw(st.booleans()) else unsigned(width)
        count = draw(st.integers(1, 9))
        fields[f"f{i}"] = data.ArrayLayout(shape, count) if count > 1 else shape
    return data.StructLayout(fields)


@settings(max_examples=60, deadline=None)
@given(layout=layouts(), seed=st.integers(0, 2**32 - 1))
def test_unpack_bytes_matches_integer_shifts(layout, seed):
    codec = Codec(layout)
    rng = np.random.default_rng(seed)
    words = [int.from_bytes(rng.bytes(codec.width // 8 + 1), "little") % (1 << codec.width)
             for _ in range(7)]  # fmt: skip
    got = codec.unpack_many(words)
    for name, f in codec.fields.items():
        for i, word in enumerate(words):
            want = _field_values(word, f.offset, f.width, f.count or 1, f.signed)
            value = got[name][i]
            assert list(np.atleast_1d(value)) == want, (name, i)


def _dump_file(tmp_path, words, width, four_state, x_word=None):
    """A dump as the harness block writes it, built from Python integers."""
    groups = -(-width // 32)
    out = []
    for i, w in enumerate(words):
        for g in range(groups):
            out.append((w >> (32 * g)) & 0xFFFFFFFF)
            if four_state:
                out.append(1 << 3 if i == x_word and g == 0 else 0)
    path = tmp_path / "m.bin"
    np.array(out, "<u4").tofile(path)
    return path


@pytest.mark.parametrize("four_state", [False, True])
@pytest.mark.parametrize("width", [1, 32, 33, 513])
def test_read_dump_round_trips_words(tmp_path, width, four_state):
    rng = np.random.default_rng(width)
    words = [int.from_bytes(rng.bytes(width // 8 + 1), "little") % (1 << width) for _ in range(5)]
    path = _dump_file(tmp_path, words, width, four_state)
    raw = read_dump(path, width, four_state=four_state)
    assert [int.from_bytes(r.tobytes(), "little") for r in raw] == words


def test_read_dump_ignores_bits_above_the_word(tmp_path):
    """Icarus leaves garbage above the word in the top group: it must not count."""
    path = tmp_path / "m.bin"
    np.array([0x1234, 0, 0xFFFFFFFE, 0xFFFFFFF0], "<u4").tofile(path)  # 33-bit word, junk on top
    raw = read_dump(path, 33, four_state=True)
    assert int.from_bytes(raw[0].tobytes(), "little") == 0x1234


def test_read_dump_rejects_x_and_partial_words(tmp_path):
    path = _dump_file(tmp_path, [1, 2, 3], 40, four_state=True, x_word=2)
    with pytest.raises(ValueError, match=r"m\.bin: word 2 has X or Z bits"):
        read_dump(path, 40, four_state=True)
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(ValueError, match=r"m\.bin: .* is not whole 40-bit words"):
        read_dump(path, 40, four_state=True)


def test_memory_dump_block_on_icarus(tmp_path):
    """The generated block, run by Icarus, writes what the memory holds (X caught)."""
    width, depth = 70, 16
    rng = np.random.default_rng(3)
    words = [int.from_bytes(rng.bytes(9), "little") % (1 << width) for _ in range(depth)]
    inits = "\n".join(f"    {CORE}.mem[{i}] = {width}'h{w:x};" for i, w in enumerate(words))
    core = f"module sub; reg [{width - 1}:0] mem [0:{depth - 1}]; endmodule\n"
    top = (
        "module top(input clk, input dump);\n  sub core();\nendmodule\n"
        "module tb; reg clk = 0, dump = 1; top t(.clk(clk), .dump(dump));\n"
        f"  initial begin\n{inits.replace(CORE, 't.' + CORE)}\n    #1 clk = 1; #1 $finish;\n"
        "  end\nendmodule\n"
    )
    verilog = add_memory_dump(core + top, "top", {"mem": depth})
    (tmp_path / "t.v").write_text(verilog)
    subprocess.run(["iverilog", "-o", "t.vvp", "t.v"], cwd=tmp_path, check=True)
    subprocess.run(["vvp", "t.vvp"], cwd=tmp_path, check=True, capture_output=True)
    raw = read_dump(tmp_path / "mem.bin", width, four_state=True)
    assert [int.from_bytes(r.tobytes(), "little") for r in raw] == words
    with pytest.raises(ValueError, match="no module 'nope'"):
        add_memory_dump(verilog, "nope", {"mem": depth})


@pytest.mark.parametrize("writes_per_vector", [0.0, 0.05, 3.0])
def test_write_replay_model_runs_equal_per_vector(writes_per_vector):
    """Runs of vectors sharing parameters give what per-vector parameters give."""
    cfg = NMPUConfig(columns=32, lanes=8)
    rng = np.random.default_rng(7)
    initial = random_params(cfg, rng)
    steps = rng.poisson(writes_per_vector, 300)
    counts = np.cumsum(steps) - steps[0]
    x = random_codes(cfg, rng, len(counts))
    by_run = WriteReplay(cfg, initial, seed=99).model(nmpu, x, counts)
    params = WriteReplay(cfg, initial, seed=99).for_vectors(counts)
    per_vector = np.stack([
        nmpu(cfg, x[v : v + 1], **{f: p[v] for f, p in params.items()})[0]
        for v in range(len(counts))
    ])  # fmt: skip
    np.testing.assert_array_equal(by_run, per_vector)


def test_write_replay_rejects_counts_going_back():
    cfg = NMPUConfig(columns=32, lanes=8)
    replay = WriteReplay(cfg, random_params(cfg, np.random.default_rng(0)), seed=5)
    with pytest.raises(AssertionError, match="vector 2: write count 1 went back from 3"):
        replay.segments([0, 3, 1])

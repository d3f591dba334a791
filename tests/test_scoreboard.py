"""The scoreboard's output digest and the cross-simulator comparison built on it
(``tb.runner.simulator_disagreements``): a difference in any observed value, in the order
of the outputs or in the tests run is reported; equal outputs are not."""

from __future__ import annotations

import numpy as np

from tb.runner import simulator_disagreements
from tb.stream.scoreboard import Scoreboard


def digest_of(chunks, dtype=np.int64) -> str:
    sb = Scoreboard("output")
    for chunk in chunks:
        values = np.asarray(chunk, dtype=dtype)
        sb.compare({"data": values}, {"data": values}, lambda *a: ((), ""))
    return sb.digest()


def test_digest_depends_on_every_value_and_their_order(seed):
    rng = np.random.default_rng(seed)
    chunks = [rng.integers(-128, 128, size=(4, 8)) for _ in range(3)]
    reference = digest_of(chunks)
    assert digest_of(chunks, dtype=np.int16) == reference  # typing does not matter
    changed = [c.copy() for c in chunks]
    changed[2][3, 7] += 1
    assert digest_of(changed) != reference
    assert digest_of(chunks[::-1]) != reference
    assert digest_of(chunks[:2]) != reference


def test_per_transaction_observations_are_digested():
    a, b = Scoreboard("output"), Scoreboard("output")
    for sb, last in ((a, 0), (b, 1)):
        sb.expect("vector 0", {"data": [1, 2], "last": 0})
        sb.observe({"data": [1, 2], "last": last})
    assert a.figures()["output_digest"] != b.figures()["output_digest"]
    assert a.mismatches == 0 and b.mismatches == 1


def test_simulator_disagreements_names_the_test():
    figs = [{"test": "full_rate", "output_digest": "aa"}, {"test": "stall", "output_digest": "bb"}]
    assert simulator_disagreements({"icarus": figs, "verilator": [dict(f) for f in figs]}) == []
    other = [figs[0], {"test": "stall", "output_digest": "cc"}]
    assert simulator_disagreements({"icarus": figs, "verilator": other}) == [
        "stall: outputs differ between icarus and verilator"
    ]
    (problem,) = simulator_disagreements({"icarus": figs, "verilator": figs[:1]})
    assert "verilator ran tests ['full_rate']" in problem
    undigested = [{"test": "full_rate"}]
    assert simulator_disagreements({"icarus": undigested, "verilator": undigested}) == [
        "full_rate: no output digest in icarus's figures"
    ]

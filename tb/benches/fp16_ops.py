"""cocotb sweep of the binary16 operators (``tb.harness.fp16_ops.OperatorBank``) on Icarus or
Verilator: operand pairs in, every operator's outputs back to the runner.

Settings (``$TB_SETTINGS``): ``lanes``, ``operands`` (an ``.npy`` file [2, n] of
patterns ``a``, ``b``, n a multiple of ``lanes``) and ``hw_out`` (where the outputs go:
[len(OUTPUTS), n], in ``OUTPUTS`` order). The pytest side compares them with
``model.fp16`` (tests/test_fp16_ops_cocotb.py): the scoring is numpy, once.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import Timer

from model.files import write_with
from tb.harness.fp16_ops import OUTPUTS, pack_lanes, unpack_lanes
from tb.stream.bench import report, settings


@cocotb.test()
async def sweep(dut):
    """Apply every operand word; read every output once it has settled."""
    s = settings()
    lanes = int(s["lanes"])
    a, b = np.load(s["operands"])
    out = {name: [] for name in OUTPUTS}
    ports = {name: getattr(dut, name) for name in OUTPUTS}
    for k in range(0, a.size, lanes):
        dut.a.value = pack_lanes(a[k : k + lanes], 16)
        dut.b.value = pack_lanes(b[k : k + lanes], 16)
        await Timer(1, "ns")  # combinational: settled after a delta
        for name, (bits, signed) in OUTPUTS.items():
            word = ports[name].value.to_unsigned()
            out[name].append(unpack_lanes(word, bits, lanes, signed))
    hw_out = np.stack([np.concatenate(out[name]) for name in OUTPUTS])
    write_with(s["hw_out"], lambda fh: np.save(fh, hw_out))
    report({"test": "sweep", "pairs": int(a.size)})

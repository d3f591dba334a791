"""What a closed-loop harness bench does before its run: fill the memories, set the inputs, start.

Shared by the SAR and tile harness benches (``tb/harness_benches/sar.py``,
``tb/harness_benches/tile.py``): both hold the analog stimulus as held inputs in
the integer front end's fine units plus ``active_steps`` per conversion
(``stim``), the front end's per-column weights and offsets (``fe_mem``), and
the comparator's run-time inputs (``FrontEndFormat.biases``).
"""

from __future__ import annotations

from cocotb.triggers import RisingEdge

from tb.stream.bench import Bench
from tb.stream.payload import Codec


def load_stimulus_and_front_end(core, fmt, fe, analog, steps) -> None:
    """Write conversion ``n``'s held inputs and ``steps[n]`` to ``stim[n]``, column ``c``'s
    weights and offset (biased, all unsigned) to ``fe_mem[c]``."""
    conv_codec = Codec(fmt.conversion)
    held = fe.held_input(analog)
    for n in range(len(analog)):
        core.stim[n].value = conv_codec.pack(x=held[n], active_steps=int(steps[n]))
    col_codec = Codec(fmt.column)
    for c in range(len(fe.offset)):
        core.fe_mem[c].value = col_codec.pack(
            weights=fe.weights[c], offset=int(fe.offset[c]) + fmt.offset_bias
        )


def front_end_inputs(fmt, fe, first_index: int) -> dict[str, int]:
    """The comparator's run-time inputs: noise key, first conversion's index, scale, biases."""
    noise_bias, rhs_bias = fmt.biases(fe.noise_scale)
    return {
        "noise_seed": fe.seed & 0xFFFFFFFF,
        "first_index": first_index,
        "noise_scale": fe.noise_scale,
        "noise_bias": noise_bias,
        "rhs_bias": rhs_bias,
    }


async def load_and_go(dut, bench: Bench, inputs: dict[str, int]) -> None:
    """Drive ``inputs``, pulse ``load``, wait until the front end is copied, raise ``go``.

    The harness registers its inputs, so ``load`` acts a cycle after it is driven.
    """
    for name, value in inputs.items():
        getattr(dut, name).value = int(value)
    dut.load.value = 1
    await bench.falling
    dut.load.value = 0
    await bench.falling
    if dut.fe_ready.value != 1:
        await RisingEdge(dut.fe_ready)
    await bench.falling
    dut.go.value = 1

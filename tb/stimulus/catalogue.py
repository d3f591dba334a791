"""The one catalogue of test configurations, shared by every tier (model, Amaranth, cocotb).

Names say which corner each entry covers. ``SLOW`` marks entries too large
for Amaranth's Python simulator; the cocotb tier runs everything.
"""

from __future__ import annotations

from model.golden.tile import TileConfig
from model.nmpu import NMPUConfig
from model.sar import SARConfig

#: A sub-radix-2 (redundant) 10-step weight set for 8-bit codes: sums to 258 >= 255.
REDUNDANT_10 = (112, 64, 36, 20, 12, 6, 4, 2, 1, 1)

NMPU_CONFIGS: dict[str, NMPUConfig] = {
    # Paper default: 256 columns, 64 lanes, half_up, ReLU, signed 8-bit codes.
    "paper_default": NMPUConfig(),
    "lanes1_trunc": NMPUConfig(columns=16, lanes=1, rounding="trunc"),
    "lanes_eq_columns_half_even": NMPUConfig(columns=32, lanes=32, rounding="half_even"),
    # Four partial results (e.g. tiles), narrow stage 1 so it saturates, clipped ReLU.
    "phases4_relu_clip": NMPUConfig(
        columns=64, lanes=16, phases=4, mid_width=12, activation="relu_clip", relu_max=200
    ),
    # Two unsigned 4-bit input slices weighted 2**4 and 2**0.
    "bitsliced_4x2": NMPUConfig(
        columns=64, lanes=16, phases=2, phase_shifts=(4, 0), in_width=4, in_signed=False
    ),
    # Positive and negative input passes subtracted; signed output.
    "posneg_pair_no_activation": NMPUConfig(
        columns=64, lanes=16, phases=2, phase_signs=(1, -1), activation="none"
    ),
    "no_batchnorm": NMPUConfig(
        columns=64, lanes=16, bn=False, activation="none", out_lsb_cut=0, out_round_bits=3
    ),
    "unsigned_input": NMPUConfig(columns=64, lanes=16, in_signed=False),
    # Correction affine bypassed (codes enter the accumulator as x * 1 + 0); two phases.
    "no_correction": NMPUConfig(
        columns=32, lanes=8, correction=False, phases=2, phase_shifts=(1, 0)
    ),
    # Three columns, one lane: a column count that is not a power of two.
    "odd_columns_one_lane": NMPUConfig(columns=3, lanes=1),
    # One column: every vector one beat, parameter memories one word deep.
    "one_column": NMPUConfig(columns=1, lanes=1),
    # Bit-serial input: eight 1-bit slices weighted 2**7 .. 2**0; the narrowest output.
    "bitserial_phases8_out2": NMPUConfig(
        columns=4,
        lanes=2,
        phases=8,
        phase_shifts=(7, 6, 5, 4, 3, 2, 1, 0),
        in_width=1,
        in_signed=False,
        out_width=2,
    ),  # fmt: skip
}

#: SAR configurations with the analog front end each one is run with
#: (``AnalogFrontEnd.sample`` settings; the seed comes from the test).
SAR_CASES: dict[str, tuple[SARConfig, dict]] = {
    "ideal_binary": (SARConfig(columns=32), {}),
    "mismatch_noise": (SARConfig(columns=32), {"mismatch": 0.03, "offset": 0.5, "noise": 0.3}),
    # The unbiased early-stop fill (a gap register per column) on redundant weights; the
    # default fill on redundant weights runs in TILE_CONFIGS["redundant_unsigned"].
    "redundant10_midpoint": (
        SARConfig(columns=16, steps=10, weights=REDUNDANT_10, early_stop_fill="interval_midpoint"),
        {"mismatch": 0.03, "offset": 0.5, "noise": 0.3},
    ),
    "default256": (SARConfig(), {"mismatch": 0.02, "offset": 0.5, "noise": 0.3}),
}

#: Synthetic tiles (the committed captures are the other tile stimuli).
TILE_CONFIGS: dict[str, TileConfig] = {
    "small_phases2": TileConfig(
        SARConfig(columns=8), NMPUConfig(columns=8, lanes=2, phases=2, phase_shifts=(1, 0))
    ),
    "redundant_unsigned": TileConfig(
        SARConfig(columns=6, steps=10, weights=REDUNDANT_10),
        NMPUConfig(columns=6, lanes=3, in_signed=False),
    ),
}

#: Entries too large for Amaranth's Python simulator.
SLOW = {"paper_default", "default256"}

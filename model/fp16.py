"""Public FP16-baseline API (DESIGN 7): ``from model.fp16 import NMPUConfig, fp16_unit``.

Implemented in ``model.golden.fp16`` (binary16 operators on raw bit patterns and the
unit). Code outside ``model/`` imports these names from here (tests/test_layout.py).
"""

from model.golden.fp16 import (
    QNAN,
    fp16_add,
    fp16_from_int,
    fp16_ldexp,
    fp16_mul,
    fp16_params_from_fixed,
    fp16_unit,
    is_nan,
    to_int_rne,
)
from model.golden.nmpu import NMPUConfig

__all__ = [
    "NMPUConfig",
    "QNAN",
    "fp16_add",
    "fp16_from_int",
    "fp16_ldexp",
    "fp16_mul",
    "fp16_params_from_fixed",
    "fp16_unit",
    "is_nan",
    "to_int_rne",
]

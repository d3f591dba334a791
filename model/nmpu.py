"""Public NMPU API (DESIGN 3.5): ``from model.nmpu import NMPUConfig, nmpu``.

Implemented in ``model.golden.nmpu``. Code outside ``model/`` imports these names from
here, never from the implementing module (tests/test_layout.py checks it).
"""

from model.golden.nmpu import PARAM_FIELDS, NMPUConfig, nmpu

__all__ = ["NMPUConfig", "PARAM_FIELDS", "nmpu"]

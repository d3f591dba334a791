"""Public NMPU API of DESIGN 3.5: ``from model.nmpu import NMPUConfig, nmpu``.

Implemented in ``model.golden.nmpu``.
"""

from model.golden.nmpu import PARAM_FIELDS, NMPUConfig, nmpu

__all__ = ["NMPUConfig", "PARAM_FIELDS", "nmpu"]

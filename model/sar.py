"""Public SAR ADC API (DESIGN 4.5): ``SARConfig``, ``AnalogFrontEnd``, ``sar_convert``.

The digital back end is ``model.golden.sar``; the analog front end is
``model.analog.sar_frontend``, loaded only when ``AnalogFrontEnd`` is first used, so
that the RTL (which needs only ``SARConfig``) never loads an analog model. Code outside
``model/`` imports these names from here (tests/test_layout.py checks it).
"""

from typing import TYPE_CHECKING

from model.golden.sar import (
    EARLY_STOP_FILLS,
    SARConfig,
    correct,
    decision_masks,
    ideal_codes,
    interval_fill,
    sar_convert,
    step_of,
    to_signed,
)

if TYPE_CHECKING:
    from model.analog.sar_frontend import AnalogFrontEnd

__all__ = [
    "EARLY_STOP_FILLS",
    "AnalogFrontEnd",
    "SARConfig",
    "correct",
    "decision_masks",
    "ideal_codes",
    "interval_fill",
    "sar_convert",
    "step_of",
    "to_signed",
]


def __getattr__(name: str):
    if name == "AnalogFrontEnd":
        from model.analog.sar_frontend import AnalogFrontEnd

        return AnalogFrontEnd
    raise AttributeError(f"module 'model.sar' has no attribute {name!r}")

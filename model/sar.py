"""Public SAR ADC API of DESIGN 4.5: ``SARConfig``, ``AnalogFrontEnd``, ``sar_convert``.

The digital back end is ``model.golden.sar``; the analog front end is
``model.analog.sar_frontend``.
"""

from model.analog.sar_frontend import AnalogFrontEnd
from model.golden.sar import SARConfig, ideal_codes, sar_convert, to_signed

__all__ = ["AnalogFrontEnd", "SARConfig", "ideal_codes", "sar_convert", "to_signed"]

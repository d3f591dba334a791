"""Float models of the analog side: crossbar, aihwkit adapter, SAR front end, ADC metrics."""

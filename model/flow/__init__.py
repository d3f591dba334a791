"""The flow around the models: the network, calibration, capture files."""

"""The FP16 baseline of DESIGN section 7: binary16 operators (``ops``) and the unit (``unit``)."""

"""Uncertainty measures: one module per measure, each registered in ``UNCERTAINTY``."""

"""Entropy and mutual-information estimators: one module per estimator, each registered in ``ESTIMATORS``."""

"""Calculators of shared statistics (``bench/stats.py``): one module per statistic."""

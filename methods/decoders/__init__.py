"""Decoders (samplers): one module per rule, each registered in ``DECODERS``."""

"""Triton kernels beside their PyTorch references and CPU paths."""

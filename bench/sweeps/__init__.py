"""Sweep specs shipped with the package (``bench run`` with no argument runs ``default.yaml``)."""

"""Losses: classification and LM losses, robust and calibration losses, distillation, and policy
losses on token log-probabilities; one module per loss, each registered in ``LOSSES``.
:mod:`.base` holds the frame they share (input checks, ``ignore_index``, ``reduction``)."""

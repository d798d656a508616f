"""Classification and LM losses and regularisers: one module per loss, each registered in ``LOSSES``."""

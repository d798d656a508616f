"""Method families (decoders, uncertainty measures, estimators, losses) and their registries."""

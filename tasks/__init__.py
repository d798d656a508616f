"""Task adapters, each registered in ``entropy_bench.tasks.base.TASKS``."""

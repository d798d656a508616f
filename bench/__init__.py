"""entropy-bench: the runner side (CLI, sweeps, runner, cache, tracking, tables, models).

Kept free of imports so that ``import entropy_bench.methods`` loads no runner code.
"""

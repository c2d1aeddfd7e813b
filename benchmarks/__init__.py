"""Benchmark scripts: `python -m benchmarks.<name>`; results go to benchmarks/results/."""

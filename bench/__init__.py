"""recbce's benchmarks: entry scripts bench/bench_*.py, run as modules from the repository root
(bench/README.md)."""

"""On-demand benchmarks (not part of the test suite): ``python -m benchmarks`` runs them all
and writes reports/performance.md; ``python -m benchmarks.NAME`` runs one."""

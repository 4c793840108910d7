"""Timings of the lab's solvers (`make bench`): `python -m lab.benchmarks.bench_nmf`, `python -m
lab.benchmarks.bench_scale`."""

"""Evaluation and instrumentation helpers for the tests and benchmarks (not shipped in the wheel): the accuracy
evaluation set, call-timing truth, and per-process load counts."""

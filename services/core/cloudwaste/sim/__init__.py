"""Simulated cloud estates with known waste, for the demo, tests and benchmarks."""

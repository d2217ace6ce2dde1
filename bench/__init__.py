"""Benchmarks: `make bench` (python -m bench) runs them and prints a report next to the targets."""

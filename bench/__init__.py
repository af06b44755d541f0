"""Benchmarks and reproductions of the paper's experiments (``make bench``)."""

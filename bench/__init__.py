"""Benchmarks (`make bench`), the soak (`make soak`) and one-off measurements (not `make test`)."""

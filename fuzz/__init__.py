"""Long fuzzing harnesses (`make fuzz`), not part of `make test`."""

"""Test support, not part of the public API: tiny models built in code for tests and benchmarks."""

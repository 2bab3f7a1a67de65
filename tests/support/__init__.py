"""Helpers shared by tests and benchmarks (fixture builders, not product code)."""

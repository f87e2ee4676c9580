"""Benchmarks and the seeded corpus generator they (and some tests) use."""

"""Deterministic (seeded) synthetic data shared by the demo, the tests and the teaching mode."""

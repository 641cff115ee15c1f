"""Benchmarks: scripts that print their figures (not tests). Importable so tests can cover their building blocks."""

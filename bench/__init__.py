"""Benchmarks: scripts that print their figures and write them to bench/results/ (not tests); ``python -m bench.render``
turns those files into docs/benchmarks.md. Importable so tests can cover their building blocks."""

"""Research scripts: replays of recorded races (pruners on whole curves, samplers on surrogates), not benchmarks a
user runs; see README.md here for what each found."""

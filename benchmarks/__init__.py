"""Load harness for modelshelf: `python -m benchmarks.run --help` (see benchmarks/README.md)."""

"""The benchmarks: synth, the handler, the Lambda-faithful cold start and history.

`python -m bench` runs all four and prints their figures; `python -m bench.<name> --help` tells
what each measures, its budget and its options. Run from the repository root in the project's
venv (`make bench`, or `scripts/uv run --frozen python -m bench`).
"""

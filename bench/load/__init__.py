"""Load generator of issue 9: open-loop mixed traffic against `masterdata serve`.

Run it from the repository root as `.venv/bin/python -m bench.load --help`.
"""

"""The terminal side: one module per command (flags, running, printing); `cli.py` dispatches.

Each command module has `NAME`, `HELP`, `add_arguments(parser)` and `run(args) -> int`.
"""

"""`pathfinder-bridge doctor`: Pathfinder's troubleshooting list as checks.

`report.py` and `checks.py` are sans-I/O (observations in, checks out); `probes.py` observes.
"""

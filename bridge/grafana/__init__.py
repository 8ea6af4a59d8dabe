"""Talking to a Grafana as a client: how we sign in (`login.py`, sans-I/O), the saved-login file
(`state_file.py`) and the few HTTP APIs we read (`api.py`)."""

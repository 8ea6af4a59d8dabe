"""pathfinder-bridge: Grafana Pathfinder Live Sessions, headless, from Python."""

__version__ = "0.1.0"

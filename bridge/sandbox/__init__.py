"""The sandbox: a Grafana-contract app for the demo and the tests (never a real Grafana)."""

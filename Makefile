# pathfinder-bridge: every target installs what it needs first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NPM_STAMP := tests/interop/node_modules/.installed
PYTEST_ARGS ?=
DEMO_REPORT ?= build/demo-report

.PHONY: install system-packages test test-grafana test-pathfinder unit lint bench soak signal demo sandbox clean

install: $(STAMP) $(NPM_STAMP) system-packages

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,lint,cluster]'
	touch $@

$(NPM_STAMP): tests/interop/package.json tests/interop/package-lock.json
	cd tests/interop && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian's packages the tests use: Chromium (Playwright cannot download its own browser on
# these machines), coturn (the TURN test), redis-server and haproxy (the cluster tests).
# Installed only when missing; needs root.
system-packages:
	@missing=""; \
	if [ ! -x /usr/lib/chromium/chromium ] && [ ! -x /usr/bin/chromium ] && [ -z "$$PATHFINDER_BRIDGE_BROWSER_EXECUTABLE_PATH" ]; then missing="$$missing chromium chromium-headless-shell"; fi; \
	if ! command -v turnserver >/dev/null 2>&1; then missing="$$missing coturn"; fi; \
	if ! command -v redis-server >/dev/null 2>&1; then missing="$$missing redis-server"; fi; \
	if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then missing="$$missing haproxy"; fi; \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# Two pytest processes at once: the sync-browser tests and the rest (tests/run_suite.py).
test: install
	$(BIN)/python tests/run_suite.py $(PYTEST_ARGS)

# The same flows against a real Grafana: GRAFANA_URL=http://... [GRAFANA_USER=.. GRAFANA_PASSWORD=..]
test-grafana: install
	@test -n "$$GRAFANA_URL" || (echo "set GRAFANA_URL to a Grafana to test against" && exit 2)
	$(BIN)/pytest tests/grafana $(PYTEST_ARGS)

# Pathfinder's own Live Sessions code against ours, bundled at test time from a checkout of
# grafana-pathfinder-app: PATHFINDER_SRC=/path/to/grafana-pathfinder-app make test-pathfinder
test-pathfinder: install
	@test -n "$$PATHFINDER_SRC" || (echo "set PATHFINDER_SRC to a grafana-pathfinder-app checkout" && exit 2)
	$(BIN)/pytest tests/pathfinder $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check bridge tests benchmarks
	$(BIN)/ruff format --check bridge tests benchmarks
	$(BIN)/mypy --strict bridge

bench: install
	$(BIN)/python benchmarks/signaling.py --cluster
	$(BIN)/python benchmarks/fanout.py
	$(BIN)/python benchmarks/replay.py
	$(BIN)/python benchmarks/swarm.py

# Ten minutes of events and faults (not part of bench or CI).
soak: install
	$(BIN)/python benchmarks/soak.py

signal: $(STAMP)
	$(BIN)/pathfinder-bridge signal

# Prints the event flow, a summary table and the path of its session report.
demo: $(STAMP) system-packages
	$(BIN)/pathfinder-bridge demo --report $(DEMO_REPORT)

sandbox: $(STAMP)
	$(BIN)/pathfinder-bridge sandbox

clean:
	rm -rf $(VENV) tests/interop/node_modules .pytest_cache .mypy_cache .ruff_cache

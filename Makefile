# The two commands: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
CONSTRAINTS := constraints.txt
RUN_STAMP  := $(VENV)/.stamp-run
TEST_STAMP := $(VENV)/.stamp-test
NODE_STAMP := node_modules/.stamp-npm
ARGS ?=

.PHONY: run test lint bench crosscheck headless screenshot clean sysdeps-run sysdeps-test sysdeps-lint

run: sysdeps-run $(RUN_STAMP)
	$(BIN)/cartrack-desktop $(ARGS)

headless: $(RUN_STAMP)
	$(BIN)/cartrack-desktop --headless $(ARGS)

test: sysdeps-test $(TEST_STAMP)
	$(BIN)/python -m pytest $(ARGS)

lint: $(TEST_STAMP) $(NODE_STAMP)
	$(BIN)/ruff check cartrack_desktop tests bench scripts
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/vulture
	$(BIN)/python scripts/check_sizes.py cartrack_desktop
	node_modules/.bin/eslint resources/map

bench: sysdeps-test $(TEST_STAMP)
	$(BIN)/python -m bench $(ARGS)

# the same quantities measured from outside the running app (see bench/crosscheck.py)
crosscheck: sysdeps-test $(TEST_STAMP)
	$(BIN)/python -m bench.crosscheck $(ARGS)
	xvfb-run -a -s "-screen 0 1280x800x24" $(BIN)/python -m bench.crosscheck --gui $(ARGS)

sysdeps-run:
	@scripts/system-deps.sh run

sysdeps-test:
	@scripts/system-deps.sh test

sysdeps-lint:
	@scripts/system-deps.sh lint

$(VENV)/.created:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (found " + sys.version.split()[0] + "); set PYTHON=/path/to/python3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	touch $@

$(RUN_STAMP): $(VENV)/.created pyproject.toml $(CONSTRAINTS)
	$(PIP) install -q -c $(CONSTRAINTS) -e .
	touch $@

$(TEST_STAMP): $(RUN_STAMP) pyproject.toml $(CONSTRAINTS)
	$(PIP) install -q -c $(CONSTRAINTS) -e ".[dev]"
	touch $@

# eslint and its plugins, exactly as package-lock.json pins them (development only, never shipped)
$(NODE_STAMP): package.json package-lock.json | sysdeps-lint
	npm ci --no-audit --no-fund
	touch $@

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache node_modules

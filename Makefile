# sathub — two commands for a fresh machine (see README):
#   make demo   build the demo archive and serve it
#   make test   install everything and run all tests
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA ?= demo-data
PORT ?= 8080

.PHONY: demo test install serve bench conformance clean learn stack

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/sathub demo --data $(DATA) --port $(PORT)

# the tutorials in JupyterLab (docs/tutorials.md): the demo archive, the optional `learn` extra
learn: $(STAMP)
	test -f $(DATA)/catalog.db || $(BIN)/sathub demo --data $(DATA) --no-serve
	$(BIN)/pip install --quiet -e '.[learn]'
	$(BIN)/sathub learn --data $(DATA)

serve: $(STAMP)
	$(BIN)/sathub serve --data $(DATA) --port $(PORT)

# the scale-out stack on this machine: PostgreSQL, S3 server, Dask, 2 API servers behind nginx
# (docs/deploy.md); Ctrl-C stops it
stack: $(STAMP)
	$(BIN)/sathub stack up

test: $(STAMP)
	$(BIN)/ruff check --select F src tests bench
	$(BIN)/mypy src/sathub
	# one hash seed for every xdist worker: schemathesis collects an OpenAPI path's operations in
	# set order, and workers that collect in different orders refuse to start ("Different tests
	# were collected")
	PYTHONHASHSEED=0 $(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=40 tests

conformance: $(STAMP)
	$(BIN)/python -m pytest -q tests/test_conformance.py

bench: $(STAMP)
	$(BIN)/python bench/bench_catalog.py

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache

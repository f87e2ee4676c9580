# Pressroom: the two commands a newcomer needs are `make demo` and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: venv demo test lint up down status clean

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

## make demo: start the embedded stack and run a real job on examples/blog end to end
demo: venv
	$(VENV)/bin/pressroom demo

## make test: lint, then the whole suite against the real Temporal dev server and Postgres
test: venv lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .

up: venv
	$(VENV)/bin/pressroom dev up

down: venv
	$(VENV)/bin/pressroom dev down

status: venv
	$(VENV)/bin/pressroom dev status

clean:
	-$(VENV)/bin/pressroom dev down
	rm -rf .pressroom

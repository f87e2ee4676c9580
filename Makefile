# Pressroom: the two commands a newcomer needs are `make demo` and `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: venv demo test test-fast fuzz lint browser bench bench-smoke bench-peer bench-real bench-incremental bench-vision bench-jobs bench-hooks bench-search up down status clean

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
test: venv browser lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

## make test-fast: lint and the unit tests (tests/unit: no Temporal, no Postgres), under a minute
test-fast: venv lint
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

## make fuzz: the source-tree property test (tests/e2e/sources/test_fuzz_sources.py) with
## 2,000 random examples, each a real job on the embedded stack; `make test` runs 12 derandomized ones
fuzz: venv
	HYPOTHESIS_PROFILE=fuzz $(VENV)/bin/pytest tests/e2e/sources/test_fuzz_sources.py --timeout=0 \
		--hypothesis-show-statistics $(PYTEST_ARGS)

## make browser: Debian's chromium for the search page's browser test (never a downloaded build)
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update && apt-get install -y --no-install-recommends chromium)

lint: venv
	$(VENV)/bin/ruff check .

## make bench: the default scenarios end to end: generated corpora (100 to 10,000 posts, local and
## API-latency embedders, API load) and the real ones (../shared/corpora go-blog, hugo-docs,
## jekyll-docs: local beside both floors, API at 0 and 300 ms beside the LlamaIndex peer; the
## 10,000-post mix, local); tables in bench/results/latest.md, data in latest.json. The peer
## needs `make bench-peer` once (without it its columns say "missing").
## Runs in tmpfs when there is one: on a VM disk, file-creation cost drifts with churn and
## would measure the disk rather than the code (see README, Benchmarks).
BENCH_ARGS ?=
BENCH_TMPDIR ?= $(if $(wildcard /dev/shm),/dev/shm,$(or $(TMPDIR),/tmp))
bench: venv
	TMPDIR=$(BENCH_TMPDIR) $(PY) -m bench.run $(BENCH_ARGS)

## make bench-real: the real corpora only (`--scenarios real`)
bench-real: venv
	TMPDIR=$(BENCH_TMPDIR) $(PY) -m bench.run --scenarios real $(BENCH_ARGS)

## make bench-incremental: a full build, the same source again (nothing changed) and one post
## changed, on each real corpus with the local embedder (bench/incremental.py)
bench-incremental: venv
	for c in go-blog hugo-docs jekyll-docs; do \
		TMPDIR=$(BENCH_TMPDIR) $(PY) -m bench.incremental --corpus $$c --scenarios hashing || exit 1; \
	done

## make bench-vision: 435 image descriptions against a provider at 1 s a request allowing 600
## requests a minute (bench/vision_rate.py): wall, requests in flight over time, 429s
bench-vision: venv
	TMPDIR=$(BENCH_TMPDIR) $(PY) -m bench.vision_rate --images 435 --latency 1 --rpm 600

## make bench-jobs: GET /jobs/{jobId} at 16 clients for a finished and a running job, with the
## worker running and stopped (bench/job_status.py); median of 3 runs, a table on stdout
bench-jobs: venv
	TMPDIR=$(BENCH_TMPDIR) $(PY) -m bench.job_status $(BENCH_ARGS)

## make bench-hooks: how fast POST /hooks/github answers (a push that starts a build, a
## redelivery, an ignored push, a bad signature), sequential, median of 3 runs (bench/hook_latency.py)
bench-hooks: venv
	TMPDIR=$(BENCH_TMPDIR) $(PY) -m bench.hook_latency $(BENCH_ARGS)

## make bench-search: /search through the API over 3 sites x 3 revisions of 10,000 real posts
## (bench/search_speed.py): sequential per mode and filter, and 16 clients, answer cache off
## and on; medians of 3 runs. The database is built on first use (about 15 minutes) and kept
## in SEARCH_BENCH_PGDATA for the next run.
SEARCH_BENCH_PGDATA ?= $(BENCH_TMPDIR)/pressroom-search-bench-pg
bench-search: venv
	TMPDIR=$(BENCH_TMPDIR) $(PY) -m bench.search_speed --pgdata $(SEARCH_BENCH_PGDATA) $(BENCH_ARGS)

## make bench-peer: the LlamaIndex peer's own virtualenv (.bench-peer/, gitignored), pinned in
## bench/peer-requirements.txt;
## never a Pressroom dependency: bench/run.py runs bench/peer.py with its python
PEER_VENV ?= .bench-peer
PEER_STAMP := $(PEER_VENV)/.installed-stamp
$(PEER_STAMP): bench/peer-requirements.txt
	@test -x $(PEER_VENV)/bin/python || python3 -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(PEER_VENV)/bin/python -m pip install --quiet -r bench/peer-requirements.txt
	@touch $(PEER_STAMP)

bench-peer: $(PEER_STAMP)

## make bench-smoke: the 100-post scenario only (about a minute)
bench-smoke: venv
	TMPDIR=$(BENCH_TMPDIR) $(PY) -m bench.run --scenarios local-100 --load-requests 200 $(BENCH_ARGS)

up: venv
	$(VENV)/bin/pressroom dev up

down: venv
	$(VENV)/bin/pressroom dev down

status: venv
	$(VENV)/bin/pressroom dev status

clean:
	-$(VENV)/bin/pressroom dev down
	rm -rf .pressroom

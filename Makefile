# Two commands: `make run` (set up + run the supervised baseline on the embedded digits data) and
# `make test` (set up + run the test suite). Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIPELINE ?= supervised
export KEDRO_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export MPLBACKEND := Agg

.PHONY: setup setup-gpu run test test-all ui clean digits-table results

# TensorFlow is one of two extras of the project (pyproject.toml), never both (they install the same
# `tensorflow` module): TF=cpu (tensorflow-cpu, the default) or TF=gpu (tensorflow[and-cuda], for a
# CUDA machine; `make setup-gpu`). The choice is kept in $(VENV)/.tf, so a later `make run` or
# `make test` keeps it; switching removes the other distribution first.
TF ?= $(shell cat $(VENV)/.tf 2>/dev/null || echo cpu)
ifeq ($(filter $(TF),cpu gpu),)
$(error TF must be cpu or gpu, got '$(TF)')
endif
OTHER_TF := $(if $(filter gpu,$(TF)),tensorflow-cpu,tensorflow)

$(BIN)/.installed-$(TF): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@if $(BIN)/pip show --quiet $(OTHER_TF) 2>/dev/null; then \
		echo "TF=$(TF): removing $(OTHER_TF) (and any tensorflow beside it) first"; \
		$(BIN)/pip uninstall --quiet --yes tensorflow tensorflow-cpu; fi
	$(BIN)/pip install --quiet -e ".[$(TF),test]"
	rm -f $(BIN)/.installed $(BIN)/.installed-*
	echo $(TF) > $(VENV)/.tf
	touch $@

setup: $(BIN)/.installed-$(TF)

setup-gpu:
	$(MAKE) setup TF=gpu

run: setup
	$(BIN)/kedro run --pipelines=$(PIPELINE)

# Every test: the suite with the slow ones (kill/resume tracking, multi-worker kills: --runslow),
# then the full-size smoke runs of every paper env (tests/test_paper_smoke.py, marked slow +
# paper_smoke; they print each net's parameter count and seconds per training step, with -s), so
# CI (.ci/run = make test) runs everything the README promises.
# -n 2: two pytest-xdist workers (measured 1.5x faster than one process on 2 cores: most of a
# small test's time is Python and graph tracing, not BLAS); PYTEST_WORKERS=0 runs in one process.
# --dist worksteal + the longest tests first (@pytest.mark.heavy, tests/conftest.py): an idle worker
# takes half of the other's queue, so both end within a few seconds of each other.
# --durations=15: the 15 longest tests at the end of the run (where the suite's time goes).
PYTEST_WORKERS ?= 2
test: setup
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist worksteal --durations=15 --runslow -m "not paper_smoke" tests
	$(BIN)/python -m pytest -q -s --runslow -m paper_smoke tests/test_paper_smoke.py

test-all: setup
	$(BIN)/python -m pytest -q --runslow tests

# The digits defaults table: every pipeline, 3 seeds, 100 labels, the conf/base defaults
# (one sweep, ~25 minutes on 2 cores); writes reports/digits/results.md|.csv|.png.
digits-table: setup
	$(BIN)/ssl-pipelines sweep --pipelines supervised,m1,m2,m1_m2,inversion,swwae_vgg,hybridnet,mean_teacher,r2d2 \
		--seeds 0,1,2 --labels 100 --run-name digits-defaults --out reports/digits

# benchmarks/RESULTS.md from the committed MLflow stores (benchmarks/stores/*.db; no training), then
# the README's results table from it: the commands in RESULTS.md's header, in order.
# `results --all-sections` fails, naming each section and its missing store or sweep parent run (and
# writes nothing), while a section of benchmarks/results_sections.yml has no committed store yet: today
# precision_speed, precision_parity_mnist, precision_parity_cifar10 (benchmarks/precision.py),
# claim_inversion and claim_m1 (benchmarks/claims.py); run their drivers first, or add
# --allow-missing to that command for "Not generated yet" placeholders in their place.
# tests/test_results_regeneration.py checks the other sections byte for byte.
results: setup
	$(BIN)/ssl-pipelines results --all-sections --spec benchmarks/results_sections.yml --write benchmarks/RESULTS.md
	$(BIN)/python benchmarks/m2_per_pass.py --summary --write benchmarks/RESULTS.md
	$(BIN)/ssl-pipelines results --readme benchmarks/readme_results.yml --write README.md

ui: setup
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db

# Empties data/0*/ (the pipelines' outputs, and data/01_raw's caches) but keeps each folder's
# .gitkeep; removes the default MLflow store. Plain POSIX sh (make's shell), no bash globs.
clean:
	find data -mindepth 2 ! -name .gitkeep -delete
	rm -f mlflow.db

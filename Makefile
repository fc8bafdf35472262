# curation-pipeline — `make demo`, `make test`, `make bench`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install airflow demo test bench bench-setup eval clean

# Airflow lives in its own venv (dags/ tests run under it); rebuilt only when its requirements change.
AIRFLOW_VENV  ?= .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip wheel
	$(BIN)/python -m pip install -q -e '.[test,gcp,dask]'
	touch $(STAMP)

## The langid, quality and license-matcher kernels compiled ahead of time (pipeline/compiled_kernels.py): workers then
## run them without numba/LLVM. Rebuilt when a kernel changes; without it the JIT kernels run.
KERNELS_BUILD := pipeline/_compiled_kernels.json
$(KERNELS_BUILD): $(STAMP) pipeline/compiled_kernels.py pipeline/lang/fastpredict.py pipeline/quality/kernels.py pipeline/compliance/kernels.py pipeline/minhash/kernels.py
	$(BIN)/python -m pipeline.compiled_kernels build || echo "make: compiled kernels not built; the numba JIT kernels run"

## The package's bytecode, compiled ahead: an editable install writes none, and where
## PYTHONDONTWRITEBYTECODE is set no run writes it either, so every process (the command, each
## local worker) would compile each module it imports. Python ignores a .pyc older than its source.
BYTECODE := $(VENV)/.bytecode
$(BYTECODE): $(STAMP) $(shell find pipeline -name '*.py')
	$(BIN)/python -m compileall -q pipeline
	touch $(BYTECODE)

install: $(STAMP) $(KERNELS_BUILD) $(BYTECODE)

$(AIRFLOW_STAMP): dags/requirements-airflow.txt
	test -x $(AIRFLOW_VENV)/bin/python || $(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install -q --upgrade pip wheel
	$(AIRFLOW_VENV)/bin/python -m pip install -q -r dags/requirements-airflow.txt
	touch $(AIRFLOW_STAMP)

airflow: $(AIRFLOW_STAMP)

## Curate the sample corpus with the embedded defaults and print the run summary.
demo: $(STAMP) $(BYTECODE)
	$(BIN)/curate run --input examples/corpus --output out/demo --overwrite
	$(BIN)/curate verify out/demo
	$(BIN)/curate audit out/demo --query drop_reasons
	$(BIN)/curate report out/demo
	@echo "--- the same corpus with thinking-trajectory synthesis (programmatic teacher, examples/trajectories.yaml)"
	$(BIN)/curate run --input examples/corpus --output out/demo-trajectories --overwrite --quiet --config examples/trajectories.yaml
	$(BIN)/curate audit out/demo-trajectories "SELECT template_id, lang, count(*) AS samples FROM trajectories GROUP BY ALL ORDER BY samples DESC"

## The whole test suite (unit, end-to-end on real runners, DAGs). tests/e2e/test_report.py renders the
## data card in headless Chromium: installed here (Debian package chromium) when missing and we are root.
test: $(STAMP) $(AIRFLOW_STAMP) $(KERNELS_BUILD) $(BYTECODE)
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get install -y -q chromium >/dev/null || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null) \
		|| echo "make test: could not install chromium; the Chromium report test will skip"; fi
	$(BIN)/python -m pytest -q -rs -p no:cacheprovider

## Benchmark prerequisites: Debian documentation packages (the corpus text) and .venv-datatrove.
bench-setup:
	PYTHON=$(PYTHON) sh benchmarks/setup_bench.sh

## Ours vs datatrove side by side (benchmarks/side_by_side.py; subset: BENCH_SIZES=10000 BENCH_CORPORA=english …).
bench: $(STAMP) $(BYTECODE) bench-setup
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	$(BIN)/python benchmarks/side_by_side.py

## Accuracy against external ground truth (local checkouts; docs/benchmarks.md) → benchmarks/RESULTS.md.
eval: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	$(BIN)/python benchmarks/eval/run_eval.py

clean:
	rm -rf out build dist *.egg-info

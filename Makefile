# Two commands set everything up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
VIZ_STAMP := $(VENV)/.installed-viz
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export KEDRO_DISABLE_TELEMETRY := 1
export KEDRO_LOGGING_CONFIG := $(CURDIR)/conf/logging.yml
# the logging config's handler (forgeml.logs: Rich on a terminal, plain lines in a log) may be loaded
export KEDRO_LOGGING_MODULE_ALLOWLIST := forgeml.logs
export DVC_NO_ANALYTICS := 1
export MLFLOW_DISABLE_TELEMETRY := true
# What runs (a folder under conf/experiments) and where (a Kedro env: local, test, postgres) are independent.
EXPERIMENT ?= breast_cancer
ENV ?= local
STAGE ?= release
WORKERS ?= 2
VIZ_PORT ?= 4141
export FORGEML_EXPERIMENT := $(EXPERIMENT)
export KEDRO_ENV := $(ENV)
PG := postgresql://postgres@127.0.0.1:5432
# Where `make push` sends validated data and models unless DVC already has a default remote: a folder
# every machine mounts (beside the checkout by default, so clones on one machine share it).
DVC_REMOTE ?= $(abspath $(CURDIR)/../forgeml-dvc-remote)

.PHONY: install run push pull tune retrain serve test test-full ui viz mlflow-server bench gpu-check dvc-yaml airflow-dag

install: $(STAMP)

# uv installs what pip would, with the same constraints, in 85 s instead of 230 (2-core AMD EPYC, AVX2). It reads
# no pip configuration, so it is handed the wheel folders pip is (on these machines, the CPU build of torch).
FIND_LINKS := $(or $(PIP_FIND_LINKS),$(shell python3 -m pip config get global.find-links 2>/dev/null))
# Bytecode compiled at install: with PYTHONDONTWRITEBYTECODE set, imports would otherwise compile every time.
UV_INSTALL = $(VENV)/bin/uv pip install --quiet --python $(VENV)/bin/python --compile-bytecode -c constraints.txt \
	$(addprefix --find-links ,$(FIND_LINKS))

# Reinstalls only when the dependencies change; otherwise `make run` starts at once.
$(STAMP): pyproject.toml constraints.txt
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	test -x $(VENV)/bin/uv || $(VENV)/bin/pip install --quiet -c constraints.txt uv
	$(UV_INSTALL) -e ".[dev]"
	touch $(STAMP)

# The tests also need Airflow (to import the retrain DAG), kedro-viz and Chromium (to look at the MLflow UI
# and the pipelines' DAG).
$(TEST_STAMP): $(STAMP)
	$(UV_INSTALL) -e ".[dev,airflow,viz]"
	touch $(VIZ_STAMP)
	command -v chromium >/dev/null || { $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq chromium >/dev/null; }
	touch $(TEST_STAMP)

.dvc/config:
	dvc init --quiet $$(git rev-parse --git-dir >/dev/null 2>&1 || echo --no-scm)
	dvc config core.analytics false

## run: an experiment (EXPERIMENT=breast_cancer by default; digits, reviews, or your own conf/experiments/NAME)
##      through every pipeline as DVC stages in ENV (local by default; test, postgres), then its candidates;
##      STAGE=data (tune, train, compress, evaluate) stops after that stage
run: install .dvc/config
	@# dvc.yaml in step with the pipelines, catalog and experiments first, then what `dvc repro` does with one
	@# process per stage, in one (kedro, torch, MLflow start once)
	forgeml repro $(EXPERIMENT)-$(STAGE)
	@[ "$(STAGE)" != release ] || forgeml report --experiment $(EXPERIMENT)

## push: the data and models of EXPERIMENT's stages up to STAGE to the DVC remote: DVC's default remote
##       (`dvc remote add -d NAME URL` for S3, SSH, ...) or else the folder DVC_REMOTE
push: install .dvc/config
	dvc remote default >/dev/null 2>&1 || dvc remote add --local --default shared "$(DVC_REMOTE)"
	dvc push --with-deps $(EXPERIMENT)-$(STAGE)

## pull: what another machine pushed for EXPERIMENT's stages up to STAGE (its dvc.lock, from git), from the same remote
pull: install .dvc/config
	dvc remote default >/dev/null 2>&1 || dvc remote add --local --default shared "$(DVC_REMOTE)"
	dvc pull --with-deps $(EXPERIMENT)-$(STAGE)

## tune: the tuning study of EXPERIMENT alone, with WORKERS local worker processes (resumes the study);
##       ENV=postgres puts the study and the runs on PostgreSQL (start `make mlflow-server` first)
tune: install
	kedro run --pipelines tune --params tune.workers=$(WORKERS)

## retrain: retrain the champion's recipe of EXPERIMENT if its raw data changed; promote only past the gate
##          (what cron or a systemd timer calls; see docs/retraining.md)
retrain: install
	forgeml retrain

## serve: the champion of EXPERIMENT over HTTP on http://127.0.0.1:5002/invocations, once its files are verified
serve: install
	forgeml verify --model "$(EXPERIMENT)" --alias champion
	MLFLOW_TRACKING_URI=sqlite:///mlruns/mlflow.db mlflow models serve -m "models:/$(EXPERIMENT)@champion" \
	  --env-manager local --host 127.0.0.1 --port 5002

## test: the test suite (what CI runs) in TEST_WORKERS processes (2 by default: most tests wait on subprocesses,
##       stores and servers, and one process left the second core idle about half the time); each test file runs
##       in one worker, so a file's module-scoped projects are built once. One thread per process (torch, BLAS,
##       OpenMP): two default projects built side by side took 290 s each on two threads apiece, 87 s on one
TEST_WORKERS ?= 2
test: $(TEST_STAMP)
	OMP_NUM_THREADS=1 pytest -n $(TEST_WORKERS) --dist loadfile

## test-full: the shipped experiments run as shipped, against their accuracy bars (digits: about 5 minutes)
test-full: $(TEST_STAMP)
	pytest -m full

$(VIZ_STAMP): $(STAMP)
	$(UV_INSTALL) -e ".[dev,viz]"
	touch $(VIZ_STAMP)

## viz: the pipelines as one DAG (the same for tables, images and texts) with kedro-viz, on http://127.0.0.1:$(VIZ_PORT)
viz: $(VIZ_STAMP)
	kedro viz run --host 127.0.0.1 --port $(VIZ_PORT) --no-browser

## ui: the MLflow UI over the embedded store, on http://127.0.0.1:5000
ui: install
	mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db --host 127.0.0.1 --port 5000

## mlflow-server: an MLflow tracking server on 127.0.0.1:5001 backed by PostgreSQL (for conf/postgres)
mlflow-server: install
	for db in forgeml_mlflow forgeml_optuna; do \
	  psql "$(PG)/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname='$$db'" | grep -q 1 || psql "$(PG)/postgres" -c "CREATE DATABASE $$db"; \
	done
	mlflow server --backend-store-uri $(PG)/forgeml_mlflow --artifacts-destination mlruns/server-artifacts \
	  --host 127.0.0.1 --port 5001 --workers 1

## bench: the benchmarks (side-by-side ratios, reports under benchmarks/reports/)
bench: install
	python benchmarks/training_loop.py --model mlp
	python benchmarks/training_loop.py --model resnet
	python benchmarks/compression.py --experiment breast_cancer
	python benchmarks/compression.py --experiment digits
	python benchmarks/text.py --experiment reviews
	python benchmarks/augmentation_robustness.py
	python benchmarks/table_augmentation.py
	python benchmarks/tuning.py
	python benchmarks/tuning.py workers --model resnet
	python benchmarks/distributed.py

## gpu-check: on a machine with a GPU, `processes` against its GPUs, the digits experiment end to end and the
##            training throughput benchmark (bounded by CHECK_LIMIT, 560 s; reports in benchmarks/reports/)
gpu-check: install
	PYTHON=$(VENV)/bin/python bash benchmarks/gpu_check.sh

## airflow-dag: regenerate the retrain DAG in airflow/dags with kedro-airflow (from airflow/dag_template.j2)
airflow-dag: $(TEST_STAMP)
	kedro airflow create --pipelines retrain --group-by namespace --env $(ENV) -j airflow/dag_template.j2 -t airflow/dags

## dvc-yaml: regenerate dvc.yaml after changing a pipeline or the catalog
dvc-yaml: install
	forgeml dvc

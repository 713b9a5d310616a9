# Two commands set everything up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export KEDRO_DISABLE_TELEMETRY := 1
export KEDRO_LOGGING_CONFIG := $(CURDIR)/conf/logging.yml
export DVC_NO_ANALYTICS := 1
EXPERIMENT ?= breast_cancer
WORKERS ?= 2
ENV ?= $(if $(filter breast_cancer,$(EXPERIMENT)),local,$(EXPERIMENT))
PG := postgresql://postgres@127.0.0.1:5432

.PHONY: install run tune test ui mlflow-server bench dvc-yaml

install: $(STAMP)

# Reinstalls only when the dependencies change; otherwise `make run` starts at once.
$(STAMP): pyproject.toml constraints.txt
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

.dvc/config:
	dvc init --quiet $$(git rev-parse --git-dir >/dev/null 2>&1 || echo --no-scm)
	dvc config core.analytics false

## run: an experiment (EXPERIMENT=breast_cancer by default; digits, or your own conf/NAME) through
##      every pipeline as DVC stages, then the table of its candidates
run: install .dvc/config
	@grep -q "^  $(EXPERIMENT)-release:" dvc.yaml || forgeml dvc
	dvc repro $(EXPERIMENT)-release
	forgeml report --experiment $(EXPERIMENT)

## tune: the tuning study of EXPERIMENT alone, with WORKERS local worker processes (resumes the study);
##       ENV=postgres puts the study and the runs on PostgreSQL (start `make mlflow-server` first)
tune: install
	kedro run --env $(ENV) --pipelines tune --params tune.workers=$(WORKERS)

## test: the whole test suite
test: install
	pytest

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
	python benchmarks/augmentation_robustness.py
	python benchmarks/tuning.py

## dvc-yaml: regenerate dvc.yaml after changing a pipeline or the catalog
dvc-yaml: install
	forgeml dvc

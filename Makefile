# Two commands set everything up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export KEDRO_DISABLE_TELEMETRY := 1
export KEDRO_LOGGING_CONFIG := $(CURDIR)/conf/logging.yml
export DVC_NO_ANALYTICS := 1
EXPERIMENT ?= breast_cancer

.PHONY: install run test ui bench dvc-yaml clean-run

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

## test: the whole test suite
test: install
	pytest

## ui: the MLflow UI over the embedded store, on http://127.0.0.1:5000
ui: install
	mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db --host 127.0.0.1 --port 5000

## bench: the benchmarks (side-by-side ratios, reports under benchmarks/reports/)
bench: install
	python benchmarks/training_loop.py --model mlp
	python benchmarks/training_loop.py --model resnet
	python benchmarks/augmentation_robustness.py

## dvc-yaml: regenerate dvc.yaml after changing a pipeline or the catalog
dvc-yaml: install
	forgeml dvc

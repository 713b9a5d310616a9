"""Hyperparameter and structure search with Optuna: a declared space, resumable studies, N workers."""

from forgeml.tuning.space import SearchSpace, apply_overrides
from forgeml.tuning.study import TuneSettings, plots, run_study, study_name, summary, tune_candidate

__all__ = ["SearchSpace", "TuneSettings", "apply_overrides", "plots", "run_study", "study_name", "summary", "tune_candidate"]

"""A search space declared in YAML, checked before the first trial, sampled per trial.

Each key names what it varies: ``training.<option>`` (any TrainConfig field) or
``model.<option>`` (any option of the tuned candidate's model family)::

    training.lr: {low: 1.0e-4, high: 1.0e-1, log: true}        # float (log scale)
    training.batch_size: {choices: [16, 32, 64]}               # categorical
    model.dropout: {low: 0.0, high: 0.5}
    model.hidden:                                              # a list: its length, then each item
      length: {low: 1, high: 3}                                # widths exist only for the layers drawn
      item: {low: 16, high: 256, log: true}

Integers give an integer dimension, floats a float one. Because names are checked against the
family's own options, a new model family needs no change here.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, fields
from typing import Any

from forgeml.errors import ConfigError

SECTIONS = ("training", "model")


@dataclass(frozen=True)
class Dimension:
    name: str
    kind: str  # "int", "float", "categorical" or "list"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()
    length: "Dimension | None" = None
    item: "Dimension | None" = None

    def suggest(self, trial) -> Any:
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        if self.kind == "float":
            return trial.suggest_float(self.name, float(self.low), float(self.high), log=self.log)
        count = self.length.suggest(trial)
        return [Dimension(f"{self.name}[{index}]", **_fields_of(self.item)).suggest(trial) for index in range(count)]


def _fields_of(dimension: Dimension) -> dict[str, Any]:
    return {f.name: getattr(dimension, f.name) for f in fields(dimension) if f.name != "name"}


def _dimension(name: str, spec: Any) -> Dimension:
    where = f"search space entry {name!r}"
    if not isinstance(spec, dict):
        raise ConfigError(f"The {where} must be a mapping such as {{low: 1, high: 10}} or {{choices: [...]}}, not {spec!r}.")
    if "length" in spec or "item" in spec:
        if set(spec) != {"length", "item"}:
            raise ConfigError(f"The {where} is a list: give exactly `length` and `item`, not {sorted(spec)}.")
        length = _dimension(f"{name}.length", spec["length"])
        if length.kind != "int" or length.low < 1:
            raise ConfigError(f"The {where}: `length` must be integers of at least 1, not {spec['length']}.")
        return Dimension(name, "list", length=length, item=_dimension(f"{name}[i]", spec["item"]))
    if "choices" in spec:
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices or set(spec) - {"choices"}:
            raise ConfigError(f"The {where} needs a non-empty list `choices` and nothing else.")
        return Dimension(name, "categorical", choices=tuple(choices))
    unknown = set(spec) - {"low", "high", "log"}
    if unknown or not {"low", "high"} <= set(spec):
        raise ConfigError(f"The {where} needs `low` and `high` (and optionally `log`); found {sorted(spec)}.")
    low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
        raise ConfigError(f"The {where}: `low` and `high` must be numbers, not {low!r} and {high!r}.")
    if low > high:
        raise ConfigError(f"The {where} is an impossible range: low {low} is above high {high}.")
    if log and low <= 0:
        raise ConfigError(f"The {where} is on a log scale, so `low` must be above 0, not {low}.")
    kind = "int" if isinstance(low, int) and isinstance(high, int) else "float"
    return Dimension(name, kind, low=low, high=high, log=log)


def _known_options(section: str, family: str) -> set[str]:
    if section == "training":
        from forgeml.training.loop import TrainConfig

        return {f.name for f in fields(TrainConfig)} - {"seed", "device", "progress"}
    from forgeml.models import MODEL_FAMILIES

    parameters = inspect.signature(MODEL_FAMILIES[family]).parameters
    return {name for name, p in parameters.items() if p.default is not p.empty}  # all but input shape and classes


@dataclass(frozen=True)
class SearchSpace:
    dimensions: tuple[Dimension, ...]

    @classmethod
    def from_config(cls, space: dict[str, Any], family: str) -> "SearchSpace":
        """Check every entry against what ``family`` and the training loop accept; raise ConfigError naming the entry."""
        from forgeml.models import MODEL_FAMILIES

        if family not in MODEL_FAMILIES:
            raise ConfigError(f"Only torch model families can be tuned ({', '.join(MODEL_FAMILIES)}), not {family!r}.")
        if not space:
            raise ConfigError("The search space `tune.space` is empty: declare at least one entry.")
        dimensions = []
        for name, spec in space.items():
            section, _, option = name.partition(".")
            if section not in SECTIONS or not option:
                raise ConfigError(f"Search space entry {name!r} must start with `training.` or `model.`.")
            known = _known_options(section, family)
            if option not in known:
                raise ConfigError(
                    f"Search space entry {name!r}: {family!r} has no {section} option {option!r}. "
                    f"Known {section} options: {', '.join(sorted(known))}."
                )
            dimensions.append(_dimension(name, spec))
        return cls(tuple(dimensions))

    def suggest(self, trial) -> dict[str, dict[str, Any]]:
        """Draw one point: ``{"training": {...}, "model": {...}}`` overrides for the candidate's spec."""
        overrides: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
        for dimension in self.dimensions:
            section, _, option = dimension.name.partition(".")
            overrides[section][option] = dimension.suggest(trial)
        return overrides


def apply_overrides(spec: dict[str, Any], overrides: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The candidate spec with a trial's (or the best trial's) overrides on top."""
    return {
        **spec,
        "model": {**spec.get("model", {}), **overrides.get("model", {})},
        "training": {**spec.get("training", {}), **overrides.get("training", {})},
    }

"""Turn a suite declared in conf into Great Expectations expectations, run it, and report.

A suite in conf is compact and readable::

    columns:                 # the exact feature columns, each with its allowed range
      mean radius: [0, 60]
    labels: [0, 1]           # the label set
    min_rows_per_class: 30

Every column (features and target) must also be free of nulls. Each check returns a report
(a plain dict, safe to save as JSON) and the Great Expectations Data Docs page as HTML.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd

from forgeml.errors import ConfigError, DataError, DataValidationError

ROW_HASH = "__row_hash"
IN_TRAIN = "input_in_train"
EXAMPLE_CHARS = 80  # longer example values (texts) are cut in reports and errors
REQUIRED_SUITE_KEYS = ("columns", "labels", "min_rows_per_class")
CHECK_ROWS = 65_536  # rows per Great Expectations run: its memory grows with them (benchmarks/scale.py), and each run has a fixed cost


def _expectations_for(suite: dict[str, Any], target: str) -> list:
    import great_expectations.expectations as gxe

    missing = [key for key in REQUIRED_SUITE_KEYS if key not in suite]
    if missing:
        raise ConfigError(f"The expectation suite lacks {', '.join(missing)}; it needs {', '.join(REQUIRED_SUITE_KEYS)}.")
    columns = dict(suite["columns"])
    expectations = [
        gxe.ExpectTableColumnsToMatchSet(column_set=[*columns, target], exact_match=True),
        gxe.ExpectColumnValuesToNotBeNull(column=target),
        gxe.ExpectColumnValuesToBeInSet(column=target, value_set=list(suite["labels"])),
    ]
    for column, (low, high) in columns.items():
        expectations.append(gxe.ExpectColumnValuesToNotBeNull(column=column))
        expectations.append(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high))
    return expectations


def _run(name: str, frames: Iterable[pd.DataFrame], expectations: list, index_column: str | None = None,
         label_column: str | None = None) -> tuple[dict, str, pd.Series]:
    """Validate each of ``frames`` (the pieces of one table) in an ephemeral GX context; return the report over all
    of them, the Data Docs HTML and the rows per value of ``label_column`` (empty without one).

    A failure's unexpected rows are summed over the pieces, its examples taken from the first; the Data Docs page
    is the first piece that failed (else the first piece), and says so when there were several.
    With ``index_column``, each failure lists that column's value for the failing rows (an image's path).
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = context.data_sources.add_pandas("forgeml").add_dataframe_asset(name).add_batch_definition_whole_dataframe("all")
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    result_format = {"result_format": "SUMMARY"}
    if index_column:
        result_format = {"result_format": "COMPLETE", "unexpected_index_column_names": [index_column]}
    failures, rows, pieces, shown, labels = {}, 0, 0, None, pd.Series(dtype="int64")
    for frame in frames:
        result = definition.run(batch_parameters={"dataframe": frame}, result_format=result_format)
        for failed in (r for r in result.results if not r.success):
            _add_failure(failures, _describe_failure(failed, index_column))
        if shown is None or (shown.success and not result.success):
            shown = result
        if label_column is not None:
            labels = labels.add(frame[label_column].value_counts(), fill_value=0).astype("int64")
        rows, pieces = rows + len(frame), pieces + 1
    for failure in failures.values():
        if isinstance(failure["observed"], dict) and "unexpected_count" in failure["observed"]:
            failure["observed"]["unexpected_percent"] = round(100 * failure["observed"]["unexpected_count"] / max(rows, 1), 2)
    report = {
        "name": name,
        "success": not failures,
        "evaluated_expectations": len(expectations),
        "failed_expectations": len(failures),
        "rows": rows,
        "failures": list(failures.values()),
    }
    return report, _data_docs(shown, pieces, rows), labels


def _add_failure(failures: dict, failure: dict) -> None:
    """``failure`` (of one piece) into ``failures`` (by expectation and column): unexpected rows summed, the first
    pieces' examples kept up to five."""
    key = (failure["expectation"], failure["column"], str(failure["expected"]))
    known = failures.setdefault(key, failure)
    if known is failure or not (isinstance(failure["observed"], dict) and "unexpected_count" in failure["observed"]):
        return
    for field, value in failure["observed"].items():
        if field == "unexpected_count":
            known["observed"][field] += value
        elif isinstance(value, list):
            known["observed"][field] = (known["observed"].get(field) or []) + value[: 5 - len(known["observed"].get(field) or [])]


def _data_docs(result, pieces: int, rows: int) -> str:
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    html = DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(result))
    if pieces > 1:
        note = (f"<p id=\"forgeml-pieces\">Checked in {pieces} pieces of up to {CHECK_ROWS:,} rows ({rows:,} rows in all): "
                "this page shows the first piece that failed, or the first; the report counts every row.</p>")
        html = html.replace("</body>", note + "</body>", 1) if "</body>" in html else html + note
    return html


def _describe_failure(result, index_column: str | None = None) -> dict:
    config = result.expectation_config
    details = result.result or {}
    observed = details.get("observed_value")
    if observed is None and "unexpected_count" in details:
        observed = {
            "unexpected_count": details.get("unexpected_count"),
            "unexpected_percent": round(details.get("unexpected_percent") or 0.0, 2),
            "examples": [_short(_plain(v)) for v in (details.get("partial_unexpected_list") or [])[:5]],
        }
        if index_column:
            rows = details.get("unexpected_index_list") or []
            observed[index_column] = [str(row.get(index_column)) for row in rows[:5] if isinstance(row, dict)]
    if result.exception_info and result.exception_info.get("raised_exception"):
        observed = result.exception_info.get("exception_message")
    expected = {k: _plain(v) for k, v in config.kwargs.items() if k not in ("column", "batch_id")}
    if len(expected.get("value_set", [])) > 10:
        expected["value_set"] = f"{len(expected['value_set'])} values"
    return {
        "expectation": config.type,
        "column": config.kwargs.get("column"),
        "expected": expected,
        "observed": _plain(observed),
    }


def _plain(value):
    """JSON-safe version of a GX observed value (numpy scalars, NaN, nested lists)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return "NaN"
    return value


def _short(value):
    """An example value as a report shows it: a long text cut to its start and its length."""
    if isinstance(value, str) and len(value) > EXAMPLE_CHARS:
        return f"{value[:EXAMPLE_CHARS]}... ({len(value)} characters)"
    return value


def _class_count_failures(counts: pd.Series, target: str, minimum: int, labels: list) -> list[dict]:
    """Classes (declared or present) with fewer than ``minimum`` rows; a declared class with none counts 0."""
    counts = pd.concat([counts, pd.Series(0, index=[label for label in labels if label not in counts.index])])
    small = {str(label): int(n) for label, n in counts.items() if n < minimum}
    if not small:
        return []
    return [{
        "expectation": "forgeml_min_rows_per_class",
        "column": target,
        "expected": {"min_rows_per_class": minimum},
        "observed": small,
    }]


def _add_class_count_check(report: dict, counts: pd.Series, target: str, suite: dict[str, Any]) -> dict:
    """The GX report with the minimum-rows-per-class check on ``counts`` (rows per label; a declared class with no
    rows counts 0) added."""
    failures = _class_count_failures(counts, target, int(suite["min_rows_per_class"]), list(suite["labels"]))
    if failures:
        report["failures"] += failures
        report["failed_expectations"] += len(failures)
        report["success"] = False
    return report


def validate_table(frames: Iterable[pd.DataFrame], suite: dict[str, Any], target: str) -> tuple[dict, str]:
    """Run the declared suite on every row of the table (given in ``frames``), plus the minimum-rows-per-class check."""
    report, html, counts = _run("table", frames, _expectations_for(suite, target), label_column=target)
    return _add_class_count_check(report, counts, target, suite), html


IMAGE_SUITE_KEYS = ("images", "labels", "min_rows_per_class")


def validate_images(manifest: Iterable[pd.DataFrame], suite: dict[str, Any], target: str) -> tuple[dict, str]:
    """Check every image of an image experiment (one manifest row each, in frames); failures name the files.

    The suite declares the source images' channels and allowed side lengths, the label set and
    the minimum images per class::

        images: {channels: 1, min_size: 8, max_size: 64}
        labels: [0, 1, 2]
        min_rows_per_class: 20

    Resized pixels must lie in [0, 1].
    """
    import great_expectations.expectations as gxe

    missing = [key for key in IMAGE_SUITE_KEYS if key not in suite]
    if missing:
        raise ConfigError(f"The image expectation suite lacks {', '.join(missing)}; it needs {', '.join(IMAGE_SUITE_KEYS)}.")
    images = suite["images"]
    low, high = int(images.get("min_size", 1)), int(images.get("max_size", 100_000))
    expectations = [
        gxe.ExpectColumnValuesToNotBeNull(column=target),
        gxe.ExpectColumnValuesToBeInSet(column=target, value_set=list(suite["labels"])),
        gxe.ExpectColumnValuesToBeInSet(column="channels", value_set=[int(images["channels"])]),
        gxe.ExpectColumnValuesToBeBetween(column="source_height", min_value=low, max_value=high),
        gxe.ExpectColumnValuesToBeBetween(column="source_width", min_value=low, max_value=high),
        gxe.ExpectColumnValuesToBeBetween(column="pixel_min", min_value=0.0, max_value=1.0),
        gxe.ExpectColumnValuesToBeBetween(column="pixel_max", min_value=0.0, max_value=1.0),
    ]
    report, html, counts = _run("images", manifest, expectations, index_column="path", label_column=target)
    return _add_class_count_check(report, counts, target, suite), html


TEXT_SUITE_KEYS = ("text", "labels", "min_rows_per_class")


def validate_texts(frames: Iterable[pd.DataFrame], suite: dict[str, Any], text_column: str,
                   target: str) -> tuple[dict, str]:
    """Check a text table (in ``frames``): no empty or over-long text, the label set, and the minimum rows per class::

        text: {min_chars: 1, max_chars: 5000}
        labels: [great, other]
        min_rows_per_class: 50
    """
    import great_expectations.expectations as gxe

    missing = [key for key in TEXT_SUITE_KEYS if key not in suite]
    if missing:
        raise ConfigError(f"The text expectation suite lacks {', '.join(missing)}; it needs {', '.join(TEXT_SUITE_KEYS)}.")
    lengths = suite["text"]
    expectations = [
        gxe.ExpectTableColumnsToMatchSet(column_set=[text_column, target], exact_match=True),
        gxe.ExpectColumnValuesToNotBeNull(column=text_column),
        gxe.ExpectColumnValueLengthsToBeBetween(column=text_column, min_value=int(lengths.get("min_chars", 1)),
                                                max_value=int(lengths["max_chars"])),
        gxe.ExpectColumnValuesToNotBeNull(column=target),
        gxe.ExpectColumnValuesToBeInSet(column=target, value_set=list(suite["labels"])),
    ]
    report, html, counts = _run("texts", frames, expectations, label_column=target)
    return _add_class_count_check(report, counts, target, suite), html


def validate_splits(keys: dict[str, Any]) -> tuple[dict, str]:
    """The check the platform always runs: no input of the test or validation split is in train.

    ``keys`` holds each split's content keys (forgeml.data.split.content_keys: identical inputs share one), or their
    64-bit digests (forgeml.data.split.key_digests), which the report shows as the keys' first 16 hex digits.
    Whether a held-out key is in train is a hash lookup made here; Great Expectations checks that column, so the
    report and its Data Docs read like every other check's and name the shared inputs' keys. (Handing it the
    training keys as a value set took a minute at a million rows.)"""
    import great_expectations.expectations as gxe

    held_out_keys = pd.Series(np.concatenate([np.asarray(keys["test"]), np.asarray(keys["val"])]))
    held_out = pd.DataFrame({ROW_HASH: held_out_keys,
                             "split": pd.Categorical.from_codes(np.repeat([0, 1], [len(keys["test"]), len(keys["val"])]),
                                                                ["test", "val"]),
                             IN_TRAIN: held_out_keys.isin(pd.Index(np.asarray(keys["train"])))})
    expectation = gxe.ExpectColumnValuesToBeInSet(column=IN_TRAIN, value_set=[False])
    report, html, _ = _run("splits", [held_out], [expectation], index_column=ROW_HASH)
    digests = held_out_keys.dtype == np.uint64
    for failure in report["failures"]:
        failure["expectation"] += " (inputs shared between train and held-out splits)"
        failure.pop("expected", None)
        if digests:
            failure["observed"][ROW_HASH] = [f"{int(key):016x}" for key in failure["observed"][ROW_HASH]]
    return report, html


def add_duplicate_counts(report: dict, html: str, counts: dict[str, Any]) -> tuple[dict, str]:
    """The data's repeated inputs (forgeml.data.duplicates) in the validation report and on its Data Docs page."""
    from html import escape

    from forgeml.data.duplicates import describe

    dropped = counts["dropped"]
    rows = {
        "rows": counts["rows"],
        "exact duplicate rows (same input, same label)": counts["exact_duplicate_rows"],
        "inputs with conflicting labels": counts["conflicting_groups"],
        "rows in those groups": counts["conflicting_rows"],
        f"dropped as exact duplicates (policy {counts['policy']['exact']})": dropped["exact"],
        f"dropped for conflicting labels (policy {counts['policy']['conflicting']})": dropped["conflicting"],
        "rows kept": counts["rows_kept"],
    }
    section = ("<section id=\"forgeml-duplicates\"><h2>Duplicates and conflicting labels</h2><table>"
               + "".join(f"<tr><td>{escape(name)}</td><td>{value}</td></tr>" for name, value in rows.items())
               + f"</table><p>{escape(describe(counts))}</p></section>")
    page = html.replace("</body>", section + "</body>", 1) if "</body>" in html else html + section
    return {**report, "duplicates": counts}, page


DOCS_PATH = "data/08_reporting/{experiment}/validation/{check}.html"  # where the catalog writes each Data Docs page


def suite_for(experiment: dict[str, Any], validation: dict[str, Any]) -> dict[str, Any]:
    """The experiment's own suite, from ``data.validation.suites.<name>``."""
    suites = validation.get("suites") or {}
    if experiment["name"] not in suites:
        raise ConfigError(
            f"No expectation suite for experiment {experiment['name']!r} under data.validation.suites in "
            f"conf/experiments/{experiment['name']}/parameters_data.yml (suites exist for: {', '.join(suites) or 'none'}). "
            "`forgeml suggest-suite PATH --target COLUMN` writes a starting suite from a table you trust."
        )
    return suites[experiment["name"]]


def check_passed(report: dict, experiment: str, check: str) -> None:
    """Raise DataValidationError listing every failed expectation when ``report`` (the ``check`` of
    ``experiment``, whose Data Docs the catalog writes to DOCS_PATH) did not pass."""
    docs_path = DOCS_PATH.format(experiment=experiment, check=check)
    if report["success"]:
        return
    lines = [
        f"Data validation '{report['name']}' failed: {report['failed_expectations']} of "
        f"{report['evaluated_expectations']} expectations not met, so nothing was trained or registered."
    ]
    for failure in report["failures"]:
        column = f" on column {failure['column']!r}" if failure.get("column") else ""
        expected = f", expected {failure['expected']}" if failure.get("expected") else ""
        lines.append(f"  - {failure['expectation']}{column}: observed {failure['observed']}{expected}")
    lines.append(
        f"Fix the data (or, if the data is right, the suite in conf/experiments/{experiment}/parameters_data.yml). "
        f"Data Docs: {docs_path}"
    )
    raise DataValidationError("\n".join(lines), report["failures"], docs_path)


def suggest_suite(table: pd.DataFrame, target: str, margin: float = 0.5) -> dict[str, Any]:
    """A starting suite from a table known to be good: ranges widened by ``margin`` of their span. A column
    with NaN or infinite values is a DataError naming it and its rows: no finite range would hold the data,
    and a suite that admits infinity lets through rows no model can train on."""
    columns = {}
    for column in table.columns.drop(target):
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            shown = ", ".join(map(str, bad[:10])) + (" ..." if len(bad) > 10 else "")
            raise DataError(f"Column {column!r} holds NaN or infinite values in {len(bad)} row(s) (rows {shown}, from 0): "
                            "a suite is drafted from data you trust. Fix or remove those rows first.")
        low, high = float(table[column].min()), float(table[column].max())
        pad = margin * (high - low) or abs(high) * margin or 1.0
        floor = low - pad if low < 0 else max(low - pad, 0.0)  # non-negative data stays non-negative
        columns[column] = [round(floor, 6), round(high + pad, 6)]
    return {"columns": columns, **suggest_labels(table[target])}


def suggest_labels(labels: pd.Series) -> dict[str, Any]:
    """The label set seen, and at least half the smallest class's rows per class (new data may be thinner, not
    empty), never more than the data itself has: a drafted suite always passes the data it was drafted from."""
    counts = labels.value_counts()
    return {"labels": sorted(_plain(v) for v in counts.index),
            "min_rows_per_class": min(int(counts.min()), max(2, int(counts.min() * 0.5)))}

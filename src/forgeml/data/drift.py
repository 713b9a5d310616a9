"""Has the data moved since the champion was trained? Its training data against today's, statistic by statistic.

Every registered version carries a sample of what it was trained on, as statistics (``drift_reference.csv`` in
its run): a table's feature columns; a text's length, words and characters; an image's brightness and contrast
(``forgeml.modality`` says which). ``forgeml retrain`` compares the champion's sample with the current data.

Each statistic's drift is the Wasserstein distance between the two samples, divided by the reference's
standard deviation: 0.1 means the distribution moved by about a tenth of its spread, whatever the statistic's
unit (Evidently's default measure for numeric columns of more than 1,000 rows; ForgeML calls scipy for it
because Evidently 0.7, the latest release, does not import under pandas 3). A statistic has drifted when it
moved by more than the threshold *and* a two-sample Kolmogorov-Smirnov test finds the move significant,
corrected for the number of statistics compared (Bonferroni): with a few hundred rows the distance alone
reaches 0.1 by chance on one of thirty features, and with many thousands the test alone flags shifts too
small to matter.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pandas as pd

REFERENCE_ARTIFACT = "drift_reference.csv"
REFERENCE_ROWS = 5000
METHOD = "Wasserstein distance / reference standard deviation"
PLOTTED = 6  # the statistics that moved most get a histogram in the HTML report


def reference_sample(statistics: pd.DataFrame, rows: int = REFERENCE_ROWS, seed: int = 0) -> pd.DataFrame:
    """At most ``rows`` rows of ``statistics``, drawn at random: enough to compare distributions, small
    enough to log with every version."""
    return statistics.sample(n=rows, random_state=seed) if len(statistics) > rows else statistics


def text_statistics(texts: pd.Series) -> pd.DataFrame:
    """Per text: its length in characters and words, the mean word length, its share of distinct words
    (vocabulary), and its shares of capitals, digits and characters outside ASCII."""
    texts = texts.fillna("").astype(str)
    words = texts.str.split()
    characters = texts.str.len().clip(lower=1)
    return pd.DataFrame({
        "characters": texts.str.len(),
        "words": words.str.len(),
        "mean_word_length": words.map(lambda w: float(np.mean([len(x) for x in w])) if w else 0.0),
        "distinct_word_share": words.map(lambda w: len(set(map(str.casefold, w))) / len(w) if w else 0.0),
        "capital_share": texts.str.count(r"[A-Z]") / characters,
        "digit_share": texts.str.count(r"[0-9]") / characters,
        "non_ascii_share": texts.str.count(r"[^\x00-\x7f]") / characters,
    })


def image_statistics(pixels: np.ndarray) -> pd.DataFrame:
    """Per image (``pixels``: n x channels x height x width, in [0, 1]): brightness (mean), contrast (standard
    deviation), the shares of dark and bright pixels, and each channel's mean when there are several."""
    flat = pixels.reshape(len(pixels), pixels.shape[1], -1)
    statistics = {
        "brightness": flat.mean(axis=(1, 2)),
        "contrast": flat.std(axis=(1, 2)),
        "dark_share": (flat < 0.1).mean(axis=(1, 2)),
        "bright_share": (flat > 0.9).mean(axis=(1, 2)),
    }
    if flat.shape[1] > 1:
        statistics.update({f"channel_{c}_mean": flat[:, c].mean(axis=1) for c in range(flat.shape[1])})
    return pd.DataFrame(statistics)


def drift_report(reference: pd.DataFrame, current: pd.DataFrame, threshold: float,
                 significance: float = 0.05) -> dict[str, Any]:
    """Each statistic's drift (``METHOD``) from ``reference`` to ``current``, most moved first; a statistic
    drifted when its drift exceeds ``threshold`` and its K-S p-value is under ``significance`` divided by the
    number of statistics. A statistic missing on one side is named, not compared."""
    from scipy.stats import ks_2samp, wasserstein_distance

    shared = [column for column in reference.columns if column in current.columns]
    alpha = significance / max(len(shared), 1)
    statistics = []
    for column in shared:
        before, now = reference[column].to_numpy(np.float64), current[column].to_numpy(np.float64)
        before, now = before[np.isfinite(before)], now[np.isfinite(now)]
        spread = float(before.std()) or 1.0  # a constant statistic that changes at all has drifted
        drift, p_value = float(wasserstein_distance(before, now)) / spread, float(ks_2samp(before, now).pvalue)
        statistics.append({
            "statistic": str(column), "drift": round(drift, 4), "drifted": drift > threshold and p_value < alpha,
            "ks_p_value": p_value,
            "reference_mean": float(before.mean()), "current_mean": float(now.mean()),
        })
    statistics.sort(key=lambda entry: -entry["drift"])
    drifted = [entry["statistic"] for entry in statistics if entry["drifted"]]
    return {
        "method": METHOD, "threshold": threshold, "significance": significance, "corrected_significance": alpha,
        "reference_rows": len(reference), "current_rows": len(current),
        "drift": bool(drifted), "drifted": drifted, "statistics": statistics,
        "not_compared": sorted(set(map(str, reference.columns)) ^ set(map(str, current.columns))),
    }


def drift_html(report: dict[str, Any], reference: pd.DataFrame, current: pd.DataFrame, title: str) -> str:
    """The report as a page a reviewer reads: the verdict, a histogram of each of the statistics that moved
    most (reference against current), and the table of every statistic."""
    import html

    # Not through pyplot: a Figure of its own is never kept open by pyplot (no "more than 20 figures"
    # warning), is freed with its last reference, and needs no GUI backend.
    from matplotlib.figure import Figure

    verdict = (f"<p class=drift>Drift in {len(report['drifted'])} of {len(report['statistics'])} statistics: "
               f"{html.escape(', '.join(report['drifted']))}.</p>" if report["drift"]
               else f"<p>No drift in {len(report['statistics'])} statistics.</p>")
    plots = []
    for entry in report["statistics"][:PLOTTED]:
        figure = Figure(figsize=(4, 2.6))
        axes = figure.subplots()
        column = entry["statistic"]
        axes.hist([reference[column].dropna(), current[column].dropna()], bins=30, density=True,
                  label=["champion's training data", "current data"], histtype="stepfilled", alpha=0.5)
        axes.set_title(f"{column}: drift {entry['drift']:.3f}", fontsize=9)
        axes.legend(fontsize=7)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
        plots.append(f"<img alt='{html.escape(column)}' src='data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}'>")
    rows = "".join(
        f"<tr{' class=drift' if e['drifted'] else ''}><td>{html.escape(e['statistic'])}</td><td>{e['drift']:.4f}</td>"
        f"<td>{'yes' if e['drifted'] else 'no'}</td><td>{e['ks_p_value']:.3g}</td><td>{e['reference_mean']:.4g}</td>"
        f"<td>{e['current_mean']:.4g}</td></tr>" for e in report["statistics"])
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:2px 8px}}
.drift{{color:#b00020;font-weight:bold}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{report['reference_rows']} rows the champion trained on (a sample) against {report['current_rows']} current rows.
Drift: {html.escape(report['method'])}. A statistic drifted when its drift exceeds {report['threshold']} and its
K-S p-value is under {report['corrected_significance']:.2g} ({report['significance']} over the statistics compared).</p>
{verdict}
<div>{''.join(plots)}</div>
<table><tr><th>statistic</th><th>drift</th><th>drifted</th><th>K-S p-value</th><th>reference mean</th><th>current mean</th></tr>
{rows}</table></body></html>
"""

"""Text summaries of a run for the terminal."""

from __future__ import annotations

from typing import Any


def candidate_table(metrics: dict[str, dict[str, float]], promotion: dict[str, Any] | None) -> str:
    """One row per candidate: accuracy, robustness, size, latency at batch 1 and the largest batch,
    registered version, and whether it was promoted."""
    from rich.console import Console
    from rich.table import Table

    import re

    registered = (promotion or {}).get("registered", {})
    promoted_version = (promotion or {}).get("champion_after")
    challenger = ((promotion or {}).get("challenger") or {}).get("candidate")
    keys = {key for scores in metrics.values() for key in scores}
    robustness = sorted(k for k in keys if k.startswith("robustness_"))[:1]  # noise for tables and images, word_dropout for text
    large = max((int(m.group(1)) for k in keys if (m := re.fullmatch(r"latency_b(\d+)_p50_ms", k))), default=1)
    kind = robustness[0].removeprefix("robustness_") if robustness else "noise"
    table = Table(title="ForgeML candidates (test split)", caption=f"{kind} acc: mean accuracy over the {kind} levels")
    for column in ("candidate", "accuracy", "f1 macro", f"{kind} acc", "size", "latency b1 p50", f"latency b{large} p50",
                   "version", "status"):
        table.add_column(column, justify="left" if column in ("candidate", "status") else "right")
    for name, scores in metrics.items():
        version = registered.get(name, {}).get("version", "-")
        if name == challenger:
            status = "champion (promoted)" if promotion["promoted"] else "challenger (not promoted)"
        else:
            status = "champion" if version == promoted_version else ""
        size = scores["size_bytes"] / 1024
        table.add_row(
            name,
            f"{scores['accuracy']:.4f}",
            f"{scores['f1_macro']:.4f}",
            f"{scores[robustness[0]]:.4f}" if robustness and robustness[0] in scores else "-",
            f"{size:.1f} KiB" if size < 10_240 else f"{size / 1024:.1f} MiB",
            f"{scores['latency_b1_p50_ms']:.3f} ms",
            f"{scores[f'latency_b{large}_p50_ms']:.3f} ms",
            str(version),
            status,
        )
    console = Console(width=150, record=True)
    with console.capture() as capture:
        console.print(table)
        if promotion:
            console.print(f"Promotion: {promotion['reason']}.")
            console.print(f"Champion of '{promotion['registered_model']}': version {promotion['champion_after']}.")
        console.print("Next: `make ui` opens the MLflow UI on http://127.0.0.1:5000 (runs, registry, aliases).")
    return capture.get()

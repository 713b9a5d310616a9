"""Text summaries of a run for the terminal."""

from __future__ import annotations

from typing import Any


def candidate_table(metrics: dict[str, dict[str, float]], promotion: dict[str, Any] | None) -> str:
    """One row per candidate: accuracy, robustness to noise, size, latency, registered version, and
    whether it was promoted."""
    from rich.console import Console
    from rich.table import Table

    registered = (promotion or {}).get("registered", {})
    promoted_version = (promotion or {}).get("champion_after")
    challenger = ((promotion or {}).get("challenger") or {}).get("candidate")
    table = Table(title="ForgeML candidates (test split)", caption="noise acc: mean accuracy over the Gaussian-noise levels")
    for column in ("candidate", "accuracy", "f1 macro", "noise acc", "size", "latency b1 p50", "latency b256 p50",
                   "version", "status"):
        table.add_column(column, justify="left" if column in ("candidate", "status") else "right")
    for name, scores in metrics.items():
        version = registered.get(name, {}).get("version", "-")
        if name == challenger:
            status = "champion (promoted)" if promotion["promoted"] else "challenger (not promoted)"
        else:
            status = "champion" if version == promoted_version else ""
        table.add_row(
            name,
            f"{scores['accuracy']:.4f}",
            f"{scores['f1_macro']:.4f}",
            f"{scores['robustness_noise']:.4f}" if "robustness_noise" in scores else "-",
            f"{scores['size_bytes'] / 1024:.1f} KiB",
            f"{scores['latency_b1_p50_ms']:.3f} ms",
            f"{scores['latency_b256_p50_ms']:.3f} ms",
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

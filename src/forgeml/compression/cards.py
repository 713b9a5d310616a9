"""What a reviewer reads about compression: a card per compressed candidate, and one report with a
Pareto plot (accuracy against latency, marker size = model size) over every candidate."""

from __future__ import annotations

from typing import Any

from forgeml.compression.methods import DESCRIBED_BY

def _ratio(value, base) -> str:
    return f"{value / base:.2f}x" if value is not None and base else "n/a"


def _release(failures: list[str]) -> str:
    return "eligible" if not failures else "**not eligible**: " + "; ".join(failures)


def compression_card(name: str, info: dict[str, Any], metrics: dict[str, dict[str, float]],
                     environment: dict[str, Any], large_batch: int, failures: list[str]) -> str:
    """Markdown: method and settings, accuracy change, size and latency ratios, what changed, where measured,
    and whether it may be released (``failures``: the release constraints it breaks)."""
    compression = info["compression"]
    base, own = metrics[compression["base"]], metrics[name]
    settings = ", ".join(f"{k}={v}" for k, v in compression["settings"].items() if k != "method")
    rows = [
        ("test accuracy", f"{base['accuracy']:.4f}", f"{own['accuracy']:.4f}", f"{own['accuracy'] - base['accuracy']:+.4f}"),
        ("parameters", f"{compression['base_parameters']:,}", f"{info['parameters']:,}", _ratio(info["parameters"], compression["base_parameters"])),
        ("FLOPs per input", f"{compression['base_flops']:,}", f"{info['flops']:,}", _ratio(info["flops"], compression["base_flops"])),
        ("tensor bytes", f"{base['tensor_bytes']:,}", f"{own['tensor_bytes']:,}", _ratio(own["tensor_bytes"], base["tensor_bytes"])),
        ("file bytes", f"{base['size_bytes']:,}", f"{own['size_bytes']:,}", _ratio(own["size_bytes"], base["size_bytes"])),
    ]
    for batch in (1, large_batch):
        rows.append((f"latency, batch {batch} (p50 / p95 ms)",
                     f"{base[f'latency_b{batch}_p50_ms']:.3f} / {base[f'latency_b{batch}_p95_ms']:.3f}",
                     f"{own[f'latency_b{batch}_p50_ms']:.3f} / {own[f'latency_b{batch}_p95_ms']:.3f}",
                     f"{own.get(f'latency_b{batch}_ratio_p50', float('nan')):.2f}x (p95 {own.get(f'latency_b{batch}_ratio_p95', float('nan')):.2f}x)"))
    table = "\n".join(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows)
    env = environment
    return f"""# Compression card: {name}

- Method: **{compression['method']}** of `{compression['base']}` ({settings})
- Release: {_release(failures)}
- Measured on: {env['cpu']} ({env['cores']} cores; {', '.join(env['instruction_sets']) or 'no AVX2'}), {env['threads']} thread(s); torch {env['torch']}, Intel Neural Compressor {env['neural_compressor']}, torch-pruning {env['torch_pruning']}
- Latency: the model and its base alternated call by call; ratios are medians (and 95th percentiles) of per-pair ratios.

| | base `{compression['base']}` | `{name}` | change |
|---|---|---|---|
{table}

## What changed
""" + "\n".join(line if line.startswith(("|", "\n")) else f"- {line}" for line in DESCRIBED_BY[info['compression']['method']].describe(compression)) + "\n"


def compression_report(metrics: dict[str, dict[str, float]], infos: dict[str, dict[str, Any]], large_batch: int,
                       failures: dict[str, list[str]]):
    """A Markdown table over every candidate of the experiment (with the release constraints each breaks) and
    the Pareto plot (a matplotlib figure)."""
    # Not through pyplot: a Figure of its own is never kept open by pyplot (no "more than 20 figures"
    # warning), is freed with its last reference, and needs no GUI backend.
    from matplotlib.figure import Figure

    latency = f"latency_b{large_batch}_p50_ms"
    lines = [f"| candidate | method | test accuracy | tensor bytes | latency b1 p50 ms | latency b{large_batch} p50 ms | "
             f"ratio to base b{large_batch} (p50 / p95) | Pareto | release |", "|---|---|---|---|---|---|---|---|---|"]
    names = list(metrics)
    front = {n for n in names if not any(
        metrics[o]["accuracy"] >= metrics[n]["accuracy"] and metrics[o][latency] <= metrics[n][latency]
        and (metrics[o]["accuracy"], metrics[o][latency]) != (metrics[n]["accuracy"], metrics[n][latency]) for o in names)}
    for name in sorted(names, key=lambda n: -metrics[n]["accuracy"]):
        m = metrics[name]
        method = (infos.get(name, {}).get("compression") or {}).get("method", "trained")
        ratio = (f"{m[f'latency_b{large_batch}_ratio_p50']:.2f} / {m[f'latency_b{large_batch}_ratio_p95']:.2f}"
                 if f"latency_b{large_batch}_ratio_p50" in m else "-")
        lines.append(f"| {name} | {method} | {m['accuracy']:.4f} | {m['tensor_bytes']:,} | {m['latency_b1_p50_ms']:.3f} | "
                     f"{m[latency]:.3f} | {ratio} | {'yes' if name in front else ''} | {_release(failures[name])} |")
    figure = Figure(figsize=(7, 4.5))
    axes = figure.subplots()
    largest = max(metrics[n]["tensor_bytes"] for n in names)
    for name in names:
        m = metrics[name]
        axes.scatter(m[latency], m["accuracy"], s=30 + 600 * m["tensor_bytes"] / largest, alpha=0.6,
                     edgecolors="black" if name in front else "none")
        axes.annotate(name, (m[latency], m["accuracy"]), fontsize=8, xytext=(4, 4), textcoords="offset points")
    ordered = sorted(front, key=lambda n: metrics[n][latency])
    axes.plot([metrics[n][latency] for n in ordered], [metrics[n]["accuracy"] for n in ordered], "k--", lw=0.8, label="Pareto front")
    axes.set(xlabel=f"latency, batch {large_batch}, p50 (ms)", ylabel="test accuracy",
             title="Candidates: accuracy against latency (marker area = tensor bytes)")
    axes.legend(loc="lower right")
    figure.tight_layout()
    return "# Compression report\n\n" + "\n".join(lines) + "\n", figure

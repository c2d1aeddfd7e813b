"""The report's "Chosen on the validation fold" section: each probe's C (and pooling or layer) and the
ensemble's weights per split, read from metrics.json, so a reader sees what was chosen and from what."""

from __future__ import annotations

from typing import Any

from animal_audio.formatting import percent

#: The layer chart's bars: BAR_WIDTH blocks at 100%.
BAR = "█"
BAR_WIDTH = 20


def choice_lines(metrics: dict[str, Any]) -> list[str]:
    """One line per model and split that chose something on validation; [] when none did."""
    lines: list[str] = []
    splits = [s.get("name", "") for s in (metrics.get("protocol") or {}).get("splits", [])]
    for name, entry in metrics["models"].items():
        for i, detail in enumerate(entry.get("details") or []):
            where = f" ({splits[i]})" if len(splits) > 1 and i < len(splits) else ""
            head = detail.get("head")
            if isinstance(head, dict):
                lines.append(
                    f"- `{name}`{where}: {head.get('features')}, C = {head.get('C'):g} "
                    f"(validation accuracy {percent(head.get('validation_accuracy', 0.0))}, "
                    f"best of {len(head.get('candidates') or [])} candidates fitted on the train folds)"
                )
            weights = detail.get("weights")
            if isinstance(weights, dict):
                shown = ", ".join(f"`{m}` {w:.2f}" for m, w in weights.items())
                lines.append(
                    f"- `{name}`{where}: weights {shown} "
                    f"(validation accuracy {percent(detail.get('validation_accuracy', 0.0))})"
                )
    if not lines:
        return []
    for name, entry in metrics["models"].items():
        lines += layer_chart(name, entry.get("details") or [])
    return lines + [
        "",
        "Chosen from the train and validation folds only; each probe is then refitted on train + validation "
        "folds with its choice. The test fold is scored once, afterwards.",
    ]


def layer_chart(name: str, details: list[dict[str, Any]]) -> list[str]:
    """Which layer knows animals: each layer's best validation accuracy (mean over splits), as a bar."""
    per_split = [d["layers"] for d in details if isinstance(d.get("layers"), dict)]
    if not per_split:
        return []
    layers = list(per_split[0])
    rows = [
        "",
        f"Which layer knows animals (`{name}`: best validation accuracy per hidden layer"
        + (f", mean over {len(per_split)} splits" if len(per_split) > 1 else "")
        + "):",
        "",
        "| Layer | Validation accuracy | |",
        "|---|---:|---|",
    ]
    chosen = [str(d.get("layer")) for d in details if "layer" in d]
    for layer in layers:
        accuracy = sum(float(s.get(layer, 0.0)) for s in per_split) / len(per_split)
        mark = f" chosen {chosen.count(layer)}x" if layer in chosen else ""
        rows.append(f"| {layer} | {percent(accuracy)} | {BAR * round(accuracy * BAR_WIDTH)}{mark} |")
    return rows

"""The report's "Chosen on the validation fold" section: each probe's C (and pooling or layer) and the
ensemble's weights per split, read from metrics.json, so a reader sees what was chosen and from what."""

from __future__ import annotations

from typing import Any

from animal_audio.formatting import percent


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
    return lines + [
        "",
        "Chosen from the train and validation folds only; each probe is then refitted on train + validation "
        "folds with its choice. The test fold is scored once, afterwards.",
    ]

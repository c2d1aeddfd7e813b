"""The comparison's `ensemble`: per split, weights fitted on the other models' validation-fold predictions,
applied to their test-fold predictions, and scored like any model (its part, its row in metrics.json).

It reads the parts the other models of this run just made (each with its validation predictions), so it
runs last and loads nothing; the weights are saved in models/ensemble[/fold]/ensemble.json for the app.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from animal_audio.errors import ModelUnavailableError
from animal_audio.progress import check_cancel, report
from animal_audio.run_context import RunContext, targets
from animal_audio.runs import Part, model_subdir

log = logging.getLogger(__name__)

TRAINED_ON = "weights chosen on the validation fold's predictions of its members"
TOO_FEW = (
    "The ensemble combines at least two other models of the run, and {found} ran here. "
    "Choose two or more models with it (e.g. yamnet-zeroshot,yamnet-probe,ensemble)."
)


def run_ensemble(ctx: RunContext, name: str, parts: dict[str, list[Part]]) -> list[Part]:
    """One part per split from the members' parts (every other model of the run that finished)."""
    from animal_audio.ensemble import fit_weights

    members = [m for m in ctx.config.models if m != name and m in parts]
    if len(members) < 2:
        raise ModelUnavailableError(TOO_FEW.format(found=", ".join(members) or "none"))
    result: list[Part] = []
    for i, split in enumerate(ctx.splits):
        check_cancel(ctx.cancel, f"{name} ({split.name})")
        started = time.perf_counter()
        member_parts = {m: parts[m][i] for m in members}
        missing = [m for m, p in member_parts.items() if p.validation_probs is None]
        if missing:  # made before the ensemble was chosen: the run redoes them on the next try
            raise ModelUnavailableError(
                f"{', '.join(missing)} made no validation-fold predictions here; run the comparison again."
            )
        weights = fit_weights(
            {m: p.validation_probs for m, p in member_parts.items()},
            targets(split.validation, ctx.labels.names),
            ctx.labels,
        )
        weights.save(ctx.model_dir(name, split))
        probs = weights.combine({m: p.probs for m, p in member_parts.items()})
        validation = weights.combine({m: p.validation_probs for m, p in member_parts.items()})
        extra: dict[str, Any] = {
            "trained_on": TRAINED_ON,
            "members": members,
            "weights": weights.weights,
            "validation_accuracy": weights.info["validation_accuracy"],
            "model_dir": model_subdir(ctx.config.protocol, name, split).as_posix(),
            "base": " + ".join(members),
        }
        # Its cost is its members': they all run on each clip.
        train_seconds = sum(p.train_seconds for p in member_parts.values()) + time.perf_counter() - started
        seconds = sum(p.inference_seconds_per_clip for p in member_parts.values())
        report(ctx.progress, ctx.stage(name, split), 1.0, f"weights {weights.weights}")
        result.append(ctx.save_part(name, split, Part(probs, train_seconds, seconds, extra, validation)))
    return result

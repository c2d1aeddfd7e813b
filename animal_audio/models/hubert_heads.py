"""Whether a HuBERT checkpoint's head is one to answer with: trained (not a base model's random head), and
for the classes wanted. Refused with NotTrainedError rather than predicting noise or other classes."""

from __future__ import annotations

from typing import Any, Sequence

from animal_audio import settings
from animal_audio.errors import NotTrainedError
from animal_audio.labels import ANIMALS, LabelSet

#: Prefixes of the weights only a trained audio-classification head has.
HEAD_PREFIXES = ("classifier.", "projector.")
TRAIN_HINT = (
    "Train a head first: the fast way is a linear probe on frozen HuBERT "
    "(`python -m train compare --models hubert-probe ...`, minutes on a CPU); or fine-tune "
    "(`python -m train compare --models hubert-finetune ...` or `python -m train finetune`) and "
    f"point {settings.ENV_HUBERT} (or --hubert) at the checkpoint directory it writes."
)


def require_trained_head(model: Any, info: dict, source: str) -> None:
    """A base checkpoint gets a randomly initialised head: refuse it instead of predicting noise."""
    untrained = sorted(k for k in info.get("missing_keys", ()) if k.startswith(HEAD_PREFIXES))
    if untrained:
        raise NotTrainedError(
            f"HuBERT '{source}' is not trained yet for these classes: it has no "
            f"classification head (missing {', '.join(untrained)}). {TRAIN_HINT}"
        )


def require_labels(found: Sequence[str], wanted: LabelSet | None, source: str) -> None:
    """NotTrainedError for a head over other classes than `wanted` (None: any real label set will do)."""
    placeholder = all(n.startswith("LABEL_") for n in found)  # transformers' names for a base model
    if (wanted is None and len(found) >= 2 and not placeholder) or (wanted and tuple(found) == wanted.names):
        return
    expected = wanted or ANIMALS
    if placeholder:
        raise NotTrainedError(
            f"HuBERT '{source}' is not trained yet for the {len(expected)} classes: it has no "
            f"classification head for them. {TRAIN_HINT}"
        )
    shown = ", ".join(found[:12]) + (" ..." if len(found) > 12 else "")
    raise NotTrainedError(
        f"HuBERT '{source}' was trained for other labels ({shown}), not the {len(expected)} classes "
        f"in order ({', '.join(expected.names)}), so it is not trained yet for this task. {TRAIN_HINT}"
    )

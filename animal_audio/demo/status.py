"""What the Models panel says about each side: its state, its weights, and how to fix what is missing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from animal_audio import settings
from animal_audio.demo.sides import (
    HUBERT,
    NOT_LOADED,
    NOT_TRAINED,
    READY,
    SIDE_TITLES,
    UNAVAILABLE,
)
from animal_audio.demo.texts import HUBERT_FIX, YAMNET_FIX
from animal_audio.formatting import model_title

ICONS = {READY: "🟢", NOT_LOADED: "⚪", NOT_TRAINED: "🟡", UNAVAILABLE: "🔴"}
OTHER_ICON = "🔴"


@dataclass(frozen=True)
class ModelStatus:
    """One side of the comparison as the status panel shows it."""

    side: str
    state: str
    model: Optional[str]
    origin: str
    description: str
    fix: str = ""


def is_not_trained(message: str) -> bool:
    """Whether a load error means 'no trained head' rather than 'cannot be reached'."""
    text = message.lower()
    return "not trained" in text or "never trained" in text or "no trained" in text


def fix_text(side: str) -> str:
    """How a person gets a usable model for this side."""
    if side == HUBERT:
        return HUBERT_FIX.format(default=settings.DEFAULT_HUBERT)
    return YAMNET_FIX.format(default=settings.DEFAULT_YAMNET)


def status_markdown(statuses: list[ModelStatus]) -> str:
    """The model-status panel: what each side uses, from where, and how to fix what is missing."""
    parts = []
    for status in statuses:
        title = SIDE_TITLES[status.side]
        head = f"#### {ICONS.get(status.state, OTHER_ICON)} {title}: {status.state}"
        body = []
        if status.model:
            body.append(f"- **Model:** {model_title(status.model)} (`{status.model}`)")
        if status.origin:
            body.append(f"- **Weights:** {status.origin}")
        if status.state in (READY, NOT_LOADED):
            body.append(f"- {status.description}")
        else:
            body.append(f"- **Why:** {status.description}")
            if status.state == NOT_TRAINED:
                body.append(
                    "- Its classification head has never been trained on the 10 animals, so its "
                    "outputs would be random: the app does not show them."
                )
            body.append(f"- **How to fix:** {status.fix}")
        parts.append("\n".join([head, *body]))
    return "\n\n".join(parts)


def status_line(statuses: list[ModelStatus]) -> str:
    """One short line for the top of the Classify tab."""
    return " · ".join(f"{ICONS.get(s.state, OTHER_ICON)} {SIDE_TITLES[s.side]}: {s.state}" for s in statuses)

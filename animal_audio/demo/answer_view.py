"""How one clip's answer reads in the Classify tab: the verdict, YAMNet's AudioSet view, the bar charts."""

from __future__ import annotations

from typing import Any

from animal_audio.demo.formatting import first_sentence
from animal_audio.demo.sides import FAILED, LOADING, NOT_TRAINED, SIDE_TITLES, SIDES, UNAVAILABLE
from animal_audio.labels import CLASSES, display
from animal_audio.plots import clip as clip_plots

#: Below this top probability a model is close to guessing among 10 classes; the verdict says so.
UNSURE_BELOW = 0.3
UNSURE_NOTE = ", unsure"
#: Longest reason shown in the verdict line.
SHORT_REASON = 160
BEFORE_FIRST_CLIP = "Record or upload a clip, then press Classify"


def side_figure(entry: dict[str, Any], side: str) -> Any:
    """The bar chart of one side, or a chart that says why there is none."""
    if entry.get("available"):
        probs = [entry["probabilities"][c] for c in CLASSES]
        seconds = entry.get("seconds", 0.0)
        return clip_plots.probability_figure(
            probs, f"{entry.get('title', SIDE_TITLES[side])} · {seconds * 1000:.0f} ms"
        )
    state = entry.get("state", UNAVAILABLE)
    hint = {FAILED: "try another clip", LOADING: "try again in a moment"}.get(state, "see the Models tab")
    return clip_plots.message_figure(SIDE_TITLES[side], f"{SIDE_TITLES[side]}: {state}<br>({hint})")


def empty_figures() -> dict[str, Any]:
    """What the charts show before the first clip."""
    return {side: clip_plots.message_figure(SIDE_TITLES[side], BEFORE_FIRST_CLIP) for side in SIDES}


def summary_markdown(payload: dict[str, Any]) -> str:
    """The verdict line(s) above the charts."""
    lines = []
    for side in SIDES:
        entry = payload["models"][side]
        name = SIDE_TITLES[side]
        if entry.get("available"):
            lines.append(
                f"**{entry['title']}**: **{entry['display']}** "
                f"({entry['confidence'] * 100:.0f}%{UNSURE_NOTE if entry['confidence'] < UNSURE_BELOW else ''}) "
                f"in {entry['seconds'] * 1000:.0f} ms"
            )
        else:
            lines.append(f"**{name}**: {_unavailable_hint(entry)}")
    agree = payload.get("agree")
    if agree is True:
        head = "### ✅ Both models agree"
    elif agree is False:
        head = "### ⚖️ The models disagree"
    else:
        head = (
            "### Only one model could answer"
            if any(payload["models"][s].get("available") for s in SIDES)
            else "### No model could answer"
        )
    clip = payload["clip"]
    tail = f"Clip: {clip['seconds']:.1f} s" + (
        f" (cut from {clip['source_seconds']:.1f} s)" if clip["trimmed"] else ""
    )
    return "\n\n".join([head, *[f"- {line}" for line in lines], tail]).replace("\n\n- ", "\n- ")


def audioset_markdown(yamnet_entry: dict[str, Any]) -> str:
    """What YAMNet itself hears, in AudioSet's 521 classes (before mapping to the 10 animals)."""
    top = yamnet_entry.get("top_audioset")
    if not top:
        return ""
    rows = "\n".join(f"| {name} | {score:.2f} |" for name, score in top)
    other = yamnet_entry.get("other_mass", 0.0)
    text = (
        "**What YAMNet hears** (its own top AudioSet classes, scores 0-1):\n\n"
        f"| AudioSet class | score |\n|---|---|\n{rows}\n\n"
        f"Share of YAMNet's score on classes that are none of the 10 animals: **{other * 100:.0f}%**"
    )
    zeroshot = yamnet_entry.get("zeroshot")
    if zeroshot:
        text += f" · zero-shot mapping says **{display(zeroshot['label'])}**"
    return text


def _unavailable_hint(entry: dict[str, Any]) -> str:
    """One short line for the verdict; the Models tab has the full story."""
    state = entry.get("state", UNAVAILABLE)
    if state == NOT_TRAINED:
        return "not trained yet. Train it in *Train & compare* (quick mode: minutes); details in *Models*."
    if state in (FAILED, LOADING):
        return str(entry.get("error", state))
    reason = first_sentence(entry.get("error", ""))
    if len(reason) > SHORT_REASON:
        reason = reason[: SHORT_REASON - 1].rstrip() + "…"
    return f"unavailable. {reason} How to fix it: see *Models*."

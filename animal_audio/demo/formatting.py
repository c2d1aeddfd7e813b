"""Small wording helpers shared by the demo's views."""

from __future__ import annotations


def format_duration(seconds: float) -> str:
    """'45 s', '12 min', '3 h 05 min': a duration as a person reads it."""
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


def first_sentence(text: str) -> str:
    """Error messages say what happened first and how to fix it after; short places show only the first part."""
    text = str(text).strip()
    cut = text.find(". ")
    return text if cut < 0 else text[: cut + 1]

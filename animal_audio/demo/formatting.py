"""Small wording helpers shared by the demo's views."""

from __future__ import annotations


def first_sentence(text: str) -> str:
    """Error messages say what happened first and how to fix it after; short places show only the first part."""
    text = str(text).strip()
    cut = text.find(". ")
    return text if cut < 0 else text[: cut + 1]

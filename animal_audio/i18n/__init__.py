"""The app's words in English and Russian: one catalogue of keys, the visitor's language, and `tr`.

The library stays English (logs, CLI); the app asks `tr(key, lang)` for what a visitor reads. No gradio here:
`ui/i18n.py` hands the same catalogue to `gr.I18n` for the page's fixed text."""

from __future__ import annotations

import functools
import re
import string
from typing import Any, Optional

#: The languages the app speaks; the first is the fallback for any other browser language.
LANGUAGES = ("en", "ru")
DEFAULT = LANGUAGES[0]
#: One entry of an Accept-Language header: "ru-RU", "ru;q=0.9", "*;q=0.1".
_ENTRY = re.compile(r"^\s*(?P<tag>[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*(?P<q>[0-9.]+))?")


def language_of(accept_language: Optional[str]) -> str:
    """The app's language for a browser's Accept-Language header ("ru-RU,ru;q=0.9,en;q=0.8" -> "ru"):
    the most wanted one the app speaks, English when none is (or there is no header)."""
    wanted: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        match = _ENTRY.match(part)
        if not match:
            continue
        try:
            quality = float(match.group("q") or 1.0)
        except ValueError:
            continue
        wanted.append((-quality, position, match.group("tag").split("-")[0].lower()))
    for quality, _, language in sorted(wanted):
        if quality < 0 and language in LANGUAGES:
            return language
    return DEFAULT


def tr(key: str, lang: str = DEFAULT, **fields: Any) -> str:
    """The text of `key` in `lang` (English where Russian lacks it), its {fields} filled in."""
    text = messages(lang).get(key)
    if text is None:
        text = messages(DEFAULT)[key]  # a key English lacks is a bug: KeyError
    return text.format(**fields) if fields else text


@functools.cache
def messages(lang: str) -> dict[str, str]:
    """Every key's text in `lang` (imported on first use: the English side quotes the library's constants)."""
    if lang == "ru":
        from animal_audio.i18n.ru import MESSAGES
    else:
        from animal_audio.i18n.en import MESSAGES
    return dict(MESSAGES)


def fields_of(text: str) -> set[str]:
    """The {names} a text fills in (a test checks both languages of a key ask for the same)."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def class_name(label: str, lang: str = DEFAULT, labels: Any = None) -> str:
    """A class as a person reads it in `lang`: an animal with its emoji ("🐕 Собака"); a class of another
    label set (a LabelSet) by its own display name, as given."""
    from animal_audio.labels import EMOJI

    if labels is not None and not labels.is_animals:
        return labels.display(label)
    return f"{EMOJI[label]} {tr('class_' + label, lang)}"


def translate_words(value: str, lang: str = DEFAULT) -> str:
    """Units inside a value in `lang` ("12 min" -> "12 мин"), for table cells that hold only a value."""
    if lang == DEFAULT:
        return value
    from animal_audio.i18n.errors import words

    return words(value, lang)


def translate_error(message: str, lang: str = DEFAULT) -> str:
    """A library message (English, as the log has it) in `lang`; one it does not know stays English."""
    if lang == DEFAULT:
        return message
    from animal_audio.i18n.errors import translated

    return translated(message, lang)

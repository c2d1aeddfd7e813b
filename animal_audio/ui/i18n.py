"""The page in the visitor's language: `t(key)` for fixed text (the browser picks the language through
`gr.I18n`), `lang_of(request)` for what a handler returns (`animal_audio.i18n.tr(key, lang)`)."""

from __future__ import annotations

from typing import Any, Optional

import gradio as gr

from animal_audio.i18n import DEFAULT, LANGUAGES, language_of, messages, translate_error


def _shown_as_is(lang: str) -> dict[str, str]:
    """The texts the page translates by itself: those without {fields} (its ICU format would read them)."""
    return {key: text for key, text in messages(lang).items() if "{" not in text}


#: Every fixed text in every language; `page.launch` hands it to gradio, whose page uses the browser's
#: language (English when it speaks neither).
I18N = gr.I18n(**{lang: _shown_as_is(lang) for lang in LANGUAGES})


def t(key: str) -> Any:
    """Fixed interface text by key (a label, button, Markdown block); a key the catalogue lacks fails here."""
    if key not in I18N.translations[DEFAULT]:
        raise KeyError(f"no fixed text {key!r} in animal_audio/i18n/en.py (or it has a {{field}})")
    return I18N(key)


def lang_of(request: Optional[gr.Request]) -> str:
    """The language of the visitor who sent `request`, from their browser's Accept-Language header."""
    headers = getattr(request, "headers", None) or {}
    return language_of(headers.get("accept-language"))


def shown(message: str, request: Optional[gr.Request]) -> str:
    """A library message (English in the log) in the visitor's language."""
    return translate_error(message, lang_of(request))

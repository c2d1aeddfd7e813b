"""What every tab shares: the app's state, the queue settings, who a visitor is, and the status views."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import gradio as gr

from animal_audio import access
from animal_audio.demo import text, training
from animal_audio.demo.models import Registry
from animal_audio.errors import AnimalAudioError
from animal_audio.i18n import DEFAULT, tr, translate_error
from animal_audio.public_text import unexpected, visible
from animal_audio.ui.i18n import lang_of

log = logging.getLogger("app")

#: 2 CPU cores: two clips at a time, each model's predictions serialised by the registry.
CLASSIFY_CONCURRENCY = 2
CLASSIFY_QUEUE = {"concurrency_id": "classify", "concurrency_limit": CLASSIFY_CONCURRENCY}
#: Open pages poll the training job, and show its end this long after (outside the queue: no worker is held).
POLL_SECONDS, WATCH_AFTER_FINISH_SECONDS = 2.0, 10.0
PRIVATE = {"api_visibility": "private"}


@dataclass(frozen=True)
class AppState:
    """What one app owns: its training job and model registry (made before gradio's import), its limiter."""

    job: training.TrainingJob
    registry: Registry
    on_trained: Callable[[Path], None]  # runs in the training thread when a run ends
    limiter: access.RateLimiter
    sign_in: bool  # offered only where it is real: a Space with `hf_oauth: true` (access.py)

    @classmethod
    def create(
        cls, job: training.TrainingJob, registry: Registry, on_trained: Callable[[Path], None]
    ) -> AppState:
        limiter = access.RateLimiter(access.rate_limit())
        return cls(job, registry, on_trained, limiter, access.sign_in_wanted() and access.sign_in_works())


@dataclass(frozen=True)
class StatusViews:
    """The status line (Classify tab) and the Models panel: two views of the registry's state."""

    registry: Registry
    line: gr.Markdown
    panel: gr.Markdown
    timer: gr.Timer  # asks again while a model loads or HuBERT learns: no request waits for a load

    def show(self, *, retry: bool = False, lang: str = DEFAULT) -> dict[Any, Any]:
        """Each side's state without waiting for a load; `retry` forgets earlier failures and loads again."""
        if retry:
            self.registry.retry_failed()
        line, panel, changing = text.status_views(self.registry.status(load=retry), lang)
        return {self.line: line, self.panel: panel, self.timer: gr.Timer(active=changing)}

    def for_visitor(self, request: gr.Request) -> dict[Any, Any]:
        """`show` in the language of the page that asks (page load, timer)."""
        return self.show(lang=lang_of(request))

    @property
    def views(self) -> list[Any]:
        return [self.line, self.panel, self.timer]


def limited(state: AppState, request: Optional[gr.Request]) -> None:
    """Refuse a visitor over the per-visitor rate limit (RateLimitError, shown as a message)."""
    state.limiter.check(access.client_address(request.headers, request.client) if request else "")


def shown_errors(action: Callable[[], Any], failed: str, lang: str = DEFAULT) -> Any:
    """Run `action`; our errors become their message for the visitor (in `lang`; the log keeps the English),
    any other a short one with an error id."""
    try:
        return action()
    except AnimalAudioError as error:
        shown = translate_error(visible(error), lang)
        raise gr.Error(shown, title=text.error_title(error, lang), print_exception=False) from None
    except Exception as error:
        shown = translate_error(unexpected(error, failed, logger=log), lang)
        raise gr.Error(shown, title=tr("title_error", lang), print_exception=False) from None


def visitor(
    state: AppState, profile: Optional[gr.OAuthProfile], request: Any = None, require: bool = False
) -> access.Access:
    """Who clicked, and whether they may train (and reload models) here: locally anybody, in public mode
    admins. `require`: refuse with the reason when they may not (checked on the server, whatever the page showed)."""
    session = (request.session_hash if request else None) or ""
    who = access.training_access(profile and profile.username, session, sign_in_available=state.sign_in)
    if require and not who.allowed:
        lang = lang_of(request)
        raise gr.Error(
            translate_error(who.reason, lang), title=tr("title_not_allowed", lang), print_exception=False
        )
    return who

"""Who may do what in a public app: training belongs to the operator, and nobody may flood `/classify`.

Locally (public mode off) everybody may do everything, as on one's own laptop. In public mode (a
Hugging Face Space, or ANIMAL_AUDIO_PUBLIC=1) Start and Cancel need a signed-in admin: the Space's
owner (SPACE_AUTHOR_NAME) or a name in ANIMAL_AUDIO_ADMINS; ANIMAL_AUDIO_TRAINING=off turns them off.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from animal_audio import settings
from animal_audio.errors import AnimalAudioError

log = logging.getLogger(__name__)

ENV_TRAINING = "ANIMAL_AUDIO_TRAINING"
ENV_ADMINS = "ANIMAL_AUDIO_ADMINS"
ENV_SPACE_AUTHOR = "SPACE_AUTHOR_NAME"
ENV_MAX_RUN_MINUTES = "ANIMAL_AUDIO_MAX_RUN_MINUTES"
ENV_RATE_LIMIT = "ANIMAL_AUDIO_RATE_LIMIT"
#: Gradio's local sign-in mock (anybody becomes this machine's Hugging Face user): for trying sign-in out.
ENV_SIGN_IN_MOCK = "ANIMAL_AUDIO_SIGN_IN_MOCK"
#: Values of ANIMAL_AUDIO_TRAINING that turn training off.
OFF_VALUES = frozenset({"0", "off", "false", "no"})
#: In public mode: classifications per client and minute, and the longest run (a Space's CPU is shared).
PUBLIC_RATE_LIMIT = 30
PUBLIC_MAX_RUN_MINUTES = 120.0
RATE_WINDOW_SECONDS = 60.0
#: Clients remembered by the rate limiter; the oldest are forgotten first (a flood of addresses stays bounded).
MAX_CLIENTS = 10_000


class AccessError(AnimalAudioError):
    """This visitor may not do that here (sign-in needed, or too many requests)."""


@dataclass(frozen=True)
class Access:
    """What one visitor may do with training; `reason` says why not, for the page. `who` names the visitor
    (the signed-in user, else the browser session) as the owner of a run they start."""

    allowed: bool
    reason: str = ""
    who: str = ""
    admin: bool = False

    def require(self) -> Access:
        """Itself when allowed, else AccessError with the reason: every server-side handler checks this."""
        if not self.allowed:
            raise AccessError(self.reason)
        return self


def training_enabled() -> bool:
    return os.environ.get(ENV_TRAINING, "").strip().lower() not in OFF_VALUES


def admins() -> frozenset[str]:
    """The Space's owner and ANIMAL_AUDIO_ADMINS (comma-separated Hugging Face user names)."""
    names = os.environ.get(ENV_ADMINS, "").split(",") + [os.environ.get(ENV_SPACE_AUTHOR, "")]
    return frozenset(n.strip().lower() for n in names if n.strip())


def training_access(user: Optional[str], session: str = "", *, sign_in_available: bool = True) -> Access:
    """Whether `user` (a signed-in Hugging Face name, or None) in browser `session` may start and cancel runs.
    A session id is the page's own word: it tells visitors' runs apart locally, it never grants anything."""
    who = f"user:{user}" if user else f"session:{session}" if session else ""
    if not training_enabled():
        return Access(False, "Training is turned off on this app (ANIMAL_AUDIO_TRAINING=off).", who)
    if not settings.public_mode():
        return Access(True, who=who, admin=True)
    if user and user.strip().lower() in admins():
        return Access(True, who=who, admin=True)
    if user:
        return Access(
            False, f"Signed in as {user}: only this Space's owner and its admins may train here.", who
        )
    if not sign_in_available:
        return Access(
            False,
            "Training here belongs to the operator, and sign-in works only on Hugging Face Spaces. "
            "Results of earlier runs are shown below.",
            who,
        )
    return Access(
        False, "Training belongs to this Space's owner: sign in with Hugging Face above to train.", who
    )


def sign_in_wanted() -> bool:
    """Whether the page offers sign-in: public mode with training on."""
    return settings.public_mode() and training_enabled()


def sign_in_works() -> bool:
    """Sign-in is real only on a Space with `hf_oauth: true`. Elsewhere Gradio mocks it: anybody who opens
    /login/huggingface becomes this machine's Hugging Face user, so the mock is for trying it out
    (ANIMAL_AUDIO_SIGN_IN_MOCK=1), never for a public server."""
    if os.environ.get("SYSTEM") == "spaces":
        return bool(os.environ.get("OAUTH_CLIENT_ID"))
    if not settings.env_flag(ENV_SIGN_IN_MOCK):
        return False
    log.warning(
        "%s=1: anybody who opens this app can sign in as this machine's Hugging Face user", ENV_SIGN_IN_MOCK
    )
    from huggingface_hub import get_token, whoami

    try:  # Gradio's mock asks the Hub who this machine is, and fails the page without an answer
        return get_token() is not None and whoami().get("type") == "user"
    except Exception as error:  # offline, or no network
        log.warning("no Hugging Face sign-in on this machine: %s", error)
        return False


def max_run_seconds() -> Optional[float]:
    """A run's wall-clock limit: ANIMAL_AUDIO_MAX_RUN_MINUTES (0: none), else 2 h in public mode, else none."""
    minutes = _number(ENV_MAX_RUN_MINUTES)
    if minutes is None:
        minutes = PUBLIC_MAX_RUN_MINUTES if settings.public_mode() else 0
    return minutes * 60 if minutes > 0 else None


def rate_limit() -> Optional[int]:
    """Classifications per client and minute: ANIMAL_AUDIO_RATE_LIMIT (0: none), else 30 in public mode."""
    limit = _number(ENV_RATE_LIMIT)
    if limit is None:
        limit = PUBLIC_RATE_LIMIT if settings.public_mode() else 0
    return int(limit) if limit >= 1 else None


def _number(env: str) -> Optional[float]:
    """The variable's value as a number; None when unset or not a number (then the default holds)."""
    try:
        value = float(os.environ.get(env, ""))
    except ValueError:
        return None
    return max(0.0, value) if math.isfinite(value) else None


class RateLimiter:
    """At most `limit` calls per client in any `window` seconds (a sliding window; thread-safe)."""

    def __init__(
        self,
        limit: Optional[int],
        window: float = RATE_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.window, self._clock = limit, window, clock
        self._calls: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, client: str) -> None:
        """Count one call of `client`, or raise AccessError saying how long to wait."""
        if not self.limit:
            return
        now = self._clock()
        with self._lock:
            calls = self._calls.pop(client, None) or deque()
            while calls and calls[0] <= now - self.window:
                calls.popleft()
            self._calls[client] = calls  # most recent last: the dict's order is the age order
            if len(calls) >= self.limit:
                wait = max(1, round(calls[0] + self.window - now))
                raise AccessError(
                    f"Too many requests: {self.limit} classifications a minute per visitor. Wait {wait} s."
                )
            calls.append(now)
            while len(self._calls) > MAX_CLIENTS:
                del self._calls[next(iter(self._calls))]


def client_address(headers: Mapping[str, str], peer: Any) -> str:
    """Who is asking, for the rate limit: the visitor's address. Behind the Spaces proxy that is the last
    X-Forwarded-For hop (the proxy's own entry; earlier ones are the visitor's to forge), else the peer."""
    address = str(getattr(peer, "host", "") or "unknown")
    if os.environ.get("SYSTEM") == "spaces":
        hops = [hop.strip() for hop in headers.get("x-forwarded-for", "").split(",") if hop.strip()]
        address = hops[-1] if hops else address
    try:  # an IPv6 host holds a whole /64 to rotate through: that is one visitor
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else address

"""Whether a clip is probably none of the ten animals: one verdict type for both models' rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class OpenSetVerdict:
    """A model's "not one of the ten?" answer; `heard` names what it heard instead, when it can say."""

    none_of_the_ten: bool
    reason: str
    heard: Optional[str] = None

    def as_dict(self) -> dict[str, Any]:
        return {"none_of_the_ten": self.none_of_the_ten, "reason": self.reason, "heard": self.heard}

"""Whether a clip is probably none of the ten animals: one verdict type for both models' rules, and YAMNet's
(a specific AudioSet class outside the ten clearly outscoring them, or too small a share of score on them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from animal_audio.i18n import DEFAULT, tr, translate_error
from animal_audio.labels import AUDIOSET_TO_ANIMAL

# AudioSet classes (YAMNet's class map names) that are not evidence of "something else": chosen from the
# ontology's meaning alone, never tuned on any fold.
#: Parents of the ten (or of two of them at once), and sounds any bird makes (the crow, hen and rooster
#: too; ontology: Squawk is "a bird such as a parrot or chicken"): a dog or a rooster triggers them.
ANIMAL_PARENTS: frozenset[str] = frozenset(
    {
        "Animal",
        "Domestic animals, pets",
        "Livestock, farm animals, working animals",
        "Wild animals",
        "Fowl",
        "Chicken, rooster",
        "Bird",
        "Bird vocalization, bird call, bird song",
        "Squawk",
        "Bird flight, flapping wings",
    }
)
#: No source at all: the room, the recording, the quiet between calls; every clip carries them.
SOURCELESS: frozenset[str] = frozenset(
    {
        "Silence",
        "Inside, small room",
        "Inside, large room or hall",
        "Inside, public space",
        "Outside, urban or manmade",
        "Outside, rural or natural",
        "Reverberation",
        "Echo",
        "Noise",
        "Environmental noise",
        "Field recording",
        "Sound effect",
    }
)
GENERIC_AUDIOSET = ANIMAL_PARENTS | SOURCELESS
#: AudioSet's other animals (its "Animal" branch minus the ten's classes and the generic ones above):
#: YAMNet's near neighbours of the ten, so they get their own margin; a verdict names them with "a".
OTHER_ANIMALS: frozenset[str] = frozenset(
    {
        "Horse",
        "Clip-clop",
        "Neigh, whinny",
        "Cowbell",
        "Goat",
        "Turkey",
        "Gobble",
        "Duck",
        "Quack",
        "Goose",
        "Honk",
        "Roaring cats (lions, tigers)",
        "Roar",
        "Chirp, tweet",
        "Pigeon, dove",
        "Coo",
        "Owl",
        "Hoot",
        "Rodents, rats, mice",
        "Mouse",
        "Patter",
        "Snake",
        "Rattle",
        "Whale vocalization",
    }
)

# Fitted by benchmarks/open_set.py on ESC-50 folds 1-4 only (benchmarks/results/open_set.json): each is the
# level that flags RULE_BUDGET of those animal clips; fold 5 is only checked against them.
#: Another animal's score minus the best mapped class's score above which YAMNet says "not one of the ten".
YAMNET_ANIMAL_MARGIN = 0.2483
#: The same for any other specific sound (speech, music, a vehicle, a sine wave).
YAMNET_SOUND_MARGIN = 0.3253
#: Below this share of YAMNet's score on the ten's classes, the clip is none of them.
YAMNET_MIN_ANIMAL_SHARE = 0.0041
#: Share of the training folds' animal clips each of the three rules may flag (three rules: at most 3%).
RULE_BUDGET = 0.01
#: A flagged clip's top class is named as what YAMNet heard only from this score on (0-1, sigmoid).
HEARD_MIN_SCORE = 0.1
HEARD_ONE_OF_TEN = "YAMNet hears one of the ten animals"


@dataclass(frozen=True)
class OpenSetVerdict:
    """A model's "not one of the ten?" answer; `heard` names what it heard instead, when it can say."""

    none_of_the_ten: bool
    reason: str
    heard: Optional[str] = None

    def as_dict(self) -> dict[str, Any]:
        return {"none_of_the_ten": self.none_of_the_ten, "reason": self.reason, "heard": self.heard}


def audioset_evidence(
    scores: np.ndarray, class_names: Sequence[str], animal_of_class: np.ndarray
) -> dict[str, Any]:
    """What the rule needs from one clip's 521 mean scores, JSON-ready for `Prediction.extras`."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    mapped = animal_of_class >= 0
    outside = ~mapped & np.array([name not in GENERIC_AUDIOSET for name in class_names])
    animal = outside & np.array([name in OTHER_ANIMALS for name in class_names])

    def best(mask: np.ndarray) -> list[Any]:
        if not mask.any():
            return ["", 0.0]
        i = int(np.flatnonzero(mask)[np.argmax(scores[mask])])
        return [class_names[i], round(float(scores[i]), 6)]

    return {
        "best_mapped": round(float(scores[mapped].max(initial=0.0)), 6),
        "best_other_animal": best(animal),
        "best_other_sound": best(outside & ~animal),
    }


def yamnet_verdict(
    extras: dict[str, Any],
    *,
    animal_margin: float = YAMNET_ANIMAL_MARGIN,
    sound_margin: float = YAMNET_SOUND_MARGIN,
    min_share: float = YAMNET_MIN_ANIMAL_SHARE,
) -> OpenSetVerdict:
    """YAMNet's answer from a zero-shot prediction's extras (`audioset_evidence` and `other_mass`)."""
    mapped = float(extras["best_mapped"])
    candidates = [
        (float(extras[key][1]) - mapped - margin, str(extras[key][0]), float(extras[key][1]))
        for key, margin in (("best_other_animal", animal_margin), ("best_other_sound", sound_margin))
        if extras[key][0]
    ]
    excess, heard, score = max(candidates, default=(-1.0, "", 0.0))
    if excess > 0:
        return OpenSetVerdict(
            True,
            f"YAMNet scores {heard} {score:.2f}, above every class of the ten (best {mapped:.2f})",
            heard,
        )
    share = 1.0 - float(extras["other_mass"])
    if share < min_share:
        # Named by YAMNet's top class, silence included, unless it is one of the ten's or their parents'.
        louder = [
            str(name)
            for name, top in extras.get("top_audioset", [])
            if top >= HEARD_MIN_SCORE and name not in AUDIOSET_TO_ANIMAL and name not in ANIMAL_PARENTS
        ]
        reason = f"only {share:.1%} of YAMNet's score is on the ten animals' classes"
        return OpenSetVerdict(True, reason, louder[0] if louder else None)
    return OpenSetVerdict(False, HEARD_ONE_OF_TEN)


def sounds_like(heard: str) -> str:
    """An AudioSet name as a phrase: "a horse", "speech", "a pigeon" (first name of a list)."""
    phrase = heard.split(",")[0].strip().lower()
    if heard not in OTHER_ANIMALS:
        return phrase
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def verdict_line(model: str, verdict: dict[str, Any], lang: str = DEFAULT) -> str:
    """The line above the charts for a flagged clip, from any model's `open_set` entry, in `lang`
    (AudioSet's names stay English: Russian quotes them)."""
    heard = verdict.get("heard")
    if heard in OTHER_ANIMALS:
        phrase = sounds_like(heard) if lang == DEFAULT else f"«{heard.split(',')[0].strip()}»"
        return tr("open_set_animal", lang, model=model, heard=phrase)
    if heard:  # speech, music, a tone...: AudioSet's own name reads better than a guessed article
        return tr("open_set_heard", lang, model=model, heard=heard.split(",")[0].strip())
    reason = translate_error(str(verdict.get("reason", "")), lang)
    return tr("open_set_other", lang, model=model, reason=reason)


def fit_yamnet_thresholds(
    evidence: Iterable[dict[str, Any]], budget: float = RULE_BUDGET
) -> dict[str, float]:
    """Each rule's level that flags `budget` of these clips (animal clips of the training folds)."""
    rows = list(evidence)
    mapped = np.array([float(e["best_mapped"]) for e in rows])
    animal = np.array([float(e["best_other_animal"][1]) for e in rows]) - mapped
    sound = np.array([float(e["best_other_sound"][1]) for e in rows]) - mapped
    share = 1.0 - np.array([float(e["other_mass"]) for e in rows])
    return {
        "animal_margin": float(np.quantile(animal, 1.0 - budget)),
        "sound_margin": float(np.quantile(sound, 1.0 - budget)),
        "min_share": float(np.quantile(share, budget)),
    }

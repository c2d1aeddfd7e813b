"""Label sets: class names in target order, the one order of every classifier's probabilities (so plots,
metrics and CSV files line up without lookups). The default is the 10 ESC-50 animals; AudioSet maps onto them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import numpy as np

log = logging.getLogger(__name__)

#: ESC-50 targets 0-9, the "Animals" category, in target order.
CLASSES: tuple[str, ...] = (
    "dog",
    "rooster",
    "pig",
    "cow",
    "frog",
    "cat",
    "hen",
    "insects",
    "sheep",
    "crow",
)
NUM_CLASSES = len(CLASSES)
LABEL2ID: MappingProxyType[str, int] = MappingProxyType({c: i for i, c in enumerate(CLASSES)})
ID2LABEL: MappingProxyType[int, str] = MappingProxyType(dict(enumerate(CLASSES)))

#: What a person reads in the app and in reports.
DISPLAY_NAMES: MappingProxyType[str, str] = MappingProxyType(
    {
        "dog": "Dog",
        "rooster": "Rooster",
        "pig": "Pig",
        "cow": "Cow",
        "frog": "Frog",
        "cat": "Cat",
        "hen": "Hen",
        "insects": "Insects (flying)",
        "sheep": "Sheep",
        "crow": "Crow",
    }
)

EMOJI: MappingProxyType[str, str] = MappingProxyType(
    {
        "dog": "🐕",
        "rooster": "🐓",
        "pig": "🐖",
        "cow": "🐄",
        "frog": "🐸",
        "cat": "🐈",
        "hen": "🐔",
        "insects": "🦟",
        "sheep": "🐑",
        "crow": "🐦‍⬛",
    }
)

#: One colour per class (colour-blind friendly, Okabe-Ito + Tol), used on both sides of every chart.
COLORS: MappingProxyType[str, str] = MappingProxyType(
    {
        "dog": "#E69F00",
        "rooster": "#D55E00",
        "pig": "#CC79A7",
        "cow": "#8C564B",
        "frog": "#009E73",
        "cat": "#0072B2",
        "hen": "#F0E442",
        "insects": "#56B4E9",
        "sheep": "#999999",
        "crow": "#332288",
    }
)

#: Colours for classes beyond the animals' own (plotly's Dark24, then Light24: distinct and readable).
_MORE_COLORS = (
    "#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#222A2A", "#B68100", "#750D86", "#EB663B",
    "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE", "#862A16", "#A777F1",
    "#620042", "#1616A7", "#DA60CA", "#6C4516", "#0D2A63", "#AF0038", "#FD3216", "#00FE35", "#6A76FC",
    "#FED4C4", "#FE00CE", "#0DF9FF", "#F6F926", "#FF9616", "#479B55", "#EEA6FB", "#DC587D", "#D626FF",
    "#6E899C", "#00B5F7", "#B68E00", "#C9FBE5", "#FF0092", "#22FFA7", "#E3EE9E", "#86CE00", "#BC7196",
    "#7E7DCD", "#FC6955", "#E48F72",
)  # fmt: skip


@dataclass(frozen=True)
class LabelSet:
    """The classes of a dataset, a run or a trained head, in target order, and how people read them.
    Hashable and small, so a Prediction can carry its own."""

    names: tuple[str, ...]
    display_names: Mapping[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.names)
        if len(names) < 2 or len(set(names)) != len(names) or not all(n.strip() for n in names):
            raise ValueError(f"a label set needs two or more distinct, non-empty names, got {names}")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "display_names", MappingProxyType(dict(self.display_names)))

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        return self.names.index(name)

    @property
    def is_animals(self) -> bool:
        return self.names == CLASSES

    def display(self, name: str) -> str:
        """Class name as shown to people (with the animals' emoji)."""
        shown = self.display_names.get(name) or name.replace("_", " ").capitalize()
        return f"{EMOJI[name]} {shown}" if name in EMOJI and self.is_animals else shown

    def color(self, name: str) -> str:
        if name in COLORS:
            return COLORS[name]
        others = [n for n in self.names if n not in COLORS]
        return _MORE_COLORS[others.index(name) % len(_MORE_COLORS)]

    def as_dict(self) -> dict[str, Any]:
        """JSON form written beside a dataset, in a run's metrics.json and with a trained head."""
        return {"names": list(self.names), "display_names": dict(self.display_names)}

    @classmethod
    def from_dict(cls, document: Mapping[str, Any] | None) -> LabelSet:
        """The label set a file recorded; files from before label sets existed hold the animals."""
        if not document or not document.get("names"):
            return ANIMALS
        names = tuple(document["names"])
        return ANIMALS if names == CLASSES else cls(names, dict(document.get("display_names") or {}))


ANIMALS = LabelSet(CLASSES, DISPLAY_NAMES)


# YAMNet zero-shot: AudioSet classes (display names in yamnet_class_map.csv, AudioSet
# ontology ids in comments) assigned to an animal by what the ontology says they are.
# Chosen from the ontology's meaning alone, never tuned on any fold. Generic parents
# ("Animal", "Domestic animals, pets", "Bird", "Fowl", "Livestock") are left out:
# they do not say which of the 10 animals it is, so their mass counts as "other".
# "Chicken, rooster" (/m/09b5t) is left out for the same reason: it is the parent of
# both "Cluck" (hen) and "Crowing, cock-a-doodle-doo" (rooster), so it names both.
AUDIOSET_TO_ANIMAL: MappingProxyType[str, str] = MappingProxyType(
    {
        "Dog": "dog",  # /m/0bt9lr
        "Bark": "dog",  # /m/05tny_
        "Yip": "dog",  # /m/07r_k2n
        "Howl": "dog",  # /m/07qf0zm
        "Bow-wow": "dog",  # /m/07rc7d9
        "Growling": "dog",  # /m/0ghcn6
        "Whimper (dog)": "dog",  # /t/dd00136
        "Canidae, dogs, wolves": "dog",  # /m/01z5f
        "Crowing, cock-a-doodle-doo": "rooster",  # /m/07qn5dc
        "Pig": "pig",  # /m/068zj
        "Oink": "pig",  # /t/dd00018
        "Cattle, bovinae": "cow",  # /m/01xq0k1
        "Moo": "cow",  # /m/07rpkh9
        "Frog": "frog",  # /m/09ld4
        "Croak": "frog",  # /m/07st88b
        "Cat": "cat",  # /m/01yrx
        "Purr": "cat",  # /m/02yds9
        "Meow": "cat",  # /m/07qrkrw
        "Hiss": "cat",  # /m/07rjwbb
        "Caterwaul": "cat",  # /m/07r81j2
        "Cluck": "hen",  # /m/07st89h
        "Insect": "insects",  # /m/03vt0
        "Mosquito": "insects",  # /m/09f96
        "Fly, housefly": "insects",  # /m/0h2mp
        "Buzz": "insects",  # /m/07pjwq1
        "Bee, wasp, etc.": "insects",  # /m/01h3n
        "Cricket": "insects",  # /m/09xqv
        "Sheep": "sheep",  # /m/07bgp
        "Bleat": "sheep",  # /m/07q0h5t
        "Crow": "crow",  # /m/04s8yn
        "Caw": "crow",  # /m/07r5c2p
    }
)


def display(label: str) -> str:
    """Class name as shown to people, with its emoji (an animal's); another class's name made readable."""
    return ANIMALS.display(label)


#: An ESC-50 class inside another: where a label set has the broader class but not the narrower one, the
#: narrower one's AudioSet classes count for the broader (Cricket is an Insect: the ten animals' "insects").
BROADER: MappingProxyType[str, str] = MappingProxyType({"crickets": "insects"})


def audioset_map(labels: LabelSet) -> dict[str, str]:
    """AudioSet display name -> class of `labels`, for the classes with a meaning-based mapping (the ten
    animals: AUDIOSET_TO_ANIMAL exactly; other ESC-50 classes: audioset_map.py)."""
    from animal_audio.audioset_map import AUDIOSET_TO_ESC50

    if labels.is_animals:
        return dict(AUDIOSET_TO_ANIMAL)
    mapping = {}
    for audioset, cls in AUDIOSET_TO_ESC50.items():
        cls = cls if cls in labels.names else BROADER.get(cls, "")
        if cls in labels.names:
            mapping[audioset] = cls
    return mapping


def zero_shot_problem(labels: LabelSet) -> str | None:
    """Why YAMNet zero-shot cannot answer over `labels` (a class with no AudioSet mapping), or None."""
    mapped = set(audioset_map(labels).values())
    unmapped = [name for name in labels.names if name not in mapped]
    if not unmapped:
        return None
    return (
        f"not applicable to this label set: no AudioSet classes are mapped to {', '.join(unmapped)} "
        "(zero-shot reads YAMNet's AudioSet classes through the fixed map in labels.py / audioset_map.py)"
    )


def animal_index(class_names: Sequence[str], labels: LabelSet | None = None) -> np.ndarray:
    """For each class of a model's AudioSet class map: its class's index in `labels` (the animals by
    default), or -1."""
    labels = labels or ANIMALS
    mapping = audioset_map(labels)
    index = np.full(len(class_names), -1, dtype=np.int64)
    position = {name: i for i, name in enumerate(class_names)}
    missing = [name for name in mapping if name not in position]
    if missing:
        log.warning("AudioSet classes not in this YAMNet class map (ignored): %s", ", ".join(missing))
    for name, cls in mapping.items():
        if name in position:
            index[position[name]] = labels.index(cls)
    return index


def animal_probabilities(
    scores: np.ndarray, animal_of_class: np.ndarray, classes: int = NUM_CLASSES
) -> tuple[np.ndarray, float | np.ndarray]:
    """AudioSet scores read as mass -> (probabilities over the classes, mass on other classes), for a clip
    [521] or per frame [n, 521]: each class sums its AudioSet classes' mass (Dog and Bark: both a dog)."""
    rows = np.clip(np.atleast_2d(np.asarray(scores, dtype=np.float64)), 0.0, None)
    mapped = animal_of_class >= 0
    animal_mass = rows[:, mapped] @ np.eye(classes)[animal_of_class[mapped]]
    animal_total = animal_mass.sum(axis=1)
    total = rows.sum(axis=1)
    silent = animal_total <= 1e-12  # no mass on any class: uniform
    probs = np.where(
        silent[:, None], 1.0 / classes, animal_mass / np.where(silent, 1.0, animal_total)[:, None]
    )
    other = np.where(silent, 1.0, np.clip(1.0 - animal_total / np.where(silent, 1.0, total), 0.0, 1.0))
    if np.ndim(scores) == 1:
        return probs[0], float(other[0])
    return probs, other

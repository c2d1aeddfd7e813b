"""The 10 ESC-50 animal classes in target order, the one order of every classifier's probabilities (so plots,
metrics and CSV files line up without lookups), and how AudioSet maps onto them."""

from __future__ import annotations

import logging
from types import MappingProxyType
from typing import Sequence

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
    """Class name as shown to people, with its emoji."""
    return f"{EMOJI[label]} {DISPLAY_NAMES[label]}"


def animal_index(class_names: Sequence[str]) -> np.ndarray:
    """For each class of a model's AudioSet class map: its animal's index in CLASSES, or -1."""
    index = np.full(len(class_names), -1, dtype=np.int64)
    position = {name: i for i, name in enumerate(class_names)}
    missing = [name for name in AUDIOSET_TO_ANIMAL if name not in position]
    if missing:
        log.warning("AudioSet classes not in this YAMNet class map (ignored): %s", ", ".join(missing))
    for name, animal in AUDIOSET_TO_ANIMAL.items():
        if name in position:
            index[position[name]] = CLASSES.index(animal)
    return index


def animal_probabilities(
    scores: np.ndarray, animal_of_class: np.ndarray
) -> tuple[np.ndarray, float | np.ndarray]:
    """AudioSet scores read as mass -> (probabilities over CLASSES, mass on other classes), for a clip [521]
    or per frame [n, 521]: each animal sums its classes' mass, as Dog and Bark are both evidence of a dog."""
    rows = np.clip(np.atleast_2d(np.asarray(scores, dtype=np.float64)), 0.0, None)
    mapped = animal_of_class >= 0
    animal_mass = rows[:, mapped] @ np.eye(NUM_CLASSES)[animal_of_class[mapped]]
    animal_total = animal_mass.sum(axis=1)
    total = rows.sum(axis=1)
    silent = animal_total <= 1e-12  # no mass on any animal: uniform
    probs = np.where(
        silent[:, None], 1.0 / NUM_CLASSES, animal_mass / np.where(silent, 1.0, animal_total)[:, None]
    )
    other = np.where(silent, 1.0, np.clip(1.0 - animal_total / np.where(silent, 1.0, total), 0.0, 1.0))
    if np.ndim(scores) == 1:
        return probs[0], float(other[0])
    return probs, other

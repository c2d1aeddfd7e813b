"""The 50-class AudioSet -> ESC-50 table agrees with the shared ESC-50 metadata, YAMNet's class map
and the 10-animal table in labels.py."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from animal_audio import labels
from animal_audio.audioset_map import AUDIOSET_TO_ESC50, ESC50_CLASSES, ESC50_DISPLAY_NAMES

#: The one deliberate difference from labels.AUDIOSET_TO_ANIMAL: with crickets a class of its own,
#: AudioSet's Cricket is crickets, not (flying) insects.
MOVED = {"Cricket": ("insects", "crickets")}


def test_classes_are_esc50_categories_in_target_order(esc50_dir: Path) -> None:
    with open(esc50_dir / "meta" / "esc50.csv", newline="") as f:
        category = {int(row["target"]): row["category"] for row in csv.DictReader(f)}
    assert sorted(category) == list(range(50))
    assert tuple(category[t] for t in range(50)) == ESC50_CLASSES
    assert ESC50_CLASSES[: labels.NUM_CLASSES] == labels.CLASSES


def test_display_names_cover_every_class_and_keep_the_animals() -> None:
    assert set(ESC50_DISPLAY_NAMES) == set(ESC50_CLASSES)
    assert all(name.strip() for name in ESC50_DISPLAY_NAMES.values())
    for animal in labels.CLASSES:
        assert ESC50_DISPLAY_NAMES[animal] == labels.DISPLAY_NAMES[animal]


def test_every_key_is_a_yamnet_class(shared_dir: Path) -> None:
    with open(shared_dir / "models" / "yamnet" / "yamnet_class_map.csv", newline="") as f:
        names = {row["display_name"] for row in csv.DictReader(f)}
    assert len(names) == 521
    missing = sorted(set(AUDIOSET_TO_ESC50) - names)
    assert not missing, f"not in yamnet_class_map.csv: {missing}"


def test_every_class_has_an_audioset_class_and_values_are_classes() -> None:
    assert set(AUDIOSET_TO_ESC50.values()) <= set(ESC50_CLASSES)
    counts = Counter(AUDIOSET_TO_ESC50.values())
    assert [c for c in ESC50_CLASSES if counts[c] == 0] == []


def test_names_of_two_classes_are_left_out() -> None:
    for parent in ("Chicken, rooster", "Door", "Clock", "Aircraft", "Bird", "Animal"):
        assert parent not in AUDIOSET_TO_ESC50


def test_animals_match_labels_except_cricket() -> None:
    animals = set(labels.CLASSES)
    subset = {name: c for name, c in AUDIOSET_TO_ESC50.items() if c in animals}
    expected = {name: c for name, c in labels.AUDIOSET_TO_ANIMAL.items() if name not in MOVED}
    assert subset == expected
    for name, (in_labels, here) in MOVED.items():
        assert labels.AUDIOSET_TO_ANIMAL[name] == in_labels
        assert AUDIOSET_TO_ESC50[name] == here

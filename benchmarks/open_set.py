"""YAMNet's "none of the ten?" thresholds, fitted on ESC-50's training folds 1-4 (the constants in
animal_audio/open_set.py are its output); fold 5 only checks them."""

# Runs the zero-shot model (the app's code path) on every animal clip, fits each rule's level so it flags
# open_set.RULE_BUDGET of the training clips, and reports the flag rate per fold for the fitted levels and
# for the module's constants:
#     python -m benchmarks.open_set --esc50-dir ../shared/esc50 --yamnet ../shared/models/yamnet/yamnet.tflite

from __future__ import annotations

import argparse
import collections
import json
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # `python benchmarks/open_set.py`
    sys.path.insert(0, str(REPO))

from benchmarks import common  # noqa: E402
from benchmarks.common import start_logging  # noqa: E402

DEFAULT_OUT = REPO / "benchmarks" / "results" / "open_set.json"
TRAIN_FOLDS = (1, 2, 3, 4)
TEST_FOLD = 5
#: Decimals the constants in open_set.py keep.
DECIMALS = 4

log = logging.getLogger("benchmarks.open_set")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    start_logging(log.name)
    result = run(args.esc50_dir, args.yamnet)
    from animal_audio.fileio import write_json

    write_json(args.out, result)
    print(json.dumps({k: result[k] for k in ("fitted", "in_module", "flag_rate")}, indent=2))
    return 0


def run(esc50_dir: str | None, yamnet: str | None) -> dict[str, Any]:
    """Every clip's evidence, the levels fitted on the training folds, and each fold's flag rate."""
    from animal_audio import esc50, open_set, settings
    from animal_audio.audio import load_audio
    from animal_audio.models.yamnet import YamnetZeroShot

    folder = settings.esc50_dir(esc50_dir)
    table = esc50.read_metadata(folder)
    model = YamnetZeroShot.load(yamnet)
    clips = []
    for row in table.itertuples(index=False):
        extras = model.predict(load_audio(folder / "audio" / row.filename)).extras
        keys = ("best_mapped", "best_other_animal", "best_other_sound", "other_mass")
        clips.append(
            {
                "filename": row.filename,
                "fold": int(row.fold),
                "label": row.label,
                **{k: extras[k] for k in keys},
            }
        )
    training = [c for c in clips if c["fold"] in TRAIN_FOLDS]  # fold 5 never chooses a level
    fitted = {k: round(v, DECIMALS) for k, v in open_set.fit_yamnet_thresholds(training).items()}
    in_module = {
        "animal_margin": open_set.YAMNET_ANIMAL_MARGIN,
        "sound_margin": open_set.YAMNET_SOUND_MARGIN,
        "min_share": open_set.YAMNET_MIN_ANIMAL_SHARE,
    }
    flagged = {name: _flags(clips, levels) for name, levels in (("fitted", fitted), ("in_module", in_module))}
    result = {
        "model": model.describe(),
        "train_folds": list(TRAIN_FOLDS),
        "test_fold": TEST_FOLD,
        "rule_budget": open_set.RULE_BUDGET,
        "fitted": fitted,
        "in_module": in_module,
        "flag_rate": {name: _rates(clips, flags) for name, flags in flagged.items()},
        "flagged_test_clips": [
            {**c, "heard": v.heard, "reason": v.reason}
            for c, v in zip(clips, flagged["in_module"])
            if c["fold"] == TEST_FOLD and v.none_of_the_ten
        ],
        "clips": clips,
    }
    if fitted != in_module:
        log.warning("open_set.py's constants differ from the fitted levels: copy %s into it", fitted)
    return result


def _flags(clips: list[dict[str, Any]], levels: dict[str, float]) -> list[Any]:
    from animal_audio.open_set import yamnet_verdict

    return [yamnet_verdict(c, **levels) for c in clips]


def _rates(clips: list[dict[str, Any]], verdicts: list[Any]) -> dict[str, float]:
    """Share of clips flagged: per fold, the training folds together, and the test fold."""
    count: collections.Counter[Any] = collections.Counter()
    total: collections.Counter[Any] = collections.Counter()
    for clip, verdict in zip(clips, verdicts):
        group = "test" if clip["fold"] == TEST_FOLD else "train"
        for key in (f"fold_{clip['fold']}", group):
            total[key] += 1
            count[key] += int(verdict.none_of_the_ten)
    return {key: round(count[key] / total[key], 4) for key in sorted(total)}


def _parser() -> argparse.ArgumentParser:
    return common.parser("open_set", __doc__, DEFAULT_OUT)


if __name__ == "__main__":
    sys.exit(main())

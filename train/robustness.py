"""`python -m train robustness RUN_DIR`: how every model of a finished run holds up when the sound changes.

Each test clip of the run is changed by each transform at three levels (white and pink noise at
30 / 10 / -10 dB SNR, speed 0.8 / 1.1 / 1.25x, pitch -4 / +2 / +4 semitones, a phone line at
16 / 8 / 4 kHz) and every model of the run is scored on it. Writes RUN_DIR/robustness.json
({"rows": [{"model", "transform", "level", "accuracy"}, ...]}), robustness.html and a section of
report.md. A run with HuBERT takes minutes on a CPU (15 passes over the test fold per model).
"""

from __future__ import annotations

import argparse

from animal_audio.formatting import percent
from animal_audio.robustness import DEFAULT_SEED
from train.common import add_command, add_data_argument, progress_for


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "robustness",
        "score a finished run's models on noisy, faster, pitched, phone-line clips",
        __doc__,
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a finished run (the folder with metrics.json)")
    add_data_argument(parser)
    parser.add_argument("--yamnet", help="YAMNet weights, if the run's recorded ones have moved")
    parser.add_argument("--hubert", help="the base HuBERT of a hubert-probe, if the recorded one has moved")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"noise seed (default {DEFAULT_SEED})")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from animal_audio.robustness_run import ROBUSTNESS_FILE, score_run

    progress = progress_for(args)
    try:
        document = score_run(
            args.run_dir,
            data_dir=args.data,
            yamnet=args.yamnet,
            hubert=args.hubert,
            seed=args.seed,
            progress=progress,
        )
    finally:
        progress.close()
    baseline = document["baseline"]
    print(f"\n{document['clips']} test clips of fold {document['test_fold']}; worst accuracy per model:")
    for model, unchanged in baseline.items():
        worst = min((r for r in document["rows"] if r["model"] == model), key=lambda r: r["accuracy"])
        print(
            f"  {model:<16} unchanged {percent(unchanged)}, worst {percent(worst['accuracy'])} "
            f"({worst['transform']} at {worst['level']:g})"
        )
    print(f"Wrote {args.run_dir}/{ROBUSTNESS_FILE}, robustness.html and the report's section.")
    return 0

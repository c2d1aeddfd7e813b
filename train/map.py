"""`python -m train map RUN_DIR`: the map of the ESC-50 clips in each trained model's embedding space.

For every model of a finished run with a trained head (yamnet-probe, hubert-probe, hubert-finetune):
the run's clips embedded (cached), their 2-D PCA, and the distance beyond which a clip is "probably
none of the ten" (set on the training folds), stored in RUN_DIR/clip_map/<model>.npz. The app builds
a missing one by itself on first use; this builds them ahead (HuBERT: minutes on a CPU).
"""

from __future__ import annotations

import argparse

from train.common import add_command, add_data_argument, progress_for


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "map", "map the ESC-50 clips in each trained model's embedding space", __doc__
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a finished run (the folder with metrics.json)")
    add_data_argument(parser)
    parser.add_argument("--yamnet", help="YAMNet weights, if the run's recorded ones have moved")
    parser.add_argument("--hubert", help="the base HuBERT of a hubert-probe, if the recorded one has moved")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from animal_audio.clip_map import index_path
    from animal_audio.clip_map_run import build_run_maps

    progress = progress_for(args)
    try:
        built = build_run_maps(
            args.run_dir, data_dir=args.data, yamnet=args.yamnet, hubert=args.hubert, progress=progress
        )
    finally:
        progress.close()
    if not built:
        print(
            f"{args.run_dir} has no model with a trained head (yamnet-probe, hubert-probe, hubert-finetune)."
        )
        return 1
    for name, index in built.items():
        print(
            f"  {name:<16} {len(index.clips)} clips; 'none of the ten' beyond cosine distance "
            f"{index.threshold:.3f} ({100 * index.test_flagged:.1f}% of test fold {index.test_folds} clips "
            f"flagged against the training folds) -> {index_path(args.run_dir, name)}"
        )
    return 0

"""`python -m train prepare`: ESC-50 release (or a folder of your own classes) -> 16 kHz mono clips +
animals.csv (the clips table) + labels.json (the classes, in order)."""

from __future__ import annotations

import argparse

from animal_audio import esc50, settings
from animal_audio.datasets import esc50_label_set
from animal_audio.errors import DatasetError
from train.common import progress_for

#: How many missing file names the summary prints per class.
SHOWN_MISSING = 5


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prepare",
        help="keep ESC-50's 10 animal classes (or others, or your own folder), convert to 16 kHz mono WAV",
        description="Prepare clips for training and comparison. Idempotent: a second run reuses converted "
        "clips. Default: ESC-50's ten animals.",
    )
    parser.add_argument("--esc50-dir", help="ESC-50 release folder (meta/ + audio/); env ANIMAL_AUDIO_ESC50")
    parser.add_argument(
        "--esc50-classes",
        default="animals",
        help="which ESC-50 classes: animals (default), all (the 50), or names such as dog,rain,sea_waves",
    )
    parser.add_argument(
        "--folder",
        help="your own data instead of ESC-50: one subfolder per class (DIR/<label>/*.wav|flac|ogg|mp3); "
        "seeded stratified folds are written to the CSV",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of --folder's fold assignment")
    parser.add_argument("--out", help="output folder; env ANIMAL_AUDIO_DATA")
    parser.add_argument("--download", action="store_true", help="download the ESC-50 release first")
    parser.add_argument("--allow-missing", action="store_true", help="leave out missing clips (listed)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    progress = progress_for(args)
    out = settings.data_dir(args.out)
    if (args.folder or args.esc50_classes.strip().lower() not in ("", "animals")) and not args.out:
        raise DatasetError(
            "Give these classes their own folder with --out: the default data folder holds the app's ten animals."
        )
    if args.folder:
        from animal_audio.folder_data import prepare_folder

        result = prepare_folder(
            args.folder, out, seed=args.seed, allow_missing=args.allow_missing, progress=progress
        )
    else:
        source = settings.esc50_dir(args.esc50_dir)
        if args.download:
            source = esc50.download(
                source.parent if source.name == esc50.ARCHIVE_ROOT else source, progress=progress
            )
        labels = esc50_label_set(args.esc50_classes, esc50.categories(source))
        result = esc50.prepare(
            source, out, labels=labels, allow_missing=args.allow_missing, progress=progress
        )
    progress.close()
    for problem in result.problems:
        print(f"left out: {problem}")
    for label, files in result.absent.items():
        shown = ", ".join(files[:SHOWN_MISSING]) + (", ..." if len(files) > SHOWN_MISSING else "")
        print(
            f"not found: {label}: none of its {len(files)} clips is in {source / 'audio'} ({shown}). "
            "A full copy of the release has them: --download, or --esc50-dir to one."
        )
    print(f"Prepared {result.manifest}: {result.summary()}")
    return 0

"""`python -m train prepare`: ESC-50 release -> 16 kHz mono animal clips + animals.csv."""

from __future__ import annotations

import argparse

from animal_audio import esc50, settings
from train.common import progress_for


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prepare",
        help="keep ESC-50's 10 animal classes, convert to 16 kHz mono WAV, write animals.csv",
        description="Prepare the ESC-50 animal clips. Idempotent: a second run reuses converted clips.",
    )
    parser.add_argument("--esc50-dir", help="ESC-50 release folder (meta/ + audio/); env ANIMAL_AUDIO_ESC50")
    parser.add_argument("--out", help="output folder; env ANIMAL_AUDIO_DATA")
    parser.add_argument("--download", action="store_true", help="download the ESC-50 release first")
    parser.add_argument("--allow-missing", action="store_true", help="leave out missing clips (listed)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    progress = progress_for(args)
    source = settings.esc50_dir(args.esc50_dir)
    if args.download:
        source = esc50.download(
            source.parent if source.name == esc50.ARCHIVE_ROOT else source, progress=progress
        )
    result = esc50.prepare(
        source, settings.data_dir(args.out), allow_missing=args.allow_missing, progress=progress
    )
    progress.close()
    for problem in result.problems:
        print(f"left out: {problem}")
    print(f"Prepared {result.manifest}: {result.summary()}")
    return 0

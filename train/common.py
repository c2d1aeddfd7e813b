"""What every command shares: tqdm progress bars and turning errors into messages and exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable

from tqdm.auto import tqdm

from animal_audio import settings
from animal_audio.errors import AnimalAudioError, CancelledError
from animal_audio.progress import ProgressCallback, ProgressEvent

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


class tqdm_progress:  # noqa: N801 - used like a function: progress=tqdm_progress()
    """A ProgressCallback that draws one tqdm bar per stage, closing the previous one."""

    def __init__(self, disable: bool | None = None) -> None:
        self._bar: tqdm | None = None
        self._stage = ""
        self._disable = disable

    def __call__(self, event: ProgressEvent) -> None:
        if event.stage != self._stage:
            self.close()
            self._stage = event.stage
            self._bar = tqdm(
                total=1000,
                desc=event.stage,
                unit="‰",
                leave=True,
                disable=self._disable,
                bar_format="{desc:>12}: {percentage:3.0f}%|{bar}| {postfix}",
            )
        assert self._bar is not None
        self._bar.n = int(event.fraction * 1000)
        self._bar.set_postfix_str(event.message[:60], refresh=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def run_command(command: Callable[[], int]) -> int:
    """Run a command; user-facing errors become a message and a non-zero exit, never a traceback."""
    try:
        return command()
    except CancelledError as error:
        print(f"\nStopped: {error}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print(
            "\nStopped (Ctrl-C). Finished steps are kept; run the same command again to resume.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except AnimalAudioError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(message)s")


def progress_for(args: object) -> ProgressCallback:
    return tqdm_progress(disable=getattr(args, "quiet", False) or None)


def add_command(
    subparsers: argparse._SubParsersAction, name: str, help: str, doc: str
) -> argparse.ArgumentParser:
    """A subcommand whose --help shows its module docstring as written."""
    return subparsers.add_parser(
        name, help=help, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def add_data_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="prepared data (animals.csv + audio/); env ANIMAL_AUDIO_DATA")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--hubert / --yamnet / --device / --fast, shared by compare and evaluate."""
    parser.add_argument("--hubert", help=f"HuBERT hub id or directory (default {settings.DEFAULT_HUBERT})")
    parser.add_argument(
        "--yamnet", help="YAMNet TF Hub handle, SavedModel dir or .tflite file (default: the built-in TFLite)"
    )
    add_device_argument(parser)
    parser.add_argument("--fast", action="store_true", default=None, help="int8 HuBERT inference")


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", help="torch device: cpu, cuda, mps (default: best available)")

"""What every command shares: tqdm progress bars and turning errors into messages and exit codes."""

from __future__ import annotations

import logging
import sys
from typing import Callable

from tqdm.auto import tqdm

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

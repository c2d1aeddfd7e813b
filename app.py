"""Gradio app: which animal is that? HuBERT and YAMNet side by side on ESC-50's ten animals.

The entry point only: the page is `animal_audio.ui` (one module per tab), what a click does is
`animal_audio.demo`. Models load in a warm-up thread started before gradio's import (README "Speed");
warm start (`demo/warm.py`) may train HuBERT's head."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from animal_audio.demo import training, warm
from animal_audio.demo.models import Registry

#: The app's shared state: its one training job, warm start (which may use it) and its models.
JOB = training.TrainingJob()
WARM = warm.WarmStart(JOB)
REGISTRY = Registry(trainer=WARM)


def use_trained_models(run_dir: Path) -> None:
    """Runs in the training thread: switch the Classify tab to the new models and load them."""
    REGISTRY.use_run(run_dir)
    REGISTRY.warm_up()


def build() -> Any:
    """The page over this process's job and models; gradio is imported here, after the warm-up started."""
    from animal_audio.ui.common import AppState
    from animal_audio.ui.page import build_page

    return build_page(AppState.create(JOB, REGISTRY, use_trained_models))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    WARM.launch(
        REGISTRY, on_done=use_trained_models
    )  # models load while gradio imports and the page is built
    from animal_audio.ui.page import launch

    launch(build())


if __name__ == "__main__":
    main()

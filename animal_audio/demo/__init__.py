"""What the app does, without the UI: models, classify, status, examples, one training job.

`app.py` only lays out Gradio components and calls these functions, so everything a
person sees can be tested without a browser. Models load lazily (the first request,
or the warm-up thread) and once per process; every app session shares them.

One module per concern:
- sides: the two sides (HuBERT, YAMNet), model titles, the states a side can be in
- registry: which weights each side uses, loaded once and shared (run_models: a run's layout)
- answer: both models on one clip -> the JSON answer; answer_view: its verdict and charts
- status: the Models panel
- examples: ESC-50 example clips, fetched on demand
- training_plan: the Train tab's config, expected time and data check; training: the job runner
- results: a finished run's table, figures and mistakes
- texts: the longer explanations shown in the page
"""

from animal_audio.demo.answer import TOP_AUDIOSET, ClassifyResult, classify
from animal_audio.demo.answer_view import empty_figures
from animal_audio.demo.examples import data_status_markdown, example_clips, fetch_examples
from animal_audio.demo.registry import LoadedModel, Registry, default_registry
from animal_audio.demo.results import RunView, clip_path, load_run_view
from animal_audio.demo.sides import HUBERT, LOADING, NOT_TRAINED, YAMNET
from animal_audio.demo.status import status_line, status_markdown
from animal_audio.demo.training import JobBusyError, JobSnapshot, TrainingJob
from animal_audio.demo.training_plan import (
    estimate_text,
    expected_seconds,
    is_long,
    make_config,
    require_data,
)

__all__ = [
    "HUBERT",
    "LOADING",
    "NOT_TRAINED",
    "TOP_AUDIOSET",
    "YAMNET",
    "ClassifyResult",
    "JobBusyError",
    "JobSnapshot",
    "LoadedModel",
    "Registry",
    "RunView",
    "TrainingJob",
    "classify",
    "clip_path",
    "data_status_markdown",
    "default_registry",
    "empty_figures",
    "estimate_text",
    "example_clips",
    "expected_seconds",
    "fetch_examples",
    "is_long",
    "load_run_view",
    "make_config",
    "require_data",
    "status_line",
    "status_markdown",
]

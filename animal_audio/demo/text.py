"""The app's words: the two sides and their states, the longer explanations, and the Models panel.

Every part of the app names sides and states with these constants, so the API's JSON,
the verdict and the Models panel always use the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from animal_audio import settings
from animal_audio.formatting import model_title, percent
from animal_audio.i18n import DEFAULT, tr, translate_error
from animal_audio.public_text import redact

if TYPE_CHECKING:
    from animal_audio.demo.training import JobSnapshot

HUBERT = "hubert"
YAMNET = "yamnet"
SIDES = (HUBERT, YAMNET)
SIDE_TITLES = {HUBERT: "HuBERT", YAMNET: "YAMNet"}

READY = "ready"
NOT_LOADED = "not loaded yet"
UNAVAILABLE = "unavailable"
NOT_TRAINED = "not trained yet"
FAILED = "failed on this clip"
LOADING = "still loading"
LEARNING = "learning the ten animals"

ICONS = {READY: "🟢", NOT_LOADED: "⚪", NOT_TRAINED: "🟡", UNAVAILABLE: "🔴", LEARNING: "⏳"}
OTHER_ICON = "🔴"
#: Each state's key in the catalogue (animal_audio/i18n): the JSON keeps the English word, the page shows its own.
STATE_KEYS = {
    READY: "state_ready",
    NOT_LOADED: "state_not_loaded",
    UNAVAILABLE: "state_unavailable",
    NOT_TRAINED: "state_not_trained",
    FAILED: "state_failed",
    LOADING: "state_loading",
    LEARNING: "state_learning",
}

INTRO = """
Record a sound with the microphone (or upload a clip) and two different AI models guess which of
ten animals it is: 🐕 dog, 🐓 rooster, 🐖 pig, 🐄 cow, 🐸 frog, 🐈 cat, 🐔 hen, 🦟 insects, 🐑 sheep or 🐦‍⬛ crow.
"""

ABOUT_MODELS = """
**HuBERT** (Meta, 2021) learned to listen by predicting hidden parts of 960 hours of people *speaking*,
without any labels (self-supervised). It knows nothing about animals until we **fine-tune** it on
about 240 labelled animal clips from ESC-50 (or train a small linear head on its features).

**YAMNet** (Google) was trained with labels on **AudioSet**: 2 million YouTube clips tagged with
521 everyday sound classes, including *Bark*, *Moo* and *Cluck*. It can guess our ten animals
**zero-shot** (we map its AudioSet classes onto the animals, no training at all), or with a linear
**probe** trained on its features.

**Why they can disagree:** HuBERT has heard lots of speech but no animals before fine-tuning, and
learns from only a few hundred clips; YAMNet has heard many animals already, but its classes are
not exactly ours (it may say "Bird" or "Animal" instead of "Crow"). The charts show each model's
probabilities for the ten animals, in the same order and colours, so you can compare them bar by bar.
"""

TRAIN_INTRO = """
Train and test the models on ESC-50's animal clips, then compare them on the same test clips.
The **quick** mode trains only small linear heads on frozen features (minutes on a CPU); the **full**
mode also fine-tunes all of HuBERT (hours on a CPU, minutes on a GPU). Only one run at a time:
others see its progress. The HuBERT you train here becomes the one the *Classify* tab uses.
"""

FETCH_CLOSED = (
    "Here the operator prepares the ESC-50 clips (warm start, or ANIMAL_AUDIO_ESC50): "
    "visitors cannot start the download (~1.5 GB of disk)."
)
FETCH_NOTE = (
    "The example clips come from the ESC-50 dataset, which is not included "
    "with this app. Fetch it once (~600 MB) into the app's data folder:"
)

#: {text}: the title and tagline in the visitor's language (the catalogue's `header_html`).
HEADER = '<div id="header">{logo}<div>{text}</div></div>'

ESC50_CREDIT = (
    "Example clips: [ESC-50](https://github.com/karolpiczak/ESC-50) by K. J. Piczak "
    "(clips from freesound.org), licensed [CC BY-NC 3.0](https://creativecommons.org/licenses/by-nc/3.0/). "
    "They are downloaded on demand; this app ships no third-party audio."
)

PROTOCOL_INFO = "ESC-50's folds keep clips of one recording together; never a random split."

MODELS_INTRO = "Which weights each side of the comparison uses, from where, and how to fix what is missing."

SETTINGS_HELP = (
    "Settings: `ANIMAL_AUDIO_HUBERT` (hub id or fine-tuned checkpoint directory), "
    "`ANIMAL_AUDIO_YAMNET` (default: the built-in YAMNet; or a TF Hub handle, SavedModel directory or `.tflite`), "
    "`ANIMAL_AUDIO_HOME` (data, caches, runs), `ANIMAL_AUDIO_FAST=1` (int8 HuBERT), "
    "`ANIMAL_AUDIO_WARM_START=1` (train HuBERT's quick head at start-up when there is none)."
)

CLASSIFY_FAILED = (
    "Something went wrong while classifying this clip (error id {error_id}). Try another clip; "
    "if it keeps happening, the server log has the details under that id."
)
#: One model failing on a clip for a reason nobody foresaw ({model}: its side's title).
SIDE_FAILED = "{model} failed on this clip (an unexpected error, id {error_id}). The other model's answer is still shown."
#: A model that failed to load for a reason nobody foresaw; the details (paths, trace) stay in the server log.
LOAD_FAILED = (
    "{model} could not be loaded (an unexpected error, id {error_id}). The server log has the details "
    "under that id: fix the cause, then press *Retry loading*."
)
#: A framework missing from this install ({module}: the module that could not be imported).
IMPORT_FAILED = (
    "The code for this model could not be imported (`{module}` is missing or broken). "
    "Install the requirements: `pip install -r requirements.txt`."
)
#: A comparison run (or warm start) that failed for a reason nobody foresaw.
RUN_FAILED = (
    "The run failed unexpectedly (error id {error_id}). The server log has the details under that id."
)
#: HuBERT while warm start trains its head ({left}: "about 3 min left").
LEARNING_NOTE = (
    "HuBERT is learning the ten animals right now ({left}): the app trains its quick head "
    "(*hubert-probe*) by itself, progress in *Train & compare*. It takes over as soon as the head is "
    "ready, no restart needed; YAMNet answers meanwhile."
)
#: Added to "not trained yet" when warm start could not train HuBERT ({reason}: why).
WARM_START_FAILED = "Warm start could not train it: {reason}"
NO_RUN_YET = "No comparison has finished yet: start one above (or run `python -m train compare`)."

#: How to get a usable HuBERT, shown when that side is unavailable ({default}: its hub id).
HUBERT_FIX = (
    "Train one in the **Train & compare** tab: the quick mode (*hubert-probe*, a linear head on "
    "frozen HuBERT features) takes minutes on a CPU; full fine-tuning (*hubert-finetune*) takes hours "
    "on a CPU, minutes on a GPU. Both need the HuBERT base weights (`{default}`, downloaded once). "
    "Or set `ANIMAL_AUDIO_HUBERT` to a fine-tuned checkpoint directory (one written by "
    "`python -m train finetune`) or a model published with `python -m train publish` (`USER/NAME`), "
    "and restart."
)
#: How to get a working YAMNet ({tfhub}: the float model's TF Hub handle).
YAMNET_FIX = (
    "The built-in YAMNet (`assets/yamnet/yamnet.tflite`) needs no internet: unset `ANIMAL_AUDIO_YAMNET` "
    "and restart to use it. A TF Hub handle (`{tfhub}`) needs the internet; a local SavedModel directory "
    "or `yamnet.tflite` needs `yamnet_class_map.csv` beside it. Then press *Retry loading* or restart."
)


@dataclass(frozen=True)
class ModelStatus:
    """One side of the comparison as the Models panel shows it: every visitor sees it, so its words name
    no server folder (the loaded models' origins, descriptions and reasons may: the log has them in full)."""

    side: str
    state: str
    model: Optional[str]
    origin: str
    description: str
    fix: str = ""

    def __post_init__(self) -> None:
        for name in ("origin", "description", "fix"):
            object.__setattr__(self, name, redact(getattr(self, name)))


def fix_text(side: str, lang: str = DEFAULT) -> str:
    """How a person gets a usable model for this side."""
    if side == HUBERT:
        return tr("hubert_fix", lang, default=settings.DEFAULT_HUBERT)
    return tr("yamnet_fix", lang, tfhub=settings.TFHUB_YAMNET)


def state_text(state: str, lang: str = DEFAULT) -> str:
    """A side's state in the visitor's words ("ready" -> "готова"); one this module does not name, as it is."""
    return tr(STATE_KEYS[state], lang) if state in STATE_KEYS else translate_error(state, lang)


def status_markdown(statuses: list[ModelStatus], lang: str = DEFAULT) -> str:
    """The Models panel: what each side uses, from where, and how to fix what is missing."""
    parts = []
    for status in statuses:
        head = f"#### {ICONS.get(status.state, OTHER_ICON)} {SIDE_TITLES[status.side]}: {state_text(status.state, lang)}"
        body = []
        if status.model:
            body.append(tr("panel_model", lang, title=model_title(status.model, lang), model=status.model))
        if status.origin:
            body.append(tr("panel_weights", lang, origin=translate_error(status.origin, lang)))
        if status.state == LEARNING:
            body.append(f"- {tr('learning_note', lang, left=translate_error(status.description, lang))}")
        elif status.state in (READY, NOT_LOADED):
            body.append(f"- {translate_error(status.description, lang)}")
        else:
            body.append(tr("panel_why", lang, why=translate_error(status.description, lang)))
            if status.state == NOT_TRAINED:
                body.append(tr("panel_not_trained", lang))
            body.append(
                tr("panel_fix", lang, fix=fix_text(status.side, lang) if lang != DEFAULT else status.fix)
            )
        parts.append("\n".join([head, *body]))
    return "\n\n".join(parts)


def status_line(statuses: list[ModelStatus], lang: str = DEFAULT) -> str:
    """One short line for the top of the Classify tab ("⏳ HuBERT: learning the ten animals, about 3 min left")."""
    return " · ".join(
        f"{ICONS.get(s.state, OTHER_ICON)} {SIDE_TITLES[s.side]}: {state_text(s.state, lang)}"
        + (f", {translate_error(s.description, lang)}" if s.state == LEARNING else "")
        for s in statuses
    )


def status_views(statuses: list[ModelStatus], lang: str = DEFAULT) -> tuple[str, str, bool]:
    """The status line, the Models panel, and whether they may still change (a model loading or learning)."""
    changing = any(s.state in (NOT_LOADED, LOADING, LEARNING) for s in statuses)
    return status_line(statuses, lang), status_markdown(statuses, lang), changing


def error_title(error: BaseException, lang: str = DEFAULT) -> str:
    """The title of the message a refused request gets."""
    from animal_audio.access import AccessError
    from animal_audio.errors import AudioError

    if isinstance(error, AudioError):
        return tr("title_audio", lang)
    return tr("title_too_many" if isinstance(error, AccessError) else "title_error", lang)


def cancel_line(stopping: bool, lang: str = DEFAULT) -> str:
    """What the Cancel button says: the job stops at its next safe point, or there was none."""
    return tr("cancel_stopping" if stopping else "cancel_nothing", lang)


def job_line(snap: JobSnapshot, lang: str = DEFAULT) -> str:
    """The one line above the training log: running, stopped, failed or finished."""
    if snap.running:
        stage = snap.stage or tr("job_starting", lang)
        return tr("job_running", lang, stage=stage, percent=percent(snap.fraction, digits=0))
    if snap.cancelled:
        return tr("job_stopped", lang)
    if snap.error:
        return f"❌ {translate_error(redact(snap.error), lang)}"
    return tr("job_finished" if snap.run_dir else "job_none", lang)

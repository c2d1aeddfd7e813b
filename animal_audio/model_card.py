"""The Hub model card (README.md) of a published HuBERT, written from its run's metrics.json alone.

Numbers are never typed by hand: the card, its model-index metadata and report.md all come
from the same metrics document, so they cannot disagree.
"""

from __future__ import annotations

from typing import Any, Optional

from animal_audio import settings
from animal_audio.formatting import model_title, percent
from animal_audio.labels import CLASSES, DISPLAY_NAMES

TASK = "audio-classification"
DATASET_TYPE = "esc50"
DATASET_NAME = "ESC-50 (the 10 animal classes)"
#: The licence of HuBERT-Base's weights as its Hub repository states it.
BASE_LICENCES = {settings.DEFAULT_HUBERT: "apache-2.0"}
#: The training data's terms, which no single SPDX id covers together with the base's: the card's
#: metadata says `license: other` and names both, so nobody reads "apache-2.0" as free for any use.
DATA_LICENCE = "cc-by-nc-3.0"
DATA_LICENCE_LINK = "https://github.com/karolpiczak/ESC-50/blob/master/LICENSE"
#: Stand-ins for paths of the publisher's machine in the training command of a public card.
DATA_PLACEHOLDER = "DATA"
FOLDER_PLACEHOLDER = "LOCAL_FOLDER"
ESC50_CITATION = """@inproceedings{piczak2015dataset,
  title = {{ESC}: {Dataset} for {Environmental Sound Classification}},
  author = {Piczak, Karol J.},
  booktitle = {Proceedings of the 23rd {Annual ACM Conference} on {Multimedia}},
  year = {2015},
  publisher = {{ACM Press}},
  pages = {1015--1018},
  doi = {10.1145/2733373.2806390}
}"""
HUBERT_CITATION = """@article{hsu2021hubert,
  title = {{HuBERT}: Self-Supervised Speech Representation Learning by Masked Prediction of Hidden Units},
  author = {Hsu, Wei-Ning and Bolte, Benjamin and Tsai, Yao-Hung Hubert and Lakhotia, Kushal and
            Salakhutdinov, Ruslan and Mohamed, Abdelrahman},
  journal = {IEEE/ACM Transactions on Audio, Speech, and Language Processing},
  year = {2021}
}"""


def render_card(metrics: dict[str, Any], name: str, repo_id: str, base: Optional[str]) -> str:
    """README.md: YAML front matter (model-index with accuracy and macro-F1) and the card's text."""
    entry = metrics["models"][name]
    front = card_data(metrics, name, repo_id, base).to_yaml()
    return f"---\n{front}\n---\n\n" + "\n".join(_text(metrics, name, entry, repo_id, base)) + "\n"


def card_data(metrics: dict[str, Any], name: str, repo_id: str, base: Optional[str]) -> Any:
    """huggingface_hub's ModelCardData: tags, licence, base model and the run's eval results."""
    from huggingface_hub import EvalResult, ModelCardData

    entry = metrics["models"][name]
    cv = _is_cv(metrics)
    split = "5-fold cross-validation (mean over test folds)" if cv else _test_folds(metrics)
    common = {
        "task_type": TASK,
        "task_name": "Audio Classification",
        "dataset_type": DATASET_TYPE,
        "dataset_name": DATASET_NAME,
        "dataset_config": "animals",
        "dataset_split": split,
    }
    results = [
        EvalResult(metric_type="accuracy", metric_name="Accuracy", metric_value=entry["accuracy"], **common),
        EvalResult(
            metric_type="f1",
            metric_name="Macro-F1",
            metric_value=entry["macro_f1"],
            metric_args={"average": "macro"},
            **common,
        ),
    ]
    hub_base = base if base and settings.is_hub_id(base) else None
    return ModelCardData(
        model_name=repo_id.split("/")[-1],
        license="other",
        license_name=licence_name(base),
        license_link=DATA_LICENCE_LINK,
        library_name="transformers" if name == "hubert-finetune" else None,
        pipeline_tag=TASK,
        base_model=hub_base,
        metrics=["accuracy", "f1"],
        tags=["audio", "audio-classification", "hubert", "esc50", "animal-sounds", "animal-audio", name],
        eval_results=results,
    )


def licence_name(base: Optional[str]) -> str:
    """The card's `license_name`: the base weights' licence (when known) and the data's."""
    known = BASE_LICENCES.get(base or "")
    return f"{known}-weights-{DATA_LICENCE}-data" if known else f"{DATA_LICENCE}-data"


def training_command(metrics: dict[str, Any], base: Optional[str] = None) -> str:
    """The `python -m train compare` command that repeats the run, from its recorded config. Paths of the
    publisher's machine become placeholders; a local HuBERT becomes `base` when that is a Hub id."""
    config = metrics.get("config") or {}
    parts = ["python -m train compare", f"--data {DATA_PLACEHOLDER}"]
    parts.append(f"--models {','.join(config.get('models') or [])}")
    if config.get("protocol") == "cv":
        parts.append("--cv")
    hubert = config.get("hubert")
    if hubert and not settings.is_hub_id(hubert):
        hubert = base if base and settings.is_hub_id(base) else FOLDER_PLACEHOLDER
    yamnet = config.get("yamnet")
    if yamnet and not str(yamnet).startswith(("http://", "https://")):
        yamnet = None if str(yamnet) == settings.DEFAULT_YAMNET else FOLDER_PLACEHOLDER
    for key, value in (("hubert", hubert), ("yamnet", yamnet), ("device", config.get("device"))):
        if value:
            parts.append(f"--{key} {value}")
    parts.append(f"--epochs {config.get('epochs', 10)}")
    if config.get("max_steps"):
        parts.append(f"--max-steps {config['max_steps']}")
    if config.get("fast"):
        parts.append("--fast")
    parts.append(f"--seed {config.get('seed', metrics.get('seed', 42))}")
    return " ".join(parts)


def confusion_table(confusion: list[list[int]]) -> str:
    """Rows: true class; columns: predicted class."""
    header = "| true \\ predicted | " + " | ".join(DISPLAY_NAMES[c] for c in CLASSES) + " |"
    rows = [header, "|---|" + "---:|" * len(CLASSES)]
    for label, row in zip(CLASSES, confusion):
        rows.append(f"| {DISPLAY_NAMES[label]} | " + " | ".join(str(int(v)) for v in row) + " |")
    return "\n".join(rows)


def _text(
    metrics: dict[str, Any], name: str, entry: dict[str, Any], repo_id: str, base: Optional[str]
) -> list[str]:
    cv = _is_cv(metrics)
    finetuned = name == "hubert-finetune"
    command = training_command(metrics, base)
    accuracy = percent(entry["accuracy"], entry.get("accuracy_std") if cv else None)
    macro_f1 = percent(entry["macro_f1"], entry.get("macro_f1_std") if cv else None)
    what = (
        "HuBERT fine-tuned end to end (a transformers audio-classification checkpoint)"
        if finetuned
        else "a linear probe (standardise + logistic regression, safetensors + JSON) on frozen, "
        "clip-averaged embeddings of its base model, which is loaded with it"
    )
    lines = [
        f"# {model_title(name)}: {repo_id}",
        "",
        f"Classifies 5-second sounds into ESC-50's 10 animal classes ({', '.join(CLASSES)}): {what}. "
        f"Base model: {_shown(base)}. Made with animal-audio (`python -m train publish`).",
        "",
        "## Results",
        "",
        "| Metric | Value |",
        "|---|---:|",
        f"| Accuracy | {accuracy} |",
        f"| Macro-F1 | {macro_f1} |",
        f"| Test clips | {entry.get('n', sum(map(sum, entry['confusion'])))} |",
        "",
        f"Protocol: {metrics.get('protocol', {}).get('description', '')}. {_trained_on(metrics, name)}",
    ]
    if cv:
        lines += [
            "Accuracy and macro-F1 are the mean ± sample standard deviation over the 5 test folds. "
            f"The weights published here are those of the last split ({_last_split(metrics, finetuned)}).",
            "",
            "| Test fold | Accuracy | Macro-F1 |",
            "|---:|---:|---:|",
            *(
                f"| {f['test_fold']} | {percent(f['accuracy'])} | {percent(f['macro_f1'])} |"
                for f in entry.get("folds", [])
            ),
        ]
    steps = (metrics.get("config") or {}).get("max_steps")
    if finetuned and steps:
        lines += ["", f"**This run was capped at {steps} optimisation steps: a smoke test, not a result.**"]
    lines += [
        "",
        "The test set is small: one clip moves accuracy by "
        f"{100 / max(int(entry.get('n', 1)), 1):.2f} points.",
        "",
        "### Confusion matrix" + (" (all test folds pooled)" if cv else ""),
        "",
        confusion_table(entry["confusion"]),
        "",
        "## Use",
        "",
        *_usage(repo_id, finetuned),
        "## Training",
        "",
        "```bash",
        command,
        "```",
        "",
        f"`{DATA_PLACEHOLDER}`: ESC-50's animal clips, prepared by `python -m train prepare --download`"
        + (
            f"; `{FOLDER_PLACEHOLDER}`: a local copy of the weights."
            if FOLDER_PLACEHOLDER in command
            else "."
        ),
        "",
        f"Seed {metrics.get('seed')}, created {metrics.get('created', '')}; "
        + ", ".join(f"{k} {v}" for k, v in (metrics.get("versions") or {}).items() if v)
        + ".",
        "",
        "## Licence",
        "",
        f"The weights derive from {_shown(base)}"
        + (" (HuBERT by Meta AI, Apache-2.0 licence)" if base == settings.DEFAULT_HUBERT else "")
        + ". They were trained on ESC-50 by Karol J. Piczak, licensed CC BY-NC 3.0 (attribution, "
        "non-commercial use only; per-clip credits in the dataset's LICENSE): "
        "respect the data's terms when you use this model. Hence the metadata's `license: other`: "
        "no single licence id covers base weights and training data together.",
        "",
        "## Citation",
        "",
        "```bibtex",
        ESC50_CITATION,
        "",
        HUBERT_CITATION,
        "```",
    ]
    return lines


def _usage(repo_id: str, finetuned: bool) -> list[str]:
    lines = [
        "```bash",
        f"ANIMAL_AUDIO_HUBERT={repo_id} python app.py    # the animal-audio app",
        "```",
        "",
        "```python",
        "import animal_audio as aa",
        "",
        f'model = aa.load_hubert("{repo_id}")',
        'print(model.predict(aa.load_audio("dog.wav")).label)',
    ]
    if finetuned:
        lines += [
            "",
            "from transformers import pipeline",
            "",
            f'classifier = pipeline("audio-classification", model="{repo_id}")',
            'print(classifier("dog.wav"))',
        ]
    return [*lines, "```", ""]


def _trained_on(metrics: dict[str, Any], name: str) -> str:
    protocol = metrics.get("protocol", {})
    key = "finetune" if name == "hubert-finetune" else "probes"
    note = protocol.get(key, "")
    return f"{note[0].upper()}{note[1:]}." if note else ""


def _test_folds(metrics: dict[str, Any]) -> str:
    splits = metrics.get("protocol", {}).get("splits") or [{}]
    folds = splits[-1].get("test_folds") or [5]
    return "fold " + ", ".join(str(f) for f in folds)


def _last_split(metrics: dict[str, Any], finetuned: bool) -> str:
    """A probe trains on the train and validation folds together; fine-tuning keeps validation apart."""
    split = (metrics.get("protocol", {}).get("splits") or [{}])[-1]
    train, validation = split.get("train_folds", []), split.get("validation_folds", [])
    if finetuned:
        trained = f"trained on folds {_folds(train)}, validated on {_folds(validation)} for early stopping"
    else:
        trained = f"trained on folds {_folds(sorted([*train, *validation]))}"
    return f"{trained}, tested on {_folds(split.get('test_folds', []))}"


def _folds(folds: list[int]) -> str:
    return ", ".join(map(str, folds))


def _shown(base: Optional[str]) -> str:
    """The base model as a public card may name it: its Hub id, never a folder of the publisher's machine."""
    if base and settings.is_hub_id(base):
        return f"`{base}`"
    return "a local copy of a HuBERT (publish with --base HUB_ID to name it)" if base else "unknown"


def _is_cv(metrics: dict[str, Any]) -> bool:
    return metrics.get("protocol", {}).get("name") == "cv"

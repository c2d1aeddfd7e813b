"""A trained HuBERT of a finished run as a Hub model repository: the folder, then the upload.

The folder (weights as safetensors, config or probe files, `animal_audio.json`, README.md card)
is what `load_hubert` and the app load; `--dry-run` stops there, a real publish uploads it.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from animal_audio import settings
from animal_audio.errors import AnimalAudioError, CheckpointError, short_error
from animal_audio.fileio import atomic_dir, read_json, write_json, write_text
from animal_audio.labels import CLASSES, ID2LABEL, LabelSet
from animal_audio.model_card import render_card
from animal_audio.models.published import FINETUNED, MARKER_FILE, PROBE, marker
from animal_audio.runs import METRICS_FILE, load_run, trained_model

log = logging.getLogger(__name__)

PUBLISHABLE = (FINETUNED, PROBE)
CARD_FILE = "README.md"
#: What a fine-tuned checkpoint folder contributes (no optimizer state, no pickles).
CHECKPOINT_FILES = ("config.json", "preprocessor_config.json", "*.safetensors", "*.safetensors.index.json")
PROBE_FILES = ("probe.json", "probe-*.safetensors")


class PublishError(AnimalAudioError):
    """The model cannot be published as asked (nothing to publish, no login, no network)."""


@dataclass(frozen=True)
class Published:
    """What `publish` did: the folder it wrote (None when only uploaded) and the repo's URL (None on a dry run)."""

    repo_id: str
    folder: Optional[Path]
    url: Optional[str]
    kind: str


def publish(
    run_dir: str | os.PathLike[str],
    name: str,
    repo_id: str,
    *,
    private: bool = False,
    dry_run: bool = False,
    out: str | os.PathLike[str] | None = None,
    base: Optional[str] = None,
) -> Published:
    """Write the repository folder (to `out`, else a temp folder) and, unless `dry_run`, upload it."""
    if dry_run and out is None:
        raise PublishError("--dry-run writes the repository into a folder: give it with --out DIR.")
    _check_repo_id(repo_id)
    if out is not None:
        folder = write_folder(run_dir, name, out, repo_id=repo_id, base=base, portable=not dry_run)
        url = None if dry_run else upload(folder, repo_id, private=private)
        return Published(repo_id, folder, url, name)
    with tempfile.TemporaryDirectory(prefix="animal-audio-publish-") as tmp:
        folder = write_folder(run_dir, name, Path(tmp) / "repo", repo_id=repo_id, base=base, portable=True)
        return Published(repo_id, None, upload(folder, repo_id, private=private), name)


def write_folder(
    run_dir: str | os.PathLike[str],
    name: str,
    out: str | os.PathLike[str],
    *,
    repo_id: str,
    base: Optional[str] = None,
    portable: bool = False,
) -> Path:
    """The repository's files, written atomically into `out`. `portable`: refuse a probe whose base model
    is a folder on this machine (a Space could not load it)."""
    run_dir = Path(run_dir)
    if name not in PUBLISHABLE:
        raise PublishError(
            f"'{name}' cannot be published: choose {' or '.join(PUBLISHABLE)} (the HuBERT models a run trains)."
        )
    if not (run_dir / METRICS_FILE).is_file():
        raise PublishError(f"No finished comparison run in {run_dir} ({METRICS_FILE} missing).")
    metrics = load_run(run_dir).metrics
    if not LabelSet.from_dict(metrics.get("labels")).is_animals:
        raise PublishError(
            f"The run in {run_dir} is over other classes than the ten animals; publishing is for the "
            "animal classifier the app and its model card describe."
        )
    found = trained_model(run_dir, name)
    if found is None:
        trained = ", ".join(m for m in metrics["models"] if trained_model(run_dir, m)) or "none"
        raise PublishError(
            f"The run in {run_dir} has no trained {name} (its trained models: {trained}). Run "
            f"`python -m train compare --models {name} ...` first, or publish one it has."
        )
    base = base or found.base
    if name == PROBE and base and Path(base).expanduser().exists():
        if portable:
            raise PublishError(
                f"The probe's base model is the folder {base} on this machine, which a Space cannot load. "
                "Pass --base with the Hub id of the same weights (e.g. facebook/hubert-base-ls960)."
            )
        log.warning(
            "the probe's base model %s is a local folder: the result loads on this machine only", base
        )
    _check_out(Path(out))
    with atomic_dir(out) as tmp:
        if name == FINETUNED:
            _copy_checkpoint(found.directory, tmp)
        else:
            _copy(found.directory, tmp, PROBE_FILES)
        info = {
            "repo_id": repo_id,
            "run": run_dir.name,
            "created": metrics.get("created"),
            "id2label": dict(ID2LABEL),
        }
        write_json(tmp / MARKER_FILE, marker(name, base, **info))
        write_text(tmp / CARD_FILE, render_card(metrics, name, repo_id, base))
    log.info("%s of %s written to %s", name, run_dir, out)
    return Path(out)


def make_api() -> Any:
    """huggingface_hub's client (the token from `hf auth login` or HF_TOKEN); tests replace this."""
    from huggingface_hub import HfApi

    return HfApi()


def upload(folder: Path, repo_id: str, *, private: bool = False) -> str:
    """Create the model repository (if needed) and make it hold exactly the folder, in one commit; its URL.

    Files of an earlier publish that this one lacks (a probe's, when a fine-tuned model replaces it) are
    deleted, or loading would find them. `private` also makes an existing repository private."""
    api = make_api()
    try:
        repo = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        if private:  # create_repo leaves an existing repository's visibility as it was
            api.update_repo_settings(repo_id, private=True, repo_type="model")
        api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            repo_type="model",
            commit_message="Publish a HuBERT trained with animal-audio",
            delete_patterns=["*"],  # the Hub keeps .gitattributes; files uploaded now are not deleted
        )
    # The Hub's errors, its HTTP client's (httpx2 in huggingface_hub 2: no network, not an OSError), no token.
    except Exception as error:
        raise PublishError(
            f"Could not upload to the Hugging Face Hub repository {repo_id} ({short_error(error)}). "
            "Log in first (`hf auth login`, or set HF_TOKEN to a token with write access), check the "
            "network, or write the folder with --dry-run --out DIR and upload it later."
        ) from error
    return str(getattr(repo, "url", None) or f"https://huggingface.co/{repo_id}")


def _check_out(out: Path) -> None:
    """`out` is replaced as a whole: only a new or empty folder, or one published before, may be."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER_FILE).is_file())):
        raise PublishError(
            f"{out} already holds other files, which publishing would replace: choose a new or empty folder."
        )


def _check_repo_id(repo_id: str) -> None:
    if not (settings.HUB_ID.match(repo_id or "") and "/" in repo_id):  # publishing needs the owner
        raise PublishError(f"--repo-id {repo_id!r} is not a Hub repository id: use USER/NAME.")


def _copy_checkpoint(source: Path, dest: Path) -> None:
    """The checkpoint's config, preprocessor and safetensors weights, checked to be the 10 animal labels."""
    config = read_json(source / "config.json") or {}
    id2label = config.get("id2label") or {}
    labels = tuple(str(id2label.get(str(i), id2label.get(i, ""))) for i in range(len(id2label)))
    if labels != CLASSES:
        raise CheckpointError(
            f"{source / 'config.json'} does not label the {len(CLASSES)} animal classes in order: "
            "it is not this run's fine-tuned checkpoint. Run the comparison again."
        )
    if not any(source.glob("*.safetensors")):
        raise CheckpointError(f"{source} has no safetensors weights. Run the comparison again.")
    _copy(source, dest, CHECKPOINT_FILES)


def _copy(source: Path, dest: Path, patterns: tuple[str, ...]) -> None:
    for pattern in patterns:
        for path in sorted(source.glob(pattern)):
            if path.is_file():
                shutil.copy2(path, dest / path.name)
    if not any(dest.iterdir()):
        raise CheckpointError(f"No model files in {source}. Run the comparison again.")

"""Where fine-tuning starts: the base HuBERT (never a classifier already trained on the data) and a head
for the label set, new unless the base already has exactly that one."""

from __future__ import annotations

import logging
from typing import Any, Optional

import transformers

from animal_audio import settings
from animal_audio.errors import ModelUnavailableError
from animal_audio.labels import ANIMALS, CLASSES, LabelSet

log = logging.getLogger(__name__)


def resolve_base(base: Optional[str] = None) -> str:
    """`base`, else ANIMAL_AUDIO_HUBERT, else facebook/hubert-base-ls960.

    ANIMAL_AUDIO_HUBERT usually names the app's fine-tuned classifier; it has already
    seen the data, so such a classifier there is skipped for the pretrained base.
    """
    if base:
        return str(base)
    source = settings.hubert_source(None)
    if source != settings.DEFAULT_HUBERT and _is_animal_classifier(source):
        log.info(
            "%s is already a trained classifier; fine-tuning starts from %s", source, settings.DEFAULT_HUBERT
        )
        return settings.DEFAULT_HUBERT
    return source


def _is_animal_classifier(source: str) -> bool:
    try:
        return _config_labels(transformers.AutoConfig.from_pretrained(source)) == list(CLASSES)
    except (OSError, ValueError):
        return False


def _config_labels(config: Any) -> list[str]:
    return [config.id2label.get(i) for i in range(config.num_labels)]


def load_base(
    source: str, labels: LabelSet = ANIMALS, *, freeze_feature_encoder: bool = True
) -> tuple[Any, Any]:
    """The model with a head for `labels` (a new one unless `source` has it) and its feature extractor."""
    try:
        config = transformers.AutoConfig.from_pretrained(source)
        extractor = transformers.AutoFeatureExtractor.from_pretrained(source)
        model = transformers.AutoModelForAudioClassification.from_pretrained(
            source,
            num_labels=len(labels),
            id2label=dict(enumerate(labels.names)),
            label2id={name: i for i, name in enumerate(labels.names)},
            ignore_mismatched_sizes=True,  # a bare base or another task's head: start a new head
        )
    except (OSError, ValueError) as error:
        raise ModelUnavailableError(
            f"Cannot load the HuBERT model to fine-tune from '{source}' ({error}). Connect to the "
            "internet so it can be downloaded from the Hugging Face Hub, or pass a local folder "
            f"(--hubert, or the {settings.ENV_HUBERT} variable) holding a save_pretrained copy "
            "with its preprocessor_config.json."
        ) from error
    if config.num_labels == len(labels) and _config_labels(config) != list(labels.names):
        for layer in (model.projector, model.classifier):  # same size, other classes: a wrong head
            layer.reset_parameters()
    if freeze_feature_encoder:
        # The CNN waveform encoder learned general acoustics from 960 h of audio; a few
        # hundred clips cannot improve it, and without its gradients each step is cheaper.
        model.freeze_feature_encoder()
    return model, extractor

"""HuBERT classifiers with random weights, saved like real checkpoints (no real weights are reachable
here): the tests' tiny one and the latency benchmark's full-size one are built here."""

from __future__ import annotations

from pathlib import Path

#: Tiny HuBERT sizes: a forward pass takes milliseconds, every code path is the real one.
TINY = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": (32,) * 7,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 4,
    "classifier_proj_size": 16,
}


def build_random_hubert(
    out: Path, *, full_size: bool = False, num_labels: int = 10, seed: int = 0, head: bool = True
) -> Path:
    """A randomly initialised classifier over the first `num_labels` classes; `full_size`: HuBERT-Base's
    architecture (the real model's compute), else the tiny one; `head=False`: a base model without a
    classification head, saved like facebook/hubert-base-ls960."""
    import torch
    from transformers import (
        AutoModelForAudioClassification,
        HubertConfig,
        HubertModel,
        Wav2Vec2FeatureExtractor,
    )

    from animal_audio.labels import CLASSES

    torch.manual_seed(seed)
    labels = CLASSES[:num_labels]
    labelled = {
        "num_labels": num_labels,
        "id2label": dict(enumerate(labels)),
        "label2id": {c: i for i, c in enumerate(labels)},
    }
    config = HubertConfig(**({} if full_size else TINY), **(labelled if head else {}))
    model = AutoModelForAudioClassification.from_config(config) if head else HubertModel(config)
    model.save_pretrained(out)
    Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=16_000,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=False,
    ).save_pretrained(out)
    return out

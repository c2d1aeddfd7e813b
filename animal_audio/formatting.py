"""How model names, shares and durations are written for people: one wording for app, CLI and reports."""

from __future__ import annotations

from typing import Any, Mapping

MODEL_TITLES = {
    "hubert": "HuBERT fine-tuned",
    "hubert-finetune": "HuBERT fine-tuned",
    "hubert-probe": "HuBERT + linear probe",
    "yamnet-zeroshot": "YAMNet zero-shot",
    "yamnet-probe": "YAMNet + linear probe",
    "ensemble": "Ensemble of the others",
}


def model_title(model: str, lang: str = "en") -> str:
    """A model as a person reads it; in the app's other languages from its catalogue (i18n)."""
    if lang != "en" and model in MODEL_TITLES:
        from animal_audio.i18n import tr

        return tr(model_key(model), lang)
    return MODEL_TITLES.get(model, model)


def answer_title(entry: Mapping[str, Any], lang: str = "en", fallback: str = "") -> str:
    """The title of the model behind a /classify answer, in `lang` (the answer's own "title" is English)."""
    return model_title(str(entry.get("model") or entry.get("title") or fallback), lang)


def model_key(model: str) -> str:
    """The i18n catalogue key of a model's title ("yamnet-probe" -> "model_yamnet_probe")."""
    return "model_" + model.replace("-", "_")


def not_run_line(model: str, reason: str) -> str:
    """'HuBERT + linear probe: not run: <why>', for a model a comparison could not run."""
    return f"{model_title(model)}: not run: {reason}"


def first_sentence(text: str) -> str:
    """Error messages say what happened first and how to fix it after; short places show only the first part."""
    text = str(text).strip()
    cut = text.find(". ")
    return text if cut < 0 else text[: cut + 1]


def not_run_markdown(unavailable: dict[str, str], *, short: bool = False) -> str:
    """Chosen models that cannot run here, one line each ('HuBERT + linear probe: not run: why')."""
    return "  \n".join(
        f"⚠️ {not_run_line(name, first_sentence(why) if short else why)}" for name, why in unavailable.items()
    )


def percent(value: float, std: float | None = None, *, digits: int = 2) -> str:
    """0.8611 -> '86.11%'; with a std, '86.11% ± 2.30'."""
    text = f"{100 * value:.{digits}f}%"
    return text if std is None else f"{text} ± {100 * std:.{digits}f}"


def duration(seconds: float) -> str:
    """'4.2 s', '45 s', '12 min', '3 h 05 min': a duration as a person reads it."""
    seconds = max(0.0, float(seconds))
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{round(seconds)} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


def data_size(n_bytes: float) -> str:
    """'850 MB', '4.2 GB': disk space as a person reads it (decimal units, as disks are sold)."""
    n_bytes = max(0.0, float(n_bytes))
    if n_bytes >= 1e9:
        return f"{n_bytes / 1e9:.1f} GB"
    return f"{n_bytes / 1e6:.0f} MB" if n_bytes >= 1e7 else f"{n_bytes / 1e6:.1f} MB"

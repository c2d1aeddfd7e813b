"""English and Russian: the catalogue is complete, the browser's language is read right, and the library's
messages a visitor meets are shown in Russian with their numbers (the log keeps the English)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from animal_audio import access
from animal_audio.audio import read_clip
from animal_audio.demo.classify import classify, empty_figures, side_figure, summary_markdown
from animal_audio.demo.text import (
    HUBERT,
    NOT_TRAINED,
    READY,
    YAMNET,
    ModelStatus,
    status_line,
    status_markdown,
)
from animal_audio.errors import AnimalAudioError, AudioError
from animal_audio.formatting import model_key
from animal_audio.i18n import LANGUAGES, class_name, fields_of, language_of, messages, tr, translate_error
from animal_audio.i18n.errors import RUSSIAN
from animal_audio.labels import CLASSES
from animal_audio.plots.clip import probability_figure
from animal_audio.run_view import clip_in_row, in_language

RATE = 16_000


def test_every_key_has_both_languages_with_the_same_fields() -> None:
    english, russian = messages("en"), messages("ru")
    assert set(english) == set(russian)
    for key, text in english.items():
        assert fields_of(text) == fields_of(russian[key]), key
        assert "." not in key, f"{key}: the page's svelte-i18n reads a dot as nesting"
        assert russian[key].strip(), key


def test_every_error_template_has_the_same_fields_in_russian() -> None:
    for english, russian in RUSSIAN:
        assert fields_of(english) == fields_of(russian), english
        filled = english.format(**dict.fromkeys(fields_of(english), "7"))
        assert translate_error(filled, "ru") == russian.format(**dict.fromkeys(fields_of(russian), "7")), (
            english
        )


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        ("ru-RU,ru;q=0.9,en;q=0.8", "ru"),
        ("de-DE", "en"),
        (None, "en"),
        ("", "en"),
        ("de-DE,de;q=0.9,ru;q=0.5", "ru"),  # German first, but the app speaks Russian, not German
        ("en;q=0.5, ru", "ru"),  # the weights decide, not the order
        ("ru;q=0", "en"),  # q=0: "not this one"
        ("*", "en"),
        ("garbage;;,", "en"),
    ],
)
def test_language_of_picks_the_visitors_language_english_otherwise(header: str | None, lang: str) -> None:
    assert language_of(header) == lang


def test_tr_fills_fields_and_falls_back_to_english() -> None:
    assert tr("clip_seconds", "ru", seconds="5.0") == "Запись: 5.0 с"
    assert tr("clip_seconds", "de", seconds="5.0") == "Clip: 5.0 s"
    with pytest.raises(KeyError):
        tr("no_such_key", "en")


def test_class_names_in_russian_keep_their_emoji() -> None:
    assert class_name("crow", "ru") == "🐦‍⬛ Ворона"
    assert class_name("insects", "ru") == "🦟 Насекомые (летающие)"
    assert class_name("dog") == "🐕 Dog"
    figure = probability_figure(np.full(len(CLASSES), 0.1), "YAMNet", lang="ru")
    assert [y.replace("<br>", " ") for y in figure.data[0].y] == [class_name(c, "ru") for c in CLASSES]


def test_a_russian_error_keeps_its_numbers_and_the_log_keeps_english() -> None:
    with pytest.raises(AudioError) as caught:
        read_clip((RATE, np.full(RATE // 10, 0.5, dtype=np.float32)))
    english = str(caught.value)
    assert english.startswith("The clip is too short (0.10 s)")  # what the log shows
    shown = translate_error(english, "ru")
    assert shown.startswith("Запись слишком короткая (0.10 с)") and "0.25 с" in shown
    assert translate_error(english, "en") == english


def _rate_limited() -> None:
    limiter = access.RateLimiter(1)
    limiter.check("visitor")
    limiter.check("visitor")


VISITOR_ERRORS = {
    "no audio": lambda: classify(None, None),
    "silent": lambda: read_clip((RATE, np.zeros(RATE, dtype=np.float32))),
    "too long": lambda: read_clip((RATE, np.full(RATE * 3, 0.5, np.float32)), max_seconds=1, strict=True),
    "empty upload": lambda: read_clip(b""),
    "undecodable": lambda: read_clip(b"this is not audio at all" * 100),
    "rate limit": _rate_limited,
}


@pytest.mark.parametrize("make", list(VISITOR_ERRORS.values()), ids=list(VISITOR_ERRORS))
def test_errors_a_visitor_meets_are_shown_in_russian(make) -> None:
    with pytest.raises(AnimalAudioError) as caught:
        make()
    english = str(caught.value)
    shown = translate_error(english, "ru")
    assert shown != english and any("а" <= ch <= "я" for ch in shown.lower()), english
    assert [d for d in english if d.isdigit()] == [d for d in shown if d.isdigit()], shown


def test_unknown_messages_stay_english() -> None:
    assert (
        translate_error("Something nobody wrote a template for.", "ru")
        == "Something nobody wrote a template for."
    )


def test_the_verdict_and_charts_in_russian() -> None:
    entry = {
        "available": True,
        "model": "yamnet-zeroshot",
        "title": "YAMNet zero-shot",
        "label": "dog",
        "confidence": 0.9,
        "seconds": 0.1,
        "probabilities": {c: 0.1 for c in CLASSES},
    }
    payload = {
        "models": {
            HUBERT: {**entry, "model": "hubert-probe", "title": "HuBERT + linear probe"},
            YAMNET: entry,
        },
        "agree": True,
        "clip": {"seconds": 5.0, "source_seconds": 5.0, "trimmed": False},
    }
    verdict = summary_markdown(payload, "ru")
    assert "Обе модели согласны" in verdict and "🐕 Собака" in verdict and "Запись: 5.0 с" in verdict
    assert "Both models agree" in summary_markdown(payload) and "🐕 Dog" in summary_markdown(payload)
    assert "Запишите" in empty_figures("ru")[HUBERT].layout.annotations[0].text
    assert "**HuBERT + линейный зонд**" in verdict and "**YAMNet без обучения (zero-shot)**" in verdict
    chart = side_figure(payload["models"][HUBERT], HUBERT, "ru")
    assert chart.layout.title.text.startswith("HuBERT + линейный зонд · ")


def test_the_timeline_map_lab_and_none_of_the_ten_in_russian() -> None:
    """Issue 13's views speak the visitor's language too: class names, the star, the lab's words."""
    from animal_audio.clip_map import ClipIndex
    from animal_audio.open_set import verdict_line
    from animal_audio.plots.clip_map import map_figure, neighbour_rows
    from animal_audio.plots.robustness import sweep_figure
    from animal_audio.plots.timeline import heatmaps, timeline_figure
    from animal_audio.robustness import TRANSFORMS
    from animal_audio.robustness_lab import level_text, transform_choices

    timeline = {
        "start_seconds": [0.0, 0.5],
        "window_seconds": 1.0,
        "probabilities": np.full((2, 10), 0.1).tolist(),
    }
    figure = timeline_figure(np.zeros(RATE * 2, np.float32), {"YAMNet zero-shot": timeline}, lang="ru")
    assert [y.replace("<br>", " ") for y in heatmaps(figure)[0].y] == [class_name(c, "ru") for c in CLASSES]
    assert figure.layout.coloraxis.colorbar.title.text == "вероятность"
    n = len(CLASSES)
    index = ClipIndex(
        "yamnet-probe", "f", np.array([f"{i}.wav" for i in range(n)]), np.array(CLASSES), np.ones(n, int),
        np.eye(n, dtype=np.float32), np.zeros(n), np.eye(2, n), np.zeros((n, 2)), 0.5, (5,), 0.0,
    )  # fmt: skip
    names = {trace.name.replace("<br>", " ") for trace in map_figure(index, [0.0, 0.0], "YAMNet", "ru").data}
    assert {class_name(c, "ru") for c in CLASSES} | {"Ваша запись"} == names
    assert neighbour_rows([{"clip": "1.wav", "label": "cat", "distance": 0.1}], "ru")[0][1] == "🐈 Кошка"
    assert ("Белый шум", "white-noise") in transform_choices("ru")
    assert (
        level_text(TRANSFORMS["pitch"], 2, "ru") == "+2 полутона"
        and level_text(TRANSFORMS["pitch"], 2) == "+2 semitones"
    )
    sweep = {"transform": "Скорость", "unit": "x", "levels": [0.8, 1.0], "models": []}
    assert sweep_figure(sweep, "ru").layout.yaxis.title.text == "вероятность"
    assert "«Horse»" in verdict_line("YAMNet", {"heard": "Horse"}, "ru")
    assert (
        verdict_line("YAMNet", {"heard": "Horse"})
        == "YAMNet: this sounds like a horse, which is not one of the ten"
    )
    speech = verdict_line("YAMNet", {"heard": "Speech"}, "ru")
    assert speech.startswith("YAMNet слышит здесь «Speech»")


def test_models_panel_and_status_line_in_russian() -> None:
    statuses = [
        ModelStatus(
            HUBERT,
            NOT_TRAINED,
            None,
            "",
            "No trained HuBERT yet: the default x/y is the self-supervised "
            "base model, which has never been trained on the 10 animals.",
            "fix",
        ),
        ModelStatus(
            YAMNET,
            READY,
            "yamnet-zeroshot",
            "built-in YAMNet (TFLite, int8 weights) (default)",
            "YAMNet zero-shot: AudioSet classes mapped onto the 10 animals; YAMNet TFLite file x/yamnet.tflite",
        ),
    ]
    assert status_line(statuses, "ru") == "🟡 HuBERT: ещё не обучена · 🟢 YAMNet: готова"
    panel = status_markdown(statuses, "ru")
    assert "Обученного HuBERT пока нет: x/y" in panel and "**Как исправить:**" in panel
    assert "**Веса:** встроенный YAMNet (TFLite, веса int8) (по умолчанию)" in panel
    assert "классы AudioSet сопоставлены с 10 животными; YAMNet, файл TFLite x/yamnet.tflite" in panel
    assert "No trained HuBERT yet" in status_markdown(statuses)


def test_result_tables_in_russian_still_name_their_clip() -> None:
    table = pd.DataFrame(
        [
            {
                "model": "m",
                "clip": "1-1-A-0.wav",
                "true": "🐕 Dog",
                "predicted": "🐈 Cat",
                "confidence": "60%",
                "fold": 5,
            }
        ]
    )
    shown = in_language(table, "ru")
    assert list(shown.columns)[:3] == ["модель", "запись", "на самом деле"]
    assert shown.iloc[0]["ответ модели"] == "🐈 Кошка"
    assert clip_in_row(shown, [0, 1]) == "1-1-A-0.wav"
    assert in_language(table, "en") is table
    results = pd.DataFrame(
        [{"model": "m", "accuracy": "not run", "trained on": "nothing", "training time": "2.8 s"}]
    )
    assert in_language(results, "ru").iloc[0].tolist() == ["m", "не запущена", "ничего", "2.8 с"]
    results.loc[0, "model"] = "Ensemble of the others"
    assert in_language(results, "ru").iloc[0, 0] == "Ансамбль остальных"


def test_model_names_in_russian_on_charts_and_pickers() -> None:
    from animal_audio.compare_config import MODEL_NAMES
    from animal_audio.plots.results import accuracy_figure, confusion_figure
    from animal_audio.plots.robustness import sweep_figure
    from animal_audio.ui.i18n import I18N

    confusion = [[1 if i == j else 0 for j in range(len(CLASSES))] for i in range(len(CLASSES))]
    metrics = {"models": {"hubert-finetune": {"accuracy": 0.9, "macro_f1": 0.9, "confusion": confusion}}}
    assert accuracy_figure(metrics, "ru").data[0].name == "Дообученный HuBERT"
    assert accuracy_figure(metrics).data[0].name == "HuBERT fine-tuned"
    matrix = confusion_figure(metrics, "hubert-finetune", "ru")
    assert (
        matrix.layout.title.text.startswith("Дообученный HuBERT")
        and "true" not in matrix.data[0].hovertemplate
    )
    sweep = {"transform": "Скорость", "unit": "x", "levels": [1.0], "models": []}
    sweep["models"] = [{"model": "yamnet-zeroshot", "class": "Собака", "probabilities": [0.9]}]  # as the lab
    assert sweep_figure(sweep, "ru").data[0].name == "YAMNet без обучения (zero-shot): Собака"
    pickers = {model_key(m) for m in MODEL_NAMES}  # the Train tab's model checkboxes
    assert (
        pickers <= set(I18N.translations["ru"])
        and I18N.translations["ru"]["model_ensemble"] == "Ансамбль остальных"
    )


def test_results_pairs_robustness_and_reliability_in_russian(tmp_path) -> None:
    from animal_audio.plots.results import reliability_figure
    from animal_audio.plots.robustness import robustness_figure
    from animal_audio.run_view import robustness_table, run_summary

    pair = {"a": "yamnet-probe", "b": "yamnet-zeroshot", "n": 400, "a_only": 30, "b_only": 17}
    pair |= {"p_value": 0.07, "diff": 0.0325, "ci95": [-0.0025, 0.07]}
    metrics = {"seed": 3, "paired": [pair], "models": {"yamnet-probe": {}}}
    summary = run_summary(metrics, tmp_path / "20260101-120000", "ru")
    assert "**Запуск**" in summary and "YAMNet + линейный зонд точнее" in summary and "на 3.2 п." in summary
    assert "в пределах случайности (p = 0.07; 95% интервал от -0.2 до +7.0 п.)" in summary
    assert "better" not in summary and "within chance" in run_summary(metrics, tmp_path / "r", "en")
    metrics["protocol"] = {
        "description": "fixed split of ESC-50's folds: train folds 1-3, validation fold 4, test fold 5"
    }
    metrics["unavailable"] = {"hubert-probe": "HuBERT could not be loaded here."}
    summary = run_summary(metrics, tmp_path / "20260101-120000", "ru")
    assert "фиксированное разбиение (фолды ESC-50): обучение на фолдах 1-3" in summary
    assert "⚠️ HuBERT + линейный зонд: не запускается" in summary and "fold" not in summary
    cv = "5-fold cross-validation over 5 stratified folds of my_sounds/, seeded with 0 (recordings kept together)"
    metrics["protocol"] = {
        "description": cv + ": each fold is the test set once; mean and sample std over folds"
    }
    summary = run_summary(metrics, tmp_path / "20260101-120000", "ru")
    assert "5-кратная кросс-валидация (5 стратифицированных фолдов папки my_sounds/, seed 0" in summary
    rows = [{"model": "yamnet-probe", "transform": "white-noise", "level": -10, "accuracy": 0.2}]
    document = {"rows": rows, "transforms": {"white-noise": {"title": "White noise", "unit": "dB SNR"}}}
    document |= {"baseline": {"yamnet-probe": 0.9}, "test_fold": 5, "clips": 80}
    table = robustness_table(document, "ru")
    assert list(table.columns) == ["изменение", "уровень", "YAMNet + линейный зонд"]
    assert table.iloc[0].tolist() == ["без изменений", "", "90%"]
    assert table.iloc[1].tolist() == ["Белый шум", "-10 дБ сигнал/шум", "20%"]
    figure = robustness_figure(document, "ru")
    assert "Точность на изменённом звуке" in figure.layout.title.text
    assert figure.data[0].name == "YAMNet + линейный зонд" and "linear" not in figure.to_json()
    assert figure.layout.annotations[0].text == "Белый шум"
    bins = {"lower": [0.0, 0.5], "accuracy": [0.4, 0.9], "count": [10, 30], "confidence": [0.3, 0.8]}
    calibration = {"models": {"yamnet-probe": {"reliability": bins, "ece": 0.05}}}
    figure = reliability_figure(calibration, "ru")
    assert figure.layout.title.text.startswith("Насколько уверена")
    assert figure.layout.xaxis.title.text == "уверенность (вероятность первого класса)"


def test_the_page_gets_every_fixed_text_in_both_languages() -> None:
    from animal_audio.ui.i18n import I18N, lang_of, t

    assert set(I18N.translations) == set(LANGUAGES)
    assert I18N.translations["ru"]["tab_classify"] == "🎧 Распознать"
    assert not any("{" in text for texts in I18N.translations.values() for text in texts.values())
    with pytest.raises(KeyError):
        t("clip_seconds")  # has a {field}: a handler's text, not the page's
    assert lang_of(None) == "en"

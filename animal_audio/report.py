"""report.md of a comparison run: the numbers of metrics.json as tables, and what they do not say.

Rendered from the metrics document alone, so the report can never disagree with
metrics.json (tests parse the tables back and compare).
"""

from __future__ import annotations

from typing import Any, Optional

from animal_audio import settings
from animal_audio.calibration import BINS as CALIBRATION_BINS
from animal_audio.evaluation import TIMING_CLIPS
from animal_audio.formatting import duration, model_title, percent
from animal_audio.labels import LabelSet
from animal_audio.paired import BOOTSTRAP_RESAMPLES, CHANCE_LEVEL, describe, fold_differences, p_text
from animal_audio.plots.results import FIGURE_FILES
from animal_audio.report_choices import choice_lines

TITLE = "Animal sounds on ESC-50: HuBERT vs YAMNet"
RESULTS_HEADER = "| Model | | Accuracy | Macro-F1 | Training time | Inference per clip | Trained on |"


def headline(metrics: dict[str, Any]) -> str:
    """The seed notebook's one-liner ('HuBERT-FT 86.11% vs YAMNet 31%'), for every model run."""
    ranked = sorted(metrics["models"].items(), key=lambda item: -item[1]["accuracy"])
    return " vs ".join(f"{model_title(name)} {percent(entry['accuracy'])}" for name, entry in ranked)


def render_report(metrics: dict[str, Any], robustness: Optional[dict[str, Any]] = None) -> str:
    """The report; with `robustness` (a run's robustness.json) also its section (robustness_run.py)."""
    models = metrics["models"]
    protocol = metrics.get("protocol", {})
    cv = protocol.get("name") == "cv"
    labels = LabelSet.from_dict(metrics.get("labels"))
    lines = [
        f"# {TITLE}" if labels.is_animals else f"# {len(labels)} classes: HuBERT vs YAMNet",
        "",
        *(
            []
            if labels.is_animals
            else [f"Classes: {', '.join(labels.display(c) for c in labels.names)}.", ""]
        ),
        f"**Test accuracy: {headline(metrics)}**",
        "",
        f"Protocol: {protocol.get('description', '')}. "
        f"Test clips: {_test_clips(metrics)}. Seed: {metrics.get('seed')}. Created: {metrics.get('created', '')}.",
        "",
        "## Results",
        "",
        RESULTS_HEADER,
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for name, entry in models.items():
        lines.append(
            f"| `{name}` | {model_title(name)} "
            f"| {percent(entry['accuracy'], entry.get('accuracy_std') if cv else None)} "
            f"| {percent(entry['macro_f1'], entry.get('macro_f1_std') if cv else None)} "
            f"| {duration(entry.get('train_seconds', 0.0))} "
            f"| {entry.get('inference_seconds_per_clip', 0.0):.3f} s "
            f"| {entry.get('trained_on', '')} |"
        )
    lines += _not_run(metrics)
    if cv:
        lines += [
            "",
            "Accuracy and macro-F1 are the mean ± sample standard deviation over the 5 test folds; "
            "training time is per fold (one model).",
        ]
        lines += ["", "## Per fold (accuracy)", "", _fold_table(models)]
    if metrics.get("paired"):
        lines += ["", "## Is the difference real?", "", *_paired(metrics)]
    if any("ece" in entry for entry in models.values()):
        lines += ["", "## How sure vs how right (calibration)", "", *_calibration(models)]
    choices = choice_lines(metrics)
    if choices:
        lines += ["", "## Chosen on the validation fold", "", *choices]
    lines += ["", "## F1 per class", "", _per_class_table(models, LabelSet.from_dict(metrics.get("labels")))]
    if robustness:
        lines += ["", "## Robustness (accuracy on changed test clips)", "", *_robustness(robustness)]
    lines += ["", "## Notes on the protocol", "", *_notes(metrics), ""]
    lines += ["## Files", "", *_files(robustness is not None), ""]
    return "\n".join(lines)


def _paired(metrics: dict[str, Any]) -> list[str]:
    """Each pair in plain words, then the numbers behind them: McNemar's counts and p, the bootstrap interval."""
    entries = metrics["paired"]
    cv = any(e.get("folds") for e in entries)
    lines = [f"- {describe(e)}" for e in entries]
    header = "| A | B | A - B | 95% interval | Right only by A | Right only by B | McNemar p |"
    lines += [
        "",
        header + (" Per fold (A - B) |" if cv else ""),
        "|---|---|---:|---:|---:|---:|---:|" + ("---|" if cv else ""),
    ]
    for e in entries:
        low, high = e["ci95"]
        row = (
            f"| `{e['a']}` | `{e['b']}` | {100 * e['diff']:+.2f} | {100 * low:+.2f} to {100 * high:+.2f} "
            f"| {e['a_only']} | {e['b_only']} | {p_text(e['p_value']).removeprefix('p = ').removeprefix('p ')} |"
        )
        lines.append(row + (f" {fold_differences(e) or ''} |" if cv else ""))
    seed = metrics.get("seed")
    return lines + [
        "",
        f"Differences are in accuracy points over the same {entries[0]['n']} test clips"
        + (" (every fold's)" if cv else "")
        + ". McNemar's exact test uses only the clips the two models disagree on; below "
        f"p = {CHANCE_LEVEL} a difference is called unlikely to be chance. The interval is a paired bootstrap "
        f"over clips ({BOOTSTRAP_RESAMPLES} resamples, seed {seed}, percentile).",
    ]


def _calibration(models: dict[str, Any]) -> list[str]:
    """ECE per model, before and after temperature scaling: how far its confidence is from its accuracy."""
    lines = [
        "| Model | | ECE | Accuracy (all clips) | Mean confidence | Temperature | ECE after it |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, entry in models.items():
        if "ece" not in entry:
            continue
        bins = entry.get("reliability") or {}
        temperatures = ", ".join(f"{t:.2f}" for t in entry.get("temperatures", [])) or "-"
        after = f"{entry['ece_calibrated']:.3f}" if "ece_calibrated" in entry else "-"
        lines.append(
            f"| `{name}` | {model_title(name)} | {entry['ece']:.3f} | {percent(_over_bins(bins, 'accuracy'))} "
            f"| {percent(_over_bins(bins, 'confidence'))} | {temperatures} | {after} |"
        )
    return lines + [
        "",
        f"Expected calibration error over {CALIBRATION_BINS} equal-width bins of the top-class probability: "
        "the gap between how sure a model is and how often it is right, weighted by the clips in each bin "
        "(0 is perfectly calibrated). `reliability.html` draws the bins of the probabilities the models give. "
        "Temperature scaling divides a model's log-probabilities by one T fitted on the validation fold (per "
        "split in CV; above 1 softens an overconfident model): its labels stay, its confidence moves, and the "
        "app's bars use it so both models' probabilities compare like with like.",
    ]


def _over_bins(bins: dict[str, Any], key: str) -> float:
    """A reliability value over every clip: the bins' values weighted by their clip counts."""
    counts = bins.get("count") or []
    return sum(c * (v or 0.0) for c, v in zip(counts, bins.get(key) or [])) / max(sum(counts), 1)


def _not_run(metrics: dict[str, Any]) -> list[str]:
    """A line per chosen model that could not run here: the others' results are complete without it."""
    unavailable = metrics.get("unavailable") or {}
    if not unavailable:
        return []
    lines = ["", "Not run here (the results above are complete without them; a re-run tries them again):", ""]
    return lines + [
        f"- {model_title(name)} (`{name}`): not run: {reason}" for name, reason in unavailable.items()
    ]


def _test_clips(metrics: dict[str, Any]) -> int:
    first = next(iter(metrics["models"].values()))
    return int(first.get("n", sum(sum(row) for row in first["confusion"])))


def _fold_table(models: dict[str, Any]) -> str:
    names = list(models)
    folds = [f["test_fold"] for f in models[names[0]].get("folds", [])]
    rows = [
        "| Test fold | " + " | ".join(f"`{n}`" for n in names) + " |",
        "|---:|" + "---:|" * len(names),
    ]
    for i, fold in enumerate(folds):
        rows.append(
            f"| {fold} | " + " | ".join(percent(models[n]["folds"][i]["accuracy"]) for n in names) + " |"
        )
    return "\n".join(rows)


def _per_class_table(models: dict[str, Any], labels: LabelSet) -> str:
    names = list(models)
    rows = [
        "| Class | " + " | ".join(f"`{n}`" for n in names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for label in labels.names:
        cells = " | ".join(f"{models[n]['per_class'][label]['f1']:.3f}" for n in names)
        rows.append(f"| {labels.display_names.get(label) or labels.display(label)} | {cells} |")
    return "\n".join(rows)


def _notes(metrics: dict[str, Any]) -> list[str]:
    models = metrics["models"]
    config = metrics.get("config", {})
    machine = metrics.get("machine", {})
    n = _test_clips(metrics)
    notes = [
        "- Every model is scored on the same test clips, chosen by ESC-50 fold (clips cut from one "
        "recording stay in one fold), never by a random split.",
        f"- The test set is small ({n} clips): one clip moves accuracy by {100 / max(n, 1):.2f} points, "
        "so differences of a few points are within noise"
        + (
            "; the ± shows how much the folds disagree."
            if metrics.get("protocol", {}).get("name") == "cv"
            else "."
        ),
    ]
    if "yamnet-zeroshot" in models:
        notes.append(
            "- YAMNet zero-shot is not trained on these clips: its AudioSet classes are mapped onto the "
            "classes by the ontology's meaning (labels.py, audioset_map.py), never tuned on a test fold. Comparing it with a "
            "trained model measures what training on these classes buys, not which network is better."
        )
    if {"yamnet-probe", "hubert-probe"} & set(models):
        notes.append(
            "- The linear probes (a logistic regression on frozen embeddings pooled over the clip's frames) "
            "choose their regularisation C (and pooling) on the validation fold, with candidates fitted on the "
            "train folds, then refit the choice on the train and validation folds. They compare the two "
            "backbones with the same head and the same data."
        )
    if "ensemble" in models:
        notes.append(
            "- The ensemble combines the other models' probabilities (a weighted mean of their "
            "log-probabilities) with weights chosen on their validation-fold predictions; its times are "
            "the sum of its members'."
        )
    if "hubert-finetune" in models:
        steps = config.get("max_steps")
        notes.append(
            "- Fine-tuned HuBERT trains on the train folds only and keeps the epoch with the best "
            "validation macro-F1, so it sees fewer training clips than the probes"
            + (
                f"; this run was capped at {steps} optimisation steps (a smoke test, not a result)."
                if steps
                else "."
            )
        )
    if any(m.startswith("hubert") for m in models):
        notes.append(f"- HuBERT weights: `{config.get('hubert') or 'facebook/hubert-base-ls960 (default)'}`.")
    if any(m.startswith("yamnet") for m in models):
        notes.append(f"- YAMNet: {_yamnet_used(metrics)}.")
    notes.append(
        "- Training time includes embedding extraction for the probes (cached embeddings make a re-run "
        "faster); inference time is the model alone per 5 s clip (probes: the mean of "
        f"{TIMING_CLIPS} single-clip predictions on test clips after one warm-up, since their test "
        "probabilities come from cached embeddings; other models: all test clips, in batches), measured on "
        f"{machine.get('platform', 'this machine')} ({machine.get('cpu_count', '?')} CPUs, "
        f"device {machine.get('device', 'cpu')})."
    )
    return notes


def _yamnet_used(metrics: dict[str, Any]) -> str:
    """Which YAMNet the run used, as its models recorded it; else the run's setting or the default."""
    from animal_audio.models.yamnet import describe_source

    recorded = [
        e.get("base") for n, e in metrics["models"].items() if n.startswith("yamnet") and e.get("base")
    ]
    source = next(iter(recorded), None) or metrics.get("config", {}).get("yamnet") or settings.DEFAULT_YAMNET
    return describe_source(source)


def _robustness(document: dict[str, Any]) -> list[str]:
    """One row per transform and level, one column per model; the first row is the unchanged clips."""
    rows = document["rows"]
    names = list(dict.fromkeys(r["model"] for r in rows))
    meta = document.get("transforms") or {}
    accuracy = {(r["model"], r["transform"], r["level"]): r["accuracy"] for r in rows}
    baseline = document.get("baseline") or {}
    table = [
        "| Transform | Level | " + " | ".join(f"`{n}`" for n in names) + " |",
        "|---|---:|" + "---:|" * len(names),
        "| unchanged | | " + " | ".join(percent(baseline[n]) if n in baseline else "" for n in names) + " |",
    ]
    for transform, level in dict.fromkeys((r["transform"], r["level"]) for r in rows):
        info = meta.get(transform) or {}
        cells = " | ".join(percent(accuracy[(n, transform, level)]) for n in names)
        table.append(f"| {info.get('title', transform)} | {level:g} {info.get('unit', '')} | {cells} |")
    return [
        f"Test fold {document.get('test_fold')} ({document.get('clips')} clips), every clip changed by "
        f"audiomentations (seed {document.get('seed')}): noise at an SNR in dB, speed as a factor at the "
        "same pitch, pitch in semitones, a phone line's band (300 Hz to 0.425 x its rate) at its sample rate.",
        "",
        *table,
    ]


def _files(robustness: bool = False) -> list[str]:
    extra = ["- `robustness.json`, `robustness.html`: the table above and its chart."] if robustness else []
    return [
        "- `metrics.json`: every number above, plus per-class precision/recall/support and confusion matrices.",
        "- `predictions.csv`: every test clip with its true label and each model's label and probabilities.",
        *(f"- `{name}`" for name in FIGURE_FILES),
        "- `models/<model>/`: the trained heads and checkpoints (the app loads them).",
        *extra,
    ]

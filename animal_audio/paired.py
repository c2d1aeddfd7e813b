"""Is the difference between two models real? Exact McNemar (statsmodels) and a paired bootstrap (scipy) on
the clips both were tested on, from a run's predictions table alone, so predictions.csv can redo them."""

from __future__ import annotations

from itertools import combinations
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from animal_audio.formatting import model_title
from animal_audio.i18n import DEFAULT, tr

#: Paired bootstrap resamples of the test clips (seeded with the run's seed).
BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95
#: Below this McNemar p-value a difference is called "unlikely to be chance".
CHANCE_LEVEL = 0.05
#: "percentile": the middle 95% of resampled differences; unlike BCa, defined when they are all equal.
BOOTSTRAP_METHOD = "percentile"
DIGITS = 6


def method() -> dict[str, Any]:
    """How the paired entries were computed, for metrics.json (so a reader can redo them)."""
    return {
        "mcnemar": "exact (binomial on the disagreements), statsmodels.stats.contingency_tables.mcnemar",
        "bootstrap": {
            "function": "scipy.stats.bootstrap(paired=True)",
            "statistic": "accuracy_a - accuracy_b",
            "resamples": BOOTSTRAP_RESAMPLES,
            "confidence": CONFIDENCE,
            "method": BOOTSTRAP_METHOD,
        },
        "chance_level": CHANCE_LEVEL,
    }


def paired_test(
    a: str, b: str, correct_a: Sequence[bool], correct_b: Sequence[bool], *, seed: int = 0
) -> dict[str, Any]:
    """One pair on the same clips: n, a_only, b_only, McNemar's exact p_value, diff = acc_a - acc_b, ci95."""
    from scipy.stats import bootstrap
    from statsmodels.stats.contingency_tables import mcnemar

    right_a, right_b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if right_a.shape != right_b.shape or right_a.ndim != 1 or not len(right_a):
        raise ValueError(
            f"paired tests need the same clips for both models, got {right_a.shape}, {right_b.shape}"
        )
    a_only, b_only = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    table = [[int(np.sum(right_a & right_b)), a_only], [b_only, int(np.sum(~right_a & ~right_b))]]
    interval = bootstrap(
        (right_a.astype(np.float64), right_b.astype(np.float64)),
        _accuracy_difference,
        paired=True,
        vectorized=True,
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=CONFIDENCE,
        method=BOOTSTRAP_METHOD,
        rng=np.random.default_rng(seed),
    ).confidence_interval
    return {
        "a": a,
        "b": b,
        "n": len(right_a),
        "a_only": a_only,
        "b_only": b_only,
        "p_value": round(float(mcnemar(table, exact=True).pvalue), DIGITS),
        "diff": round(float(right_a.mean() - right_b.mean()), DIGITS),
        "ci95": [round(float(interval.low), DIGITS), round(float(interval.high), DIGITS)],
    }


def paired_tests(
    predictions: pd.DataFrame, models: Sequence[str], *, seed: int = 0, per_fold: bool = False
) -> list[dict[str, Any]]:
    """Every pair of `models` over every clip of a predictions table; `per_fold` (CV) adds each fold's diff."""
    from animal_audio.run_results import prediction_column  # run_results imports scikit-learn

    truth = predictions["true_label"].to_numpy()
    correct = {m: predictions[prediction_column(m)].to_numpy() == truth for m in models}
    entries = []
    for a, b in combinations(models, 2):
        entry = paired_test(a, b, correct[a], correct[b], seed=seed)
        if per_fold:
            folds = predictions["fold"].to_numpy()
            entry["folds"] = [
                {
                    "test_fold": int(fold),
                    "n": int(np.sum(folds == fold)),
                    "diff": round(
                        float(correct[a][folds == fold].mean() - correct[b][folds == fold].mean()), DIGITS
                    ),
                }
                for fold in sorted(set(folds.tolist()))
            ]
        entries.append(entry)
    return entries


def describe(entry: dict[str, Any], lang: str = DEFAULT) -> str:
    """The pair in plain words: 'YAMNet + linear probe is 2.5 points better than ...; with 80 clips ...'."""
    diff, (low, high) = entry["diff"], entry["ci95"]
    better, worse = (entry["a"], entry["b"]) if diff >= 0 else (entry["b"], entry["a"])
    if diff < 0:
        low, high = -high, -low
    p = entry["p_value"]
    verdict = tr("paired_real" if p < CHANCE_LEVEL else "paired_chance", lang)
    if round(100 * abs(diff), 1) == 0:
        head = tr("paired_equal", lang, a=model_title(entry["a"], lang), b=model_title(entry["b"], lang))
    else:
        points = f"{100 * abs(diff):.1f}"
        head = tr(
            "paired_better",
            lang,
            better=model_title(better, lang),
            worse=model_title(worse, lang),
            points=points,
        )
    tail = tr(
        "paired_tail", lang, n=entry["n"], verdict=verdict, p=p_text(p), low=_signed(low), high=_signed(high)
    )
    return head + tail


def p_text(p: float) -> str:
    """'p = 0.45', 'p = 0.003', 'p < 0.001': two significant figures are all a test set this small supports."""
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.2f}" if p >= 0.01 else f"p = {p:.3f}"


def fold_differences(entry: dict[str, Any]) -> Optional[str]:
    """'+5.0, -2.5, ...' points per test fold (CV), else None."""
    folds = entry.get("folds")
    return ", ".join(_signed(f["diff"]) for f in folds) if folds else None


def _signed(share: float) -> str:
    value = round(100 * share, 1)
    return f"{value:+.1f}" if value else "0.0"


def _accuracy_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return a.mean(axis=axis) - b.mean(axis=axis)

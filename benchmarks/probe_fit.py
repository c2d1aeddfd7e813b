"""What fitting a probe's head costs, and how close it gets to the L2 optimum: LinearProbe's fit (in the span
of the training clips) against logistic regression on the standardised embeddings directly, for every C the
head choice tries, on the real YAMNet mean+max embeddings of ESC-50's folds 1-3 (240 clips, 2048-d).

    python -m benchmarks.probe_fit --esc50-dir ../shared/esc50 --yamnet ../shared/models/yamnet/yamnet.tflite
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # `python benchmarks/probe_fit.py`
    sys.path.insert(0, str(REPO))

from benchmarks import common  # noqa: E402
from benchmarks.common import machine_facts, scratch_home, start_logging  # noqa: E402

DEFAULT_OUT = REPO / "benchmarks" / "results" / "probe_fit.json"
TRAIN_FOLDS = (1, 2, 3)

log = logging.getLogger("benchmarks.probe_fit")


def main(argv: Sequence[str] | None = None) -> int:
    args = common.parser("probe_fit", __doc__, DEFAULT_OUT).parse_args(argv)
    start_logging(log.name)
    from animal_audio import esc50, settings
    from animal_audio.embeddings import part_statistics
    from animal_audio.fileio import write_json
    from animal_audio.models.yamnet import YamnetModel
    from animal_audio.pooling import pooled

    with scratch_home("animal-audio-probe-fit-") as work:
        esc50.prepare(settings.esc50_dir(args.esc50_dir), work / "data")
        table = esc50.load_manifest(work / "data")
        train = table[table["fold"].isin(TRAIN_FOLDS)]
        (stats,) = part_statistics(YamnetModel.load(args.yamnet), list(train["path"]), ("mean", "max"))
    X, y = pooled(stats, "mean+max").astype(np.float64), train["target"].to_numpy()
    rows = [_compare(X, y, C) for C in _candidate_c()]
    result = {"clips": len(X), "dim": int(X.shape[1]), "rows": rows, "machine": machine_facts()}
    write_json(args.out, result)
    for row in rows:
        log.info("%s", row)
    return 0


def _candidate_c() -> tuple[float, ...]:
    from animal_audio.head_choice import CANDIDATE_C

    return CANDIDATE_C


def _compare(X: np.ndarray, y: np.ndarray, C: float) -> dict:
    """Seconds and penalised loss of both fits at one C (lower loss: closer to the optimum)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    from animal_audio.models.probe import MAX_ITER, LinearProbe

    scaled = StandardScaler().fit_transform(X)
    with threadpool_limits(limits=1, user_api="blas"):
        began = time.perf_counter()
        direct = LogisticRegression(C=C, max_iter=MAX_ITER).fit(scaled, y)
        direct_seconds = time.perf_counter() - began
        began = time.perf_counter()
        head = LinearProbe().fit(X, y, C=C)
        head_seconds = time.perf_counter() - began
    arrays = head._arrays  # its weights act on the standardised embeddings
    return {
        "C": C,
        "direct_seconds": round(direct_seconds, 3),
        "head_seconds": round(head_seconds, 3),
        "direct_loss": round(_penalised_loss(scaled, y, C, direct.coef_, direct.intercept_), 4),
        "head_loss": round(_penalised_loss(scaled, y, C, arrays["coef"], arrays["intercept"]), 4),
    }


def _penalised_loss(X: np.ndarray, y: np.ndarray, C: float, coef: np.ndarray, intercept: np.ndarray) -> float:
    """scikit-learn's objective: C x the summed log-loss + half the squared weights."""
    logits = X @ coef.T + intercept
    log_probs = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    return float(-C * log_probs[np.arange(len(y)), y].sum() + 0.5 * np.sum(coef**2))


if __name__ == "__main__":
    raise SystemExit(main())

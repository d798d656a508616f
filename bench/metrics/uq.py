"""How well an uncertainty score separates right from wrong answers.

Scores follow the suite's convention: higher = more uncertain. So the positive class is an
**error**: AUROC = P(score of a random wrong answer > score of a random right one), ties
counting ½ (scikit-learn's ``roc_auc_score``). 0.5 is chance, 1 is perfect.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


def auroc(scores, correct) -> float:
    """AUROC of ``scores`` for detecting errors (``correct`` == 0); NaN if only one class is present."""
    errors = 1 - np.asarray(correct, dtype=float)
    if errors.min() == errors.max():
        return float("nan")
    return float(roc_auc_score(errors, np.asarray(scores, dtype=float)))

"""Stage `evaluate`: score the model on the held-out customers; write metrics and plot data.

- metrics.json: accuracy, f1, precision, recall and roc_auc of the churn class, rounded to 6
  digits, keys sorted, so that `mlx metrics diff` shows only real changes.
- plots/roc.csv: the ROC curve, one row per threshold (fpr,tpr,threshold).
- plots/confusion.csv: one row per held-out customer (actual,predicted class), which
  `mlx plots` draws as a confusion matrix.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import joblib
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

ROOT = Path(__file__).absolute().parents[1]  # the project, wherever the command is started from
TEST = ROOT / "data" / "prepared" / "test.parquet"
MODEL = ROOT / "models" / "model.joblib"
METRICS = ROOT / "metrics.json"
PLOTS = ROOT / "plots"
LABEL = "churned"
CLASSES = ["stayed", "churned"]  # names of labels 0 and 1 in confusion.csv


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def main() -> None:
    test = pd.read_parquet(TEST)
    model = joblib.load(MODEL)
    actual = test[LABEL].to_numpy()
    score = model.predict_proba(test[model.feature_names_in_])[:, 1]  # the columns it was fit on
    predicted = (score >= 0.5).astype(int)
    metrics = {
        "accuracy": accuracy_score(actual, predicted),
        "f1": f1_score(actual, predicted),
        "precision": precision_score(actual, predicted, zero_division=0),
        "recall": recall_score(actual, predicted),
        "roc_auc": roc_auc_score(actual, score),
    }
    METRICS.write_text(json.dumps({k: round(float(v), 6) for k, v in metrics.items()}, indent=2,
                                  sort_keys=True) + "\n", encoding="utf-8")
    PLOTS.mkdir(exist_ok=True)
    fpr, tpr, thresholds = roc_curve(actual, score)
    # roc_curve's first threshold is +inf ("predict nobody churns"); 1.0 draws the same point
    # and is a number every CSV and plotting tool reads.
    write_csv(PLOTS / "roc.csv", ["fpr", "tpr", "threshold"],
              [[f"{f:.6f}", f"{t:.6f}", f"{min(h, 1.0):.6f}"] for f, t, h in zip(fpr, tpr, thresholds)])
    write_csv(PLOTS / "confusion.csv", ["actual", "predicted"],
              [[CLASSES[a], CLASSES[p]] for a, p in zip(actual, predicted)])
    print("evaluate: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(metrics.items()))
          + f" -> {METRICS.relative_to(ROOT)}, {PLOTS.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()

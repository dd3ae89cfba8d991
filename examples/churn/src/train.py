"""Stage `train`: fit a gradient-boosting churn model on data/prepared/train.parquet.

The model is a scikit-learn Pipeline (scaling and one-hot encoding, then boosting) so that the
saved file is all that evaluate, or a service, needs to score raw customer rows. Every random
choice takes its seed from params.yaml and nothing runs in parallel, so the same params give a
byte-identical models/model.joblib.
"""

from __future__ import annotations

from pathlib import Path

import joblib
import pandas as pd
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

ROOT = Path(__file__).absolute().parents[1]  # the project, wherever the command is started from
DATA = ROOT / "data" / "prepared"
MODEL = ROOT / "models" / "model.joblib"
NUMERIC = ["tenure_months", "monthly_charges", "total_charges", "support_calls", "num_products",
           "paperless_billing"]
CATEGORICAL = ["contract_type", "payment_method"]
LABEL = "churned"


def load_params() -> dict:
    with open(ROOT / "params.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)["train"]


def build_model(params: dict) -> Pipeline:
    features = ColumnTransformer(
        [("numeric", StandardScaler(), NUMERIC),
         ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL)],
        n_jobs=1,
    )
    booster = GradientBoostingClassifier(
        n_estimators=params["n_estimators"], learning_rate=params["learning_rate"],
        max_depth=params["max_depth"], subsample=params["subsample"], random_state=params["seed"],
    )
    return Pipeline([("features", features), ("booster", booster)])


def main() -> None:
    params = load_params()
    train = pd.read_parquet(DATA / "train.parquet")
    model = build_model(params).fit(train[NUMERIC + CATEGORICAL], train[LABEL])
    MODEL.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, MODEL)
    accuracy = model.score(train[NUMERIC + CATEGORICAL], train[LABEL])
    print(f"train: {params['n_estimators']} trees of depth {params['max_depth']}, "
          f"train accuracy {accuracy:.3f} -> {MODEL.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

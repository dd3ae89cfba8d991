"""Stage `prepare`: generate the customer table and split it into train and test Parquet files.

The customers are synthetic (scikit-learn's make_classification) so that the example needs no
download, but the columns read like a telecom churn table: short tenure, many support calls, a
month-to-month contract and high charges go with leaving. Everything is derived from the
`prepare` params, and the Parquet bytes are the same on every run: rows sorted by customer id,
no pandas metadata, no timestamps.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).absolute().parents[1]  # the project, wherever the command is started from
OUT = ROOT / "data" / "prepared"
CONTRACTS = ["month-to-month", "one-year", "two-year"]
PAYMENTS = ["bank-transfer", "credit-card", "electronic-check", "mailed-check"]


def load_params() -> dict:
    with open(ROOT / "params.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)["prepare"]


def oriented(column: np.ndarray, label: np.ndarray, sign: int) -> np.ndarray:
    """The column, negated if needed so that it correlates with churn in the direction `sign`.

    make_classification gives informative columns a random direction; flipping them makes the
    story true (long tenure lowers churn) without changing how hard the problem is.
    """
    return column if np.corrcoef(column, label)[0, 1] * sign >= 0 else -column


def uniform(column: np.ndarray) -> np.ndarray:
    """The column's ranks mapped into (0, 1): a uniform variable that keeps its ordering."""
    ranks = np.argsort(np.argsort(column, kind="stable"), kind="stable")
    return (ranks + 0.5) / len(column)


def customers(params: dict) -> pd.DataFrame:
    """One row per customer; `churned` is 1 for those who left."""
    features, label = make_classification(
        n_samples=params["customers"], n_features=7, n_informative=4, n_redundant=1,
        n_clusters_per_class=2, weights=[1 - params["churn_rate"]], flip_y=params["label_noise"],
        class_sep=0.9, shuffle=False, random_state=params["seed"],
    )
    # shuffle=False keeps the columns in a known order (informative, redundant, noise); the rows,
    # which it leaves grouped by class, are shuffled here with the same seed.
    order = np.random.default_rng(params["seed"]).permutation(len(label))
    features, label = features[order], label[order]
    # The five signal columns (four informative, one redundant) go to the story's features, the
    # one most correlated with churn first; the two noise columns become the payment method and
    # the number of products.
    signal = features[:, :5]
    strength = [abs(np.corrcoef(column, label)[0, 1]) for column in signal.T]
    strongest_first = signal[:, np.argsort(strength, kind="stable")[::-1]].T
    tenure, commitment, calls, charges, paperless = (
        uniform(oriented(column, label, sign)) for column, sign in zip(strongest_first, (-1, -1, +1, +1, +1)))
    frame = pd.DataFrame({
        "customer_id": [f"C{i:05d}" for i in range(len(label))],
        "tenure_months": (1 + np.floor(tenure * 72)).astype("int64"),
        "monthly_charges": np.round(18.25 + charges * 100.5, 2),
        "support_calls": np.minimum(np.floor(-np.log1p(-calls) * 1.5), 10).astype("int64"),
        "contract_type": np.array(CONTRACTS)[np.searchsorted([0.55, 0.8], commitment)],
        "paperless_billing": paperless > 0.4,
        "payment_method": np.array(PAYMENTS)[np.minimum(np.floor(uniform(features[:, 5]) * 4), 3).astype(int)],
        "num_products": (1 + np.floor(uniform(features[:, 6]) * 4)).astype("int64"),
    })
    frame["total_charges"] = np.round(frame["tenure_months"] * frame["monthly_charges"], 2)
    frame["churned"] = label.astype("int64")
    return frame


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Rows in customer-id order, and no pandas metadata (it records the pandas version)."""
    frame = frame.sort_values("customer_id", kind="stable").reset_index(drop=True)
    table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
    pq.write_table(table, path, compression="snappy")


def main() -> None:
    params = load_params()
    frame = customers(params)
    train, test = train_test_split(frame, test_size=params["test_size"], random_state=params["seed"],
                                   stratify=frame["churned"])
    shutil.rmtree(OUT, ignore_errors=True)  # the output holds exactly what this run wrote
    OUT.mkdir(parents=True)
    write_parquet(train, OUT / "train.parquet")
    write_parquet(test, OUT / "test.parquet")
    print(f"prepare: {len(train)} train and {len(test)} test customers, "
          f"{frame['churned'].mean():.1%} churned -> {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

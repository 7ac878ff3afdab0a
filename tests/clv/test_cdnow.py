"""The CLV models against the literature, on the CDNOW sample (tests/clv/fixtures/README.md).

The summary the pipeline computes from raw purchase records equals the published calibration
summary; the maximum-likelihood fits equal the published estimates within 1 %; the conditional
expectation equals the worked example of the paper; the holdout comparison's actual
purchases equal a plain pandas count of the raw file, and its predictions track them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.clv.config import clv_spec
from pipelines.clv.models import (
    expected_purchases,
    fit_bgnbd,
    fit_gamma_gamma,
    probability_alive,
)
from pipelines.clv.predict import fit_period, holdout_comparison
from pipelines.clv.summary import daily_transactions, summarise

FIXTURES = Path(__file__).parent / "fixtures"
CALIBRATION_END = pd.Timestamp("1997-09-30")  # 39 weeks from 1997-01-01
HOLDOUT_END = pd.Timestamp("1998-06-30")  # the next 39 weeks
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}


@pytest.fixture(scope="module")
def records() -> pd.DataFrame:
    raw = pd.read_csv(
        FIXTURES / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_key", "date", "cds", "value"],
        dtype={"customer_key": str, "date": str},
    )
    raw["transaction_date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    return raw


@pytest.fixture(scope="module")
def calibration(records) -> pd.DataFrame:
    return summarise(daily_transactions(records), CALIBRATION_END)


def test_raw_records_summarise_to_the_published_calibration_summary(records, calibration):
    published = pd.read_csv(FIXTURES / "cdnow_customers_summary_with_transactions.csv")
    assert len(records) == 6919
    assert len(calibration) == 2357
    assert int((calibration["frequency"] > 0).sum()) == 946
    ours = calibration.assign(ID=calibration["customer_key"].astype(int)).set_index("ID")
    published = published.set_index("ID").loc[ours.index]
    assert (ours["frequency"] == published["x"]).all()
    # the published weeks are rounded to two decimals
    assert np.abs(ours["recency"] - published["t_x"]).max() <= 0.005 + 1e-9
    assert np.abs(ours["T"] - published["T"]).max() <= 0.005 + 1e-9
    repeat = published["x"] > 0
    assert (
        np.abs(ours.loc[repeat, "monetary"] - published.loc[repeat, "zbar"]).max() <= 0.005 + 1e-9
    )
    assert ours.loc[~repeat, "monetary"].isna().all()


def test_bgnbd_fit_equals_the_published_estimates(calibration):
    fit = fit_bgnbd(calibration["frequency"], calibration["recency"], calibration["T"])
    assert fit.converged
    for name, value in PUBLISHED_BGNBD.items():
        assert fit.params[name] == pytest.approx(value, rel=0.01), name
    assert fit.log_likelihood == pytest.approx(-9582.4, abs=0.1)


def test_gamma_gamma_fit_on_the_946_repeat_customers_equals_the_published_estimates(
    calibration,
):
    repeat = calibration[calibration["frequency"] > 0]
    assert len(repeat) == 946
    fit = fit_gamma_gamma(repeat["frequency"], repeat["monetary"])
    assert fit.converged
    for name, value in PUBLISHED_GAMMA_GAMMA.items():
        assert fit.params[name] == pytest.approx(value, rel=0.01), name


def test_conditional_expectation_of_the_papers_worked_example():
    """FHL 2005: a customer with x = 2, t_x = 30.43, T = 38.86 is expected to make 1.226
    transactions in the next 39 weeks (published parameters)."""
    params = {"r": 0.242594, "alpha": 4.41359, "a": 0.792919, "b": 2.425947}
    assert expected_purchases(params, 39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=5e-4)
    # one purchase only: the model has no evidence of dropout
    assert probability_alive(params, 0, 0, 38.86) == 1.0
    # a long silence after many purchases: probably gone
    assert probability_alive(params, 10, 5.0, 38.86) < 0.01


def test_holdout_actuals_equal_pandas_and_predictions_track_them(records):
    spec = clv_spec({"clv": {"calibration_end": "1997-09-30"}})
    daily = daily_transactions(records)
    outcome = fit_period(daily, CALIBRATION_END, spec)
    assert outcome.status == "ok"
    table = holdout_comparison(daily, outcome, CALIBRATION_END, HOLDOUT_END, spec)

    # independent count from the raw file: purchase days per customer and week after the split
    days = records[["customer_key", "transaction_date"]].drop_duplicates()
    first = days.groupby("customer_key")["transaction_date"].transform("min")
    held = days[(days["transaction_date"] > CALIBRATION_END) & (first <= CALIBRATION_END)]
    week = (held["transaction_date"] - CALIBRATION_END).dt.days.sub(1).floordiv(7).add(1)
    expected_weeks = week.value_counts().reindex(range(1, 40), fill_value=0)

    weeks = table[table["comparison"] == "week"].set_index("bucket_order")
    assert list(weeks.index) == list(range(1, 40))
    assert (weeks["actual_purchases"] == expected_weeks.astype(float)).all()
    assert weeks["cumulative_actual_purchases"].iloc[-1] == len(held)
    assert weeks["period_start"].iloc[0] == pd.Timestamp("1997-10-01")
    assert weeks["period_end"].iloc[-1] == HOLDOUT_END

    repeat_before = (
        days[days["transaction_date"] <= CALIBRATION_END].groupby("customer_key").size() - 1
    )
    bucket = repeat_before.clip(upper=7)
    held_per_customer = held.groupby("customer_key").size().reindex(bucket.index, fill_value=0)
    expected_buckets = held_per_customer.groupby(bucket).sum()
    buckets = table[table["comparison"] == "frequency"].set_index("bucket_order")
    assert list(buckets["bucket_label"]) == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert (buckets["actual_purchases"] == expected_buckets.astype(float)).all()
    assert (buckets["customers"] == bucket.value_counts().sort_index()).all()

    # the two views add up to the same conditional expectation over the whole holdout; it
    # tracks the actual count (measured: 1,653.4 predicted for 1,882 actual purchase days of
    # the 2,357 customers in weeks 40-78; the bucket means follow the actual ones, FHL 2005
    # figure 5), and rises with the calibration frequency as the actual purchases do
    total_predicted = weeks["predicted_purchases"].sum()
    assert total_predicted == pytest.approx(buckets["predicted_purchases"].sum(), rel=1e-9)
    assert total_predicted == pytest.approx(1653.4, abs=0.1)
    assert total_predicted == pytest.approx(len(held), rel=0.15)
    per_customer = buckets["predicted_purchases"] / buckets["customers"]
    assert per_customer.is_monotonic_increasing
    actual_per_customer = buckets["actual_purchases"] / buckets["customers"]
    assert np.abs(per_customer - actual_per_customer).max() < 1.0
    total = table[table["comparison"] == "total"].iloc[0]
    assert total["actual_purchases"] == len(held)
    assert total["customers"] == 2357
    assert total["predicted_purchases"] == pytest.approx(total_predicted, rel=1e-9)
    assert (table["fit_status"] == "ok").all()

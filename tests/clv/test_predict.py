"""One CLV run on transactions written here: statuses instead of crashes on thin data, nulls
instead of made-up numbers, parameters recovered from data simulated by the model itself,
the 12-month CLV, the tiers and the configuration's errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.clv.config import ClvConfigError, clv_spec
from pipelines.clv.models import expected_purchases
from pipelines.clv.predict import CUSTOMER_COLUMNS, FIT_COLUMNS, WEEKS_PER_MONTH, run_clv

START = pd.Timestamp("2023-01-02")
PREDICTIONS = [
    "probability_alive",
    "expected_purchases_90d",
    "expected_purchases_365d",
    "expected_aov",
    "predicted_clv_12m",
]


def simulate(customers: int, weeks: int, seed: int = 7) -> pd.DataFrame:
    """Purchases drawn from BG/NBD (r=0.5, alpha=8 weeks, a=0.8, b=3) with Gamma-Gamma spend
    (p=6, q=4, gamma=100: a purchase ~ Gamma(6, rate nu), nu ~ Gamma(4, rate 100)); customers
    arrive over the first 12 weeks; gross profit 40 % of the value."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        rate = rng.gamma(0.5, 1 / 8.0)  # purchases per week
        dropout = rng.beta(0.8, 3.0)
        nu = rng.gamma(4.0, 1 / 100.0)
        time = float(rng.integers(0, 84))  # days; the first purchase
        while time < weeks * 7:
            value = float(rng.gamma(6.0, 1 / nu))
            day = START + pd.Timedelta(days=int(time))
            rows.append((f"c{c:05d}", day, value, 0.4 * value))
            if len(rows) > 1 and rows[-2][0] == rows[-1][0] and rng.random() < dropout:
                break  # BG/NBD: a customer may drop out after a repeat purchase only
            time += rng.exponential(1 / max(rate, 1e-9)) * 7
    return pd.DataFrame(rows, columns=["customer_key", "transaction_date", "value", "gross_profit"])


def end_of(weeks: int) -> pd.Timestamp:
    return START + pd.Timedelta(days=7 * weeks - 1)


def assert_all_null(frame: pd.DataFrame) -> None:
    assert frame[PREDICTIONS].isna().all().all()
    assert frame["clv_tier"].isna().all()


@pytest.fixture(scope="module")
def simulated():
    transactions = simulate(3000, 78)
    return transactions, run_clv(transactions, end_of(78), clv_spec({"clv": {}}))


def test_fit_recovers_the_simulated_parameters(simulated):
    _, run = simulated
    fit = run.fits.set_index("fit_name").loc["prediction"]
    assert fit["status"] == "ok" and fit["spend_status"] == "ok"
    # 3,000 customers: the estimates land near the truth (sampling error, not bias)
    assert fit["r"] == pytest.approx(0.5, rel=0.25)
    assert fit["alpha"] == pytest.approx(8.0, rel=0.35)
    assert fit["a"] / (fit["a"] + fit["b"]) == pytest.approx(0.8 / 3.8, rel=0.25)
    assert fit["p"] == pytest.approx(6.0, rel=0.25)
    assert fit["q"] == pytest.approx(4.0, rel=0.3)
    assert fit["p"] * fit["gamma"] / (fit["q"] - 1) == pytest.approx(6 * 100 / 3, rel=0.2)
    assert list(run.fits.columns) == FIT_COLUMNS
    assert fit["gross_margin"] == pytest.approx(0.4)


def test_predictions_are_consistent_and_clv_is_the_discounted_sum(simulated):
    transactions, run = simulated
    customers = run.customers.set_index("customer_key")
    assert list(run.customers.columns) == CUSTOMER_COLUMNS
    assert set(customers.index) == set(transactions["customer_key"])
    ok = customers[customers["clv_status"] == "ok"]
    assert len(ok) > 2900
    assert ok["probability_alive"].between(0, 1).all()
    assert (ok["expected_purchases_365d"] >= ok["expected_purchases_90d"]).all()
    assert (ok["expected_purchases_90d"] >= 0).all()
    assert (ok["expected_aov"] > 0).all()
    # without discounting the monthly increments telescope: margin x AOV x E[Y(12 months)]
    undiscounted = run_clv(
        transactions, end_of(78), clv_spec({"clv": {"monthly_discount_rate": 0}})
    )
    plain = undiscounted.customers.set_index("customer_key").loc[ok.index]
    fit = undiscounted.fits.set_index("fit_name").loc["prediction"]
    params = {k: fit[k] for k in ("r", "alpha", "a", "b")}
    twelve_months = expected_purchases(
        params,
        12 * WEEKS_PER_MONTH,
        plain["repeat_purchases"],
        plain["recency_weeks"],
        plain["tenure_weeks"],
    )
    expected = 0.4 * plain["expected_aov"] * twelve_months
    assert np.allclose(plain["predicted_clv_12m"], expected, rtol=1e-9)
    # discounting at 1 % a month takes between 0 and 1 - 1.01^-12 off
    ratio = ok["predicted_clv_12m"] / plain["predicted_clv_12m"]
    assert ratio.between(1.01**-12 - 1e-12, 1 / 1.01 + 1e-12).all()


def test_tiers_split_by_rank_of_predicted_clv(simulated):
    _, run = simulated
    ranked = run.customers.dropna(subset=["predicted_clv_12m"]).sort_values(
        ["predicted_clv_12m", "customer_key"], ascending=[False, True]
    )
    n = len(ranked)
    high, medium = int(np.ceil(0.2 * n)), int(np.ceil(0.5 * n))
    expected = ["high"] * high + ["medium"] * (medium - high) + ["low"] * (n - medium)
    assert ranked["clv_tier"].tolist() == expected
    assert run.customers.loc[run.customers["predicted_clv_12m"].isna(), "clv_tier"].isna().all()


def test_a_customer_seen_days_ago_gets_nulls_and_a_status(simulated):
    transactions, _ = simulated
    newcomer = pd.DataFrame(
        {
            "customer_key": ["z-new"],
            "transaction_date": [end_of(78) - pd.Timedelta(days=3)],
            "value": [50.0],
            "gross_profit": [20.0],
        }
    )
    run = run_clv(pd.concat([transactions, newcomer]), end_of(78), clv_spec({}))
    row = run.customers.set_index("customer_key").loc["z-new"]
    assert row["clv_status"] == "too_little_history"
    assert row[PREDICTIONS].isna().all() and pd.isna(row["clv_tier"])


def test_holdout_of_the_simulation_tracks_the_actual_purchases(simulated):
    _, run = simulated
    holdout = run.holdout
    assert (holdout["fit_status"] == "ok").all()
    weeks = holdout[holdout["comparison"] == "week"]
    assert len(weeks) == 26
    assert weeks["period_end"].iloc[-1] == end_of(78)
    actual, predicted = weeks["actual_purchases"].sum(), weeks["predicted_purchases"].sum()
    assert predicted == pytest.approx(actual, rel=0.1)


@pytest.mark.parametrize(
    ("transactions", "status"),
    [
        (simulate(0, 10), "no_transactions"),
        (simulate(200, 4), "too_little_history"),
        (simulate(12, 40), "too_few_customers"),
    ],
    ids=["empty", "four weeks", "twelve customers"],
)
def test_thin_data_gives_a_status_and_nulls_never_a_crash(transactions, status):
    weeks = (
        10
        if transactions.empty
        else int((transactions["transaction_date"].max() - START).days // 7 + 1)
    )
    run = run_clv(transactions, end_of(weeks), clv_spec({}))
    fits = run.fits.set_index("fit_name")
    assert fits.loc["prediction", "status"] == status
    assert fits.loc["prediction", "message"]
    assert fits.loc["prediction", ["r", "alpha", "a", "b", "p", "q", "gamma"]].isna().all()
    assert (run.customers["clv_status"] == status).all()
    assert len(run.customers) == transactions["customer_key"].nunique()
    assert_all_null(run.customers)
    assert run.holdout["predicted_purchases"].isna().all()
    if transactions.empty:
        assert run.holdout.empty
    else:  # the total row carries the calibration fit's status whatever the history
        total = run.holdout[run.holdout["comparison"] == "total"]
        assert len(total) == 1 and total["fit_status"].item() != "ok"


def test_history_shorter_than_the_holdout_leaves_one_total_row():
    """Three days of orders (as an orders-only home of the first invoices): no calibration
    period before the split, so fct_clv_holdout says so in its one row."""
    transactions = simulate(300, 1, seed=11)
    transactions = transactions[transactions["transaction_date"] < START + pd.Timedelta(days=3)]
    as_of = transactions["transaction_date"].max()
    run = run_clv(transactions, as_of, clv_spec({}))
    holdout = run.holdout
    assert holdout["comparison"].tolist() == ["total"]
    row = holdout.iloc[0]
    assert row["fit_status"] == "too_little_history"
    assert row["customers"] == 0 and row["actual_purchases"] == 0
    assert pd.isna(row["predicted_purchases"])
    fit = run.fits.set_index("fit_name").loc["holdout"]
    assert fit["status"] == "too_little_history" and "clv.holdout_weeks" in fit["message"]


def test_one_time_buyers_only_cannot_be_fitted():
    rows = [(f"c{i}", START + pd.Timedelta(days=i), 10.0, 4.0) for i in range(60)]
    transactions = pd.DataFrame(
        rows, columns=["customer_key", "transaction_date", "value", "gross_profit"]
    )
    run = run_clv(transactions, end_of(20), clv_spec({}))
    assert run.fits.set_index("fit_name").loc["prediction", "status"] == "too_few_customers"
    assert_all_null(run.customers)


def test_a_fit_without_a_finite_optimum_is_not_converged():
    """40 customers buying every week without fail, none ever leaving: r and alpha run off
    (no heterogeneity to estimate), so there is no maximum-likelihood estimate."""
    rows = [
        (f"c{c:02d}", START + pd.Timedelta(days=7 * w + c % 7), 10.0 + c, 4.0)
        for c in range(40)
        for w in range(30)
    ]
    transactions = pd.DataFrame(
        rows, columns=["customer_key", "transaction_date", "value", "gross_profit"]
    )
    run = run_clv(transactions, end_of(31), clv_spec({}))
    fit = run.fits.set_index("fit_name").loc["prediction"]
    assert fit["status"] == "not_converged"
    assert "bound" in fit["message"]
    assert_all_null(run.customers)
    assert (run.customers["clv_status"] == "not_converged").all()


def test_spend_model_without_enough_repeat_buyers_leaves_spend_null():
    transactions = simulate(300, 52, seed=3)
    spec = clv_spec({"clv": {"min_repeat_customers": 10_000}})
    run = run_clv(transactions, end_of(52), spec)
    fit = run.fits.set_index("fit_name").loc["prediction"]
    assert fit["status"] == "ok" and fit["spend_status"] == "too_few_repeat_customers"
    assert "clv.min_repeat_customers" in fit["message"]
    customers = run.customers
    assert customers["probability_alive"].notna().any()
    assert customers[["expected_aov", "predicted_clv_12m", "clv_tier"]].isna().all().all()
    assert set(customers["clv_status"]) <= {"no_spend_model", "too_little_history"}


@pytest.mark.parametrize(
    "block",
    [
        {"holdout_weeks": 0},
        {"monthly_discount_rate": -0.1},
        {"tiers": {"high": 0.7, "medium": 0.5}},
        {"calibration_end": "not a date"},
        {"min_customers": "many"},
        {"holdout": 26},
    ],
)
def test_bad_configuration_is_a_clear_error(block):
    with pytest.raises(ClvConfigError, match="clv"):
        clv_spec({"clv": block})


@pytest.mark.parametrize("customers", [0, 300])
def test_tables_are_written_with_their_types_even_when_empty(tmp_path, customers):
    from pipelines.clv.warehouse import TABLES, connect, write_tables

    run = run_clv(simulate(customers, 40, seed=5), end_of(40), clv_spec({}))
    frames = {"customer_clv": run.customers, "clv_holdout": run.holdout, "clv_fits": run.fits}
    with connect(tmp_path / "w.duckdb") as con:
        write_tables(con, frames)
        write_tables(con, frames)  # a re-run replaces, never appends
        for table, (types, _) in TABLES.items():
            described = con.execute(f"describe ml.{table}").df()
            assert dict(zip(described["column_name"], described["column_type"], strict=True)) == {
                c: t.upper() for c, t in types.items()
            }
            assert con.execute(f"select count(*) from ml.{table}").fetchone()[0] == len(
                frames[table]
            )
        nulls = con.execute(
            "select count(*) from ml.customer_clv where clv_status = 'ok' "
            "and (probability_alive is null or predicted_clv_12m is null)"
        ).fetchone()[0]
        assert nulls == 0

"""One CLV run: fit on the history up to the as-of date, predict per customer, check on held-out
time. Never raises on thin data: each fit gets a status, predictions it cannot make are nulls.

Run statuses (``ml.clv_fits.status``, and ``clv_status`` of every customer when the run did not
fit): ``ok``; ``no_transactions``; ``too_little_history`` (the data span fewer than
``min_history_weeks`` weeks; for the holdout fit: no calibration period before the split);
``too_few_customers`` (fewer than ``min_customers``, or no repeat buyer at all);
``not_converged`` (the optimiser did not converge or a parameter ran off to a boundary).
The spend model has its own ``spend_status``: ``ok``, ``too_few_repeat_customers``,
``not_converged``. Per customer, on a run that fitted: ``ok``; ``too_little_history`` (first
purchase fewer than ``min_customer_history_days`` days before the as-of date: nulls);
``no_spend_model`` (purchases predicted, spend and CLV null: the spend model did not fit, or
the customer's repeat purchases have a mean net value <= 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.clv.config import ClvSpec
from pipelines.clv.models import (
    BGNBD_PARAMS,
    GAMMA_GAMMA_PARAMS,
    Fit,
    discounted_value,
    expected_purchases_by_horizon,
    expected_spend,
    fit_bgnbd,
    fit_gamma_gamma,
    probability_alive,
)
from pipelines.clv.summary import DAYS_PER_WEEK, daily_transactions, purchases_between, summarise

WEEKS_PER_MONTH = 365.25 / 12 / DAYS_PER_WEEK
OK = "ok"

CUSTOMER_COLUMNS = [
    "customer_key",
    "clv_status",
    "repeat_purchases",
    "recency_weeks",
    "tenure_weeks",
    "probability_alive",
    "expected_purchases_90d",
    "expected_purchases_365d",
    "expected_aov",
    "predicted_clv_12m",
    "clv_tier",
]
HOLDOUT_COLUMNS = [
    "comparison",
    "bucket_order",
    "bucket_label",
    "period_start",
    "period_end",
    "customers",
    "actual_purchases",
    "predicted_purchases",
    "cumulative_actual_purchases",
    "cumulative_predicted_purchases",
    "calibration_end",
    "holdout_end",
    "fit_status",
]
FIT_COLUMNS = [
    "fit_name",
    "status",
    "message",
    "period_start",
    "period_end",
    "customers",
    "repeat_customers",
    *BGNBD_PARAMS,
    "bgnbd_log_likelihood",
    "spend_status",
    *GAMMA_GAMMA_PARAMS,
    "gamma_gamma_log_likelihood",
    "gross_margin",
    "monthly_discount_rate",
]


@dataclass
class FitOutcome:
    """The two fits of one period and their statuses (``purchases`` None unless status ok)."""

    summary: pd.DataFrame
    status: str
    message: str
    purchases: Fit | None = None
    spend_status: str | None = None
    spend: Fit | None = None

    def row(self, name: str, end, margin: float | None, spec: ClvSpec) -> dict:
        start = self.summary["first_purchase_date"].min() if len(self.summary) else None
        row = {
            "fit_name": name,
            "status": self.status,
            "message": self.message,
            "period_start": None if start is None or pd.isna(start) else pd.Timestamp(start),
            "period_end": pd.Timestamp(end),
            "customers": len(self.summary),
            "repeat_customers": int((self.summary["frequency"] > 0).sum()),
            "spend_status": self.spend_status,
            "gross_margin": margin,
            "monthly_discount_rate": spec.monthly_discount_rate,
            "bgnbd_log_likelihood": None,
            "gamma_gamma_log_likelihood": None,
        }
        for name_, fit, columns in (
            ("bgnbd", self.purchases, BGNBD_PARAMS),
            ("gamma_gamma", self.spend, GAMMA_GAMMA_PARAMS),
        ):
            usable = fit is not None and fit.converged
            for column in columns:
                row[column] = fit.params[column] if usable else None
            row[f"{name_}_log_likelihood"] = fit.log_likelihood if usable else None
        return row


def fit_period(daily: pd.DataFrame, end, spec: ClvSpec) -> FitOutcome:
    """Summarise the transactions up to ``end`` and fit both models, with statuses."""
    summary = summarise(daily, end)
    if summary.empty:
        return FitOutcome(summary, "no_transactions", f"no purchase on or before {end:%Y-%m-%d}")
    span_weeks = float(summary["T"].max())
    if span_weeks < spec.min_history_weeks:
        return FitOutcome(
            summary,
            "too_little_history",
            f"the purchases span {span_weeks:.1f} weeks, fewer than clv.min_history_weeks "
            f"({spec.min_history_weeks})",
        )
    repeat = summary[summary["frequency"] > 0]
    if len(summary) < spec.min_customers or repeat.empty:
        return FitOutcome(
            summary,
            "too_few_customers",
            f"{len(summary)} customers ({len(repeat)} repeat buyers); at least "
            f"clv.min_customers ({spec.min_customers}) with one repeat buyer are needed",
        )
    purchases = fit_bgnbd(summary["frequency"], summary["recency"], summary["T"])
    if not purchases.converged:
        return FitOutcome(
            summary, "not_converged", f"BG/NBD: {purchases.message}", purchases=purchases
        )
    spenders = repeat[repeat["monetary"] > 0]
    if len(spenders) < spec.min_repeat_customers:
        note = f"BG/NBD: {purchases.message}; " if purchases.message else ""
        return FitOutcome(
            summary,
            OK,
            f"{note}Gamma-Gamma: {len(spenders)} repeat buyers with a positive mean value, "
            f"fewer than clv.min_repeat_customers ({spec.min_repeat_customers})",
            purchases,
            "too_few_repeat_customers",
            None,
        )
    spend = fit_gamma_gamma(spenders["frequency"], spenders["monetary"])
    spend_status = OK if spend.converged else "not_converged"
    notes = [f"BG/NBD: {purchases.message}" if purchases.message else ""]
    notes.append("" if spend.converged else f"Gamma-Gamma: {spend.message}")
    return FitOutcome(summary, OK, "; ".join(n for n in notes if n), purchases, spend_status, spend)


def portfolio_margin(transactions: pd.DataFrame, spec: ClvSpec) -> float:
    """Configured margin, else gross profit / net revenue of all purchases, else the default."""
    if spec.gross_margin is not None:
        return spec.gross_margin
    value = pd.to_numeric(transactions.get("value"), errors="coerce")
    profit = pd.to_numeric(transactions.get("gross_profit"), errors="coerce")
    if value is None or profit is None or value.sum() <= 0 or profit.isna().all():
        return spec.default_gross_margin
    return float(profit.sum() / value.sum())


def assign_tiers(values: pd.Series, keys: pd.Series, shares: tuple[float, float]) -> pd.Series:
    """``high`` / ``medium`` / ``low`` by rank of predicted CLV (ties by key); null without one."""
    tiers = pd.Series(None, index=values.index, dtype="object")
    known = values.notna()
    n = int(known.sum())
    if not n:
        return tiers
    order = (
        pd.DataFrame({"value": values[known], "key": keys[known]})
        .sort_values(["value", "key"], ascending=[False, True], kind="mergesort")
        .index
    )
    high = math.ceil(n * shares[0])
    medium = math.ceil(n * (shares[0] + shares[1]))
    labels = ["high"] * high + ["medium"] * (medium - high) + ["low"] * (n - medium)
    tiers.loc[order] = labels[:n]
    return tiers


def predict_customers(outcome: FitOutcome, as_of, margin: float, spec: ClvSpec) -> pd.DataFrame:
    """One row per customer of the summary: status, the predictions, the CLV tier."""
    s = outcome.summary
    out = pd.DataFrame(
        {
            "customer_key": s["customer_key"].astype("object"),
            "clv_status": outcome.status,
            "repeat_purchases": s["frequency"].astype("int64"),
            "recency_weeks": s["recency"].astype("float64"),
            "tenure_weeks": s["T"].astype("float64"),
        }
    )
    for column in CUSTOMER_COLUMNS[5:]:
        out[column] = pd.Series(np.nan, index=out.index, dtype="float64")
    out["clv_tier"] = pd.Series(None, index=out.index, dtype="object")
    if outcome.status != OK or s.empty:
        return out[CUSTOMER_COLUMNS]
    params = outcome.purchases.params
    x, t_x, T = (s[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    young = (s["T"] * DAYS_PER_WEEK < spec.min_customer_history_days).to_numpy()
    out["probability_alive"] = probability_alive(params, x, t_x, T)
    horizons = [90 / DAYS_PER_WEEK, 365 / DAYS_PER_WEEK]
    in_90d, in_365d = expected_purchases_by_horizon(params, horizons, x, t_x, T)
    out["expected_purchases_90d"] = in_90d
    out["expected_purchases_365d"] = in_365d
    if outcome.spend_status == OK:
        monetary = s["monetary"].to_numpy(dtype=float)
        spend = expected_spend(outcome.spend.params, x, monetary)
        unusable = (x > 0) & ~(monetary > 0)
        spend = np.where(unusable, np.nan, spend)
        out["expected_aov"] = spend
        out["predicted_clv_12m"] = discounted_value(
            params,
            x,
            t_x,
            T,
            spend,
            margin,
            spec.horizon_months,
            spec.monthly_discount_rate,
            WEEKS_PER_MONTH,
        )
        out.loc[unusable, "clv_status"] = "no_spend_model"
    else:
        out["clv_status"] = "no_spend_model"
    out.loc[young, CUSTOMER_COLUMNS[5:10]] = np.nan
    out.loc[young, "clv_status"] = "too_little_history"
    out["clv_tier"] = assign_tiers(out["predicted_clv_12m"], out["customer_key"], spec.tier_shares)
    return out[CUSTOMER_COLUMNS]


def calibration_end(as_of, spec: ClvSpec) -> pd.Timestamp:
    as_of = pd.Timestamp(as_of).normalize()
    if spec.calibration_end is not None:
        return spec.calibration_end
    return as_of - pd.Timedelta(days=7 * spec.holdout_weeks)


def holdout_comparison(
    daily: pd.DataFrame, outcome: FitOutcome, cal_end, as_of, spec: ClvSpec
) -> pd.DataFrame:
    """Predicted vs actual purchases of the calibration customers in the holdout period:
    one ``total`` row (bucket 0: the whole holdout; there whenever anyone purchased, so the
    status shows even when there is no calibration period), one row per holdout week
    (conditional expectations of the weekly increments) and per calibration frequency bucket
    (0, 1, …, ``frequency_buckets``+). Predictions null unless the fit is ok."""
    as_of = pd.Timestamp(as_of).normalize()
    s = outcome.summary
    rows: list[dict] = []
    if daily.empty:
        return pd.DataFrame(rows, columns=HOLDOUT_COLUMNS)
    holdout_days = max((as_of - cal_end).days, 0)
    fitted = outcome.status == OK and holdout_days > 0
    in_holdout = daily[
        daily["customer_key"].isin(s["customer_key"])
        & (daily["transaction_date"] > cal_end)
        & (daily["transaction_date"] <= as_of)
    ]
    x, t_x, T = (s[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    params = outcome.purchases.params if fitted else None
    predicted_by_customer = (
        expected_purchases_by_horizon(params, [holdout_days / DAYS_PER_WEEK], x, t_x, T)[0]
        if fitted
        else None
    )
    rows.append(
        {
            "comparison": "total",
            "bucket_order": 0,
            "bucket_label": "holdout",
            "period_start": cal_end + pd.Timedelta(days=1),
            "period_end": as_of,
            "customers": len(s),
            "actual_purchases": float(len(in_holdout)),
            "predicted_purchases": float(predicted_by_customer.sum()) if fitted else None,
            "cumulative_actual_purchases": None,
            "cumulative_predicted_purchases": None,
        }
    )
    if s.empty or holdout_days <= 0:
        return _holdout_frame(rows, cal_end, as_of, outcome.status)
    weeks = math.ceil(holdout_days / DAYS_PER_WEEK)
    ends = [min(cal_end + pd.Timedelta(days=7 * week), as_of) for week in range(1, weeks + 1)]
    if fitted:  # every week's cumulative expectation per customer in one evaluation
        horizons = [(end - cal_end).days / DAYS_PER_WEEK for end in ends]
        weekly = np.diff(
            expected_purchases_by_horizon(params, horizons, x, t_x, T), axis=0, prepend=0.0
        ).sum(axis=1)
    cumulative_actual = 0
    cumulative_predicted = 0.0
    for week, end in enumerate(ends, start=1):
        start = cal_end + pd.Timedelta(days=7 * (week - 1))
        actual = int(
            (
                (in_holdout["transaction_date"] > start) & (in_holdout["transaction_date"] <= end)
            ).sum()
        )
        cumulative_actual += actual
        predicted = None
        if fitted:
            predicted = float(weekly[week - 1])
            cumulative_predicted += predicted
        rows.append(
            {
                "comparison": "week",
                "bucket_order": week,
                "bucket_label": f"week {week}",
                "period_start": start + pd.Timedelta(days=1),
                "period_end": end,
                "customers": len(s),
                "actual_purchases": float(actual),
                "predicted_purchases": predicted,
                "cumulative_actual_purchases": float(cumulative_actual),
                "cumulative_predicted_purchases": cumulative_predicted if fitted else None,
            }
        )
    actual_by_customer = (
        purchases_between(daily, cal_end, as_of).reindex(s["customer_key"]).fillna(0).to_numpy()
    )
    top = spec.frequency_buckets
    bucket = np.minimum(x, top).astype(int)
    for value in range(top + 1):
        members = bucket == value
        if not members.any():
            continue
        rows.append(
            {
                "comparison": "frequency",
                "bucket_order": value,
                "bucket_label": f"{value}+" if value == top else str(value),
                "period_start": cal_end + pd.Timedelta(days=1),
                "period_end": as_of,
                "customers": int(members.sum()),
                "actual_purchases": float(actual_by_customer[members].sum()),
                "predicted_purchases": float(predicted_by_customer[members].sum())
                if fitted
                else None,
                "cumulative_actual_purchases": None,
                "cumulative_predicted_purchases": None,
            }
        )
    return _holdout_frame(rows, cal_end, as_of, outcome.status)


def _holdout_frame(rows: list[dict], cal_end, as_of, status: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=HOLDOUT_COLUMNS)
    frame["calibration_end"] = cal_end
    frame["holdout_end"] = as_of
    frame["fit_status"] = status
    return frame


@dataclass
class ClvRun:
    customers: pd.DataFrame
    holdout: pd.DataFrame
    fits: pd.DataFrame
    prediction: FitOutcome
    calibration: FitOutcome
    margin: float


def run_clv(transactions: pd.DataFrame, as_of, spec: ClvSpec) -> ClvRun:
    """The whole step on a transactions frame (customer_key, transaction_date, value,
    gross_profit) up to ``as_of``."""
    as_of = pd.Timestamp(as_of).normalize()
    daily = daily_transactions(transactions)
    margin = portfolio_margin(transactions, spec)
    prediction = fit_period(daily, as_of, spec)
    customers = predict_customers(prediction, as_of, margin, spec)
    cal_end = calibration_end(as_of, spec)
    if cal_end >= as_of:
        calibration = FitOutcome(
            summarise(daily, cal_end).iloc[0:0],
            "too_little_history",
            f"calibration end {cal_end:%Y-%m-%d} is not before the as-of date {as_of:%Y-%m-%d}",
        )
    else:
        calibration = fit_period(daily, cal_end, spec)
        if calibration.status == "no_transactions" and not daily.empty:
            calibration.status = "too_little_history"
            calibration.message = (
                f"no purchase on or before the calibration end {cal_end:%Y-%m-%d}: the history "
                "is shorter than clv.holdout_weeks"
            )
    holdout = holdout_comparison(daily, calibration, cal_end, as_of, spec)
    fits = pd.DataFrame(
        [
            prediction.row("prediction", as_of, margin, spec),
            calibration.row("holdout", cal_end, margin, spec),
        ],
        columns=FIT_COLUMNS,
    )
    return ClvRun(customers, holdout, fits, prediction, calibration, margin)

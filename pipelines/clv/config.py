"""The ``clv:`` block of config/segmart.yaml as typed settings, validated on load."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


class ClvConfigError(ValueError):
    """The ``clv:`` configuration has a wrong value."""


@dataclass(frozen=True)
class ClvSpec:
    """How the probabilistic CLV is fitted, predicted and checked on held-out time."""

    holdout_weeks: int = 26
    calibration_end: pd.Timestamp | None = None
    monthly_discount_rate: float = 0.01
    horizon_months: int = 12
    gross_margin: float | None = None
    default_gross_margin: float = 0.6
    min_customers: int = 30
    min_repeat_customers: int = 10
    min_history_weeks: int = 8
    min_customer_history_days: int = 7
    tier_shares: tuple[float, float] = (0.2, 0.3)
    frequency_buckets: int = 7


def _number(block: dict, name: str, default, minimum, maximum=None, integer=False):
    value = block.get(name, default)
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ClvConfigError(f"clv.{name} must be a number, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
        raise ClvConfigError(f"clv.{name} must be {bounds}, got {value!r}")
    return value


def clv_spec(config: dict) -> ClvSpec:
    """The spec from the loaded configuration (defaults for what the block leaves out)."""
    block = config.get("clv") or {}
    if not isinstance(block, dict):
        raise ClvConfigError(f"clv must be a mapping, got {block!r}")
    known = set(ClvSpec.__dataclass_fields__) - {"default_gross_margin", "tier_shares"}
    unknown = set(block) - known - {"tiers"}
    if unknown:
        raise ClvConfigError(f"clv: unknown key(s) {sorted(unknown)}")
    calibration_end = block.get("calibration_end")
    if calibration_end is not None:
        try:
            calibration_end = pd.Timestamp(str(calibration_end)).normalize()
        except ValueError as error:
            raise ClvConfigError(f"clv.calibration_end is not a date: {error}") from error
    margin = block.get("gross_margin")
    if margin is not None:
        margin = float(_number(block, "gross_margin", None, 0, 1))
    tiers = block.get("tiers") or {"high": 0.2, "medium": 0.3}
    if not isinstance(tiers, dict) or set(tiers) != {"high", "medium"}:
        raise ClvConfigError(f"clv.tiers must name the shares of high and medium, got {tiers!r}")
    shares = (float(_number(tiers, "high", 0.2, 0, 1)), float(_number(tiers, "medium", 0.3, 0, 1)))
    if sum(shares) > 1:
        raise ClvConfigError(f"clv.tiers: high + medium must be <= 1, got {shares}")
    default_margin = (config.get("dbt_vars") or {}).get("default_gross_margin", 0.6)
    return ClvSpec(
        holdout_weeks=_number(block, "holdout_weeks", 26, 1, integer=True),
        calibration_end=calibration_end,
        monthly_discount_rate=float(_number(block, "monthly_discount_rate", 0.01, 0, 1)),
        horizon_months=_number(block, "horizon_months", 12, 1, 120, integer=True),
        gross_margin=margin,
        default_gross_margin=float(default_margin),
        min_customers=_number(block, "min_customers", 30, 2, integer=True),
        min_repeat_customers=_number(block, "min_repeat_customers", 10, 2, integer=True),
        min_history_weeks=_number(block, "min_history_weeks", 8, 0, integer=True),
        min_customer_history_days=_number(block, "min_customer_history_days", 7, 0, integer=True),
        tier_shares=shares,
        frequency_buckets=_number(block, "frequency_buckets", 7, 1, 100, integer=True),
    )

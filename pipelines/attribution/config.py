"""The ``attribution:`` block of config/segmart.yaml (data-driven models), validated on load."""

from __future__ import annotations

from dataclasses import dataclass


class AttributionConfigError(ValueError):
    """The ``attribution:`` configuration has a wrong value."""


@dataclass(frozen=True)
class AttributionSpec:
    """Markov order (1 = first order) and the largest channel set Shapley computes exactly."""

    markov_order: int = 1
    shapley_max_channels: int = 16


def _positive_int(value, name: str, maximum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= maximum:
        raise AttributionConfigError(
            f"attribution.{name} must be an integer from 1 to {maximum}, got {value!r}"
        )
    return value


def attribution_spec(config: dict) -> AttributionSpec:
    block = config.get("attribution") or {}
    if not isinstance(block, dict):
        raise AttributionConfigError("attribution: must be a mapping")
    unknown = set(block) - {"markov", "shapley"}
    if unknown:
        raise AttributionConfigError(f"attribution: unknown keys {sorted(unknown)}")
    markov = block.get("markov") or {}
    shapley = block.get("shapley") or {}
    for name, section, allowed in (
        ("markov", markov, {"order"}),
        ("shapley", shapley, {"max_channels"}),
    ):
        extra = set(section) - allowed
        if extra:
            raise AttributionConfigError(f"attribution.{name}: unknown keys {sorted(extra)}")
    return AttributionSpec(
        markov_order=_positive_int(markov.get("order", 1), "markov.order", 4),
        shapley_max_channels=_positive_int(
            shapley.get("max_channels", 16), "shapley.max_channels", 20
        ),
    )

"""Gating across runs: refuse to build on an upstream asset whose latest blocking check failed.

Within one run Dagster's ``blocking=True`` checks already stop downstream steps. A later run
(scheduled, sensor-triggered, or a partial materialisation from the UI) that does not re-run
those checks would otherwise build on data that failed them; this gate looks up the latest
evaluation of every blocking check on the asset's upstream assets in the instance's event log.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

CHECKS_TAG = "segmart/checks"


class UpstreamCheckFailed(dg.Failure):
    """An upstream blocking check's latest evaluation failed with ERROR severity."""


class UpstreamGate:
    """The blocking checks an asset must not build past, across runs.

    ``pipelines.definitions`` gives one gate to the builders of the gated assets (dbt, k-means,
    CLV, attribution, the publish), builds the checks (the GX suites and reconciliations of
    ``pipelines.quality``) and hands them to the gate (:meth:`watch`): the domains share the
    gate, never each other's code. A gate that watches nothing (a builder called alone, as in
    a unit test) lets every asset through; within one run Dagster's ``blocking=True`` checks
    already stop the steps downstream.
    """

    def __init__(self) -> None:
        self._blocking: set[dg.AssetCheckKey] = set()

    def watch(self, checks: Iterable[dg.AssetChecksDefinition]) -> None:
        """Add the blocking ones of ``checks`` (dbt tests are not blocking)."""
        for definition in checks:
            self._blocking |= {spec.key for spec in definition.check_specs if spec.blocking}

    def blocking_check_keys(self, asset_keys: Iterable[dg.AssetKey]) -> list[dg.AssetCheckKey]:
        """The blocking checks watched on ``asset_keys``."""
        assets = set(asset_keys)
        keys = [key for key in self._blocking if key.asset_key in assets]
        return sorted(keys, key=lambda key: (key.asset_key.to_user_string(), key.name))

    def failing(
        self, context: dg.AssetExecutionContext, upstream_keys: Iterable[dg.AssetKey]
    ) -> list[str]:
        """Blocking checks on ``upstream_keys`` whose latest evaluation failed with ERROR."""
        check_keys = self.blocking_check_keys(upstream_keys)
        if not check_keys:
            return []
        storage = context.instance.event_log_storage
        latest = storage.get_latest_asset_check_execution_by_key(check_keys)
        failing = []
        for key, record in latest.items():
            if record.event is None or record.event.dagster_event is None:
                continue
            evaluation = record.event.dagster_event.event_specific_data
            if not isinstance(evaluation, dg.AssetCheckEvaluation) or evaluation.passed:
                continue  # planned, skipped or passed: only a finished, failed evaluation blocks
            if evaluation.severity == dg.AssetCheckSeverity.ERROR:
                name = f"{key.asset_key.to_user_string()}: {key.name} (run {record.run_id})"
                failing.append(name)
        return sorted(failing)

    def enforce(
        self, context: dg.AssetExecutionContext, upstream_keys: Iterable[dg.AssetKey]
    ) -> None:
        """Raise :class:`UpstreamCheckFailed` naming the failing checks (skipped for no-checks
        runs)."""
        if context.run.tags.get(CHECKS_TAG) == "off":
            return
        failing = self.failing(context, upstream_keys)
        if failing:
            raise UpstreamCheckFailed(
                description=(
                    "Not building on data that failed a blocking quality check: "
                    + "; ".join(failing)
                    + f". {what_to_do(failing)} Then re-run; the previous serving copy stays "
                    "published."
                ),
                metadata={"failing_checks": dg.MetadataValue.json(failing)},
            )


def what_to_do(failing: list[str]) -> str:
    """The operator's next step for the failing checks (names as in
    :meth:`UpstreamGate.failing`): raw suites point at a landing file, reconciliations and
    mart suites at the check's failing keys."""
    steps = []
    if any(": gx_raw__" in name for name in failing):
        steps.append(
            "A raw suite failed: fix or remove the offending landing file (the check's metadata "
            "names the rows and files)."
        )
    if any(": reconcile_" in name for name in failing):
        steps.append(
            "A reconciliation failed: its metadata lists the expected and actual counts and the "
            "failing keys; look for rows lost or duplicated between the two layers."
        )
    if any(": gx_mart__" in name for name in failing):
        steps.append(
            "A mart suite failed: its metadata shows the failing expectation and sample values; "
            "trace them back through the mart's upstream models."
        )
    return " ".join(steps) or "See the failing check's metadata."

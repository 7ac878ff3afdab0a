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


def blocking_check_keys(
    context: dg.AssetExecutionContext, asset_keys: set[dg.AssetKey]
) -> list[dg.AssetCheckKey]:
    """The keys of the blocking checks on ``asset_keys`` in the definitions this run belongs to
    (GX suites of raw entities and marts, reconciliations between layers; dbt tests are not
    blocking). Read from the repository, so the gate needs no import of the domains whose
    checks it enforces."""
    keys = []
    for checks_def in context.repository_def.asset_checks_defs_by_key.values():
        keys += [
            spec.key
            for spec in checks_def.check_specs
            if spec.blocking and spec.asset_key in asset_keys
        ]
    return sorted(set(keys), key=lambda key: (key.asset_key.to_user_string(), key.name))


def failing_upstream_checks(
    context: dg.AssetExecutionContext, upstream_keys: Iterable[dg.AssetKey]
) -> list[str]:
    """Blocking checks on ``upstream_keys`` whose latest evaluation failed with ERROR."""
    upstream = set(upstream_keys)
    check_keys = blocking_check_keys(context, upstream)
    if not check_keys:
        return []
    latest = context.instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
    failing = []
    for key, record in latest.items():
        if record.event is None or record.event.dagster_event is None:
            continue
        evaluation = record.event.dagster_event.event_specific_data
        if not isinstance(evaluation, dg.AssetCheckEvaluation) or evaluation.passed:
            continue  # planned, skipped or passed: only a finished, failed evaluation blocks
        if evaluation.severity == dg.AssetCheckSeverity.ERROR:
            failing.append(f"{key.asset_key.to_user_string()}: {key.name} (run {record.run_id})")
    return sorted(failing)


def what_to_do(failing: list[str]) -> str:
    """The operator's next step for the failing checks (names as in
    :func:`failing_upstream_checks`): raw suites point at a landing file, reconciliations and
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


def enforce_upstream_checks(
    context: dg.AssetExecutionContext, upstream_keys: Iterable[dg.AssetKey]
) -> None:
    """Raise :class:`UpstreamCheckFailed` naming the failing checks (skipped for no-checks runs)."""
    if context.run.tags.get(CHECKS_TAG) == "off":
        return
    failing = failing_upstream_checks(context, upstream_keys)
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

"""A workaround for Dagster: partitioned assets built in a run without a partition.

segmart's landing sensor and ``segmart run`` start runs without a partition: they learn which
days are new only while ingesting, and the daily-partitioned dbt asset then plans its own
window (pipelines/transform/catchup.py). In Dagster 1.13 such a run fails with "Cannot access
partition_key for a non-partitioned run" as soon as a partitioned asset of a ``can_subset``
multi-asset (every ``@dbt_assets``) reads another partitioned asset of the same step that
was materialized before: to record the data provenance of the output, the step context maps
the run's partition range onto the input's partitions
(``DataVersionCache._fetch_input_asset_version_info`` → ``asset_partitions_subset_for_input``
→ ``partition_key_range``), and a run without a partition has no range.

The patch below answers "does this input have asset partitions?" with no in exactly that
case — a run without a partition, in a step of partitioned assets — so the input is read
as a whole: its data version is that of its latest materialization, as Dagster already does
for inputs with too many partitions. Every other case, and every partitioned run, goes
through Dagster's own code unchanged. ``tests/transform/test_dagster_workaround.py`` runs a
minimal job that fails without it.
"""

from __future__ import annotations

from dagster._core.execution.context.system import StepExecutionContext

_dagster_has_asset_partitions_for_input = StepExecutionContext.has_asset_partitions_for_input


def _has_asset_partitions_for_input(self: StepExecutionContext, input_name: str) -> bool:
    if not self.has_partitions and self.entity_partitions_def is not None:
        return False
    return _dagster_has_asset_partitions_for_input(self, input_name)


def apply() -> None:
    """Install the patch (idempotent)."""
    StepExecutionContext.has_asset_partitions_for_input = _has_asset_partitions_for_input


apply()

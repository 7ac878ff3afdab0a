"""The pipeline's dbt resource: dagster-dbt's own ``DbtCliResource``, no JSON artifacts."""

from dagster_dbt import DbtCliResource

from pipelines.transform.project import dbt_cli_resource, dbt_executable


def test_the_resource_is_dagster_dbts_own():
    """No subclass overriding dagster-dbt's private methods (tests/ops/test_library_internals)."""
    assert type(dbt_cli_resource()) is DbtCliResource


def test_invocation_without_json_artifacts(tmp_path):
    invocation = dbt_cli_resource().cli(["--version"], target_path=tmp_path / "target")
    invocation.wait()
    assert invocation.process.args[:2] == [dbt_executable(), "--no-write-json"]

"""The pipeline's dbt resource: no in-process adapter, no ``dbt --version``, no JSON artifacts."""

import subprocess
from pathlib import Path

from pipelines.transform.project import SegmartDbtCli, dbt_cli_resource, dbt_executable


def test_version_is_the_executables():
    """The version the resource reports is the dbt-core of the interpreter running ``dbt``."""
    shebang = Path(dbt_executable()).read_text().splitlines()[0]
    interpreter = shebang.removeprefix("#!").strip()
    reported = subprocess.run(
        [interpreter, "-c", "from dbt.version import __version__; print(__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    resource = dbt_cli_resource()
    assert isinstance(resource, SegmartDbtCli)
    assert str(resource._cli_version) == reported


def test_invocation_without_adapter_nor_json_artifacts(tmp_path):
    invocation = dbt_cli_resource().cli(["--version"], target_path=tmp_path / "target")
    invocation.wait()
    assert invocation.adapter is None
    assert invocation.process.args[:2] == [dbt_executable(), "--no-write-json"]

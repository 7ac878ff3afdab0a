"""One dbt build of the KPI marts on the hand-made KPI dataset, shared by tests/kpi.

The build (~30-40 s on 2 idle cores) runs once per pytest worker; every test module here
is in the xdist group ``kpi_dbt`` so they all land on the same worker and share it. It
builds the marts of facts/, attribution/ and kpi/ with everything upstream, but runs only
the tests of these marts (the upstream layers' tests belong to tests/dbt).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dbt"))

from dbt_invoke import read_table  # noqa: E402
from kpi_dataset import raw_frames  # noqa: E402
from raw_builder import write_raw  # noqa: E402

from pipelines.core.settings import DBT_PROJECT_DIR  # noqa: E402

# marts/clv: its marts and dim_customers (their CLV columns empty without the Python step)
KPI_MARTS = (
    "+path:models/marts/kpi +path:models/marts/attribution +path:models/marts/facts "
    "+path:models/marts/clv"
)
UPSTREAM_TESTS = " ".join(
    f"resource_type:{kind},path:models/{folder}"
    for kind in ("test", "unit_test")
    for folder in ("staging", "intermediate", "marts/segments")
)


def dbt_build(home: Path, target: Path, select: str, exclude: str) -> None:
    """`dbt build` in a subprocess (dbt-duckdb holds its connection until the process ends)."""
    args = [
        str(Path(sys.executable).parent / "dbt"), "build",
        "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target), "--log-path", str(target / "logs"),
        "--select", select, "--exclude", exclude, "--log-format", "text",
    ]  # fmt: skip
    env = {**os.environ, "SEGMART_HOME": str(home), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    done = subprocess.run(args, env=env, capture_output=True, text=True, cwd=DBT_PROJECT_DIR)
    if done.returncode != 0:
        errors = [line for line in done.stdout.splitlines() if "ERROR" in line or "rror" in line]
        raise AssertionError(
            "dbt build failed:\n" + "\n".join(errors[-40:] or [done.stdout[-4000:]])
        )


@dataclass
class KpiWarehouse:
    """A built warehouse: the test home and dbt's target directory (compiled SQL)."""

    home: Path
    target: Path

    def table(self, relation: str) -> pd.DataFrame:
        return read_table(self.home, relation)

    def compiled_sql(self, model_path: str) -> str:
        """Compiled SQL of a model, e.g. ``marts/attribution/fct_attribution``."""
        return (self.target / "compiled" / "segmart" / "models" / f"{model_path}.sql").read_text()


@pytest.fixture(scope="session")
def kpi_warehouse(tmp_path_factory) -> KpiWarehouse:
    home = tmp_path_factory.mktemp("kpi_home")
    target = tmp_path_factory.mktemp("kpi_dbt_target")
    write_raw(home, raw_frames())
    dbt_build(home, target, select=KPI_MARTS, exclude=UPSTREAM_TESTS)
    return KpiWarehouse(home=home, target=target)

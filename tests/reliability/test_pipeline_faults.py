"""A real ``segmart run`` SIGKILLed during ``dbt build``, its rerun SIGKILLed between the
swaps of the publish, and the run after that (tests/reliability/faults.py).

The killed run's warehouse pool slot is recovered with a message (its ``segmart/pid`` tag
names a dead process), the rerun builds marts identical to the uninterrupted run, and the run
after the cut publish recovers again and finishes it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.faults import (
    FAST,
    no_leftovers,
    same_marts,
)
from tests.reliability.pipeline_home import Run, copy_landing, run, serving_readable

pytestmark = pytest.mark.slow

DBT_MODELS_BEFORE_KILL = 10


def test_kill_during_dbt_then_kill_mid_publish_then_rerun(landing, baseline, tmp_path: Path):
    """Killed in dbt: nothing published, the rerun frees the slot and builds identical marts.
    Killed in that rerun between the swap of ``marts.duckdb`` and the Parquet files: the new
    database is complete and readable, and the next run recovers and finishes the publish."""
    home = copy_landing(landing, tmp_path / "home")
    killed = Run(home, None, (*FAST, "--verbose"))  # the event stream on stdout
    killed.wait_for(
        lambda: killed.count("segmart_dbt - ASSET_MATERIALIZATION") >= DBT_MODELS_BEFORE_KILL
    )
    killed.kill()
    serving = home / "serving" / "marts.duckdb"
    assert not serving.exists()  # nothing was published yet: none, never half a copy

    paused = home / "state" / "fault-publish.mid_swap.paused"
    rerun = Run(home, {"SEGMART_FAULT_PAUSE": "publish.mid_swap"}, FAST)
    rerun.wait_for(paused.exists)
    assert "left unfinished by a killed process" in rerun.output  # its pool slot was freed
    # the rerun got as far as the publish, and swapped in a complete copy of its marts
    same_marts(home, baseline)
    assert not list(home.glob("raw/**/*.tmp"))
    assert not list(home.glob("manifest/**/*.tmp"))
    rerun.kill()
    paused.unlink()
    assert serving_readable(home)  # the new database file, complete
    assert [p for p in (home / "serving").rglob(".*.parquet")]  # the swap was cut

    done = run(home, None, FAST)
    assert done.proc.returncode == 0, done.tail(60)
    assert "left unfinished by a killed process" in done.output
    same_marts(home, baseline)
    no_leftovers(home)

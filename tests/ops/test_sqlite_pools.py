"""Pool-slot claims on the embedded SQLite instance hold a kernel lock across processes."""

import fcntl
import os
import threading
import time

import dagster as dg

from pipelines.automation import sqlite_pools
from pipelines.automation.instance import prepare_dagster_home
from pipelines.resources import WAREHOUSE_POOL


def test_a_claim_waits_for_the_lock_and_one_slot_goes_to_one_step(tmp_path):
    sqlite_pools.apply()
    home = prepare_dagster_home(tmp_path / "dagster_home")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        lock_path = os.path.join(storage._base_dir, sqlite_pools.LOCK_FILE)  # noqa: SLF001
        claims = {}

        def claim(run_id):
            claims[run_id] = storage.claim_concurrency_slot(WAREHOUSE_POOL, run_id, "step")

        with open(lock_path, "a") as held:  # another process's claim in progress
            fcntl.flock(held, fcntl.LOCK_EX)
            waiting = threading.Thread(target=claim, args=("run_a",))
            waiting.start()
            time.sleep(0.5)
            assert waiting.is_alive() and not claims  # blocked on the lock
        waiting.join(timeout=30)
        assert claims["run_a"].is_claimed
        claim("run_b")  # the pool's single slot is taken
        assert not claims["run_b"].is_claimed
        storage.free_concurrency_slot_for_step("run_a", "step")
        claim("run_b")
        assert claims["run_b"].is_claimed

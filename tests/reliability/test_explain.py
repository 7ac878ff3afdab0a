"""The one line the command line prints for a failed step: the cause in words."""

from __future__ import annotations

import errno
import sys

import duckdb
import pytest
from dagster._utils.error import serializable_error_info_from_exc_info

from pipelines.automation.faults import explain
from pipelines.ingest.loader import IngestDiskFull


def _info(exc: BaseException):
    """Dagster's serialisable form of ``exc`` as raised, with its cause chain."""
    try:
        raise exc
    except BaseException:
        return serializable_error_info_from_exc_info(sys.exc_info())


def _chained(inner: BaseException, outer: BaseException) -> BaseException:
    outer.__cause__ = inner
    return outer


def test_disk_full_from_ingest_and_from_duckdb():
    ingest = IngestDiskFull("disk full while writing under /h (No space left on device)")
    assert explain(_info(ingest)).startswith("disk full: free space")
    efbig = OSError(errno.EFBIG, "File too large")
    assert explain(_info(_chained(efbig, RuntimeError("step failed")))).startswith("disk full")
    io = duckdb.IOException('Could not write file "x": No space left on device')
    assert explain(io).startswith("disk full")


def test_out_of_memory_names_the_setting():
    oom = duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block of 256 KiB")
    line = explain(_info(_chained(oom, RuntimeError("dbt build failed"))))
    assert line.startswith("out of memory: raise duckdb.memory_limit in segmart.yaml")


def test_a_held_lock_names_the_file_and_the_process():
    text = (
        "dbt failed. Errors parsed from dbt logs:\nIO Error: Could not set lock on file "
        '"/h/warehouse/segmart.duckdb": Conflicting lock is held in /usr/bin/duckdb (PID 4242). '
        "See also https://duckdb.org/docs"
    )
    assert explain(_info(RuntimeError(text))) == (
        "/h/warehouse/segmart.duckdb is open in another process: /usr/bin/duckdb (PID 4242); "
        "close it and run again"
    )


@pytest.mark.parametrize("message", ["mart dim_x is missing", "first line\nsecond line"])
def test_anything_else_is_the_first_line_of_the_innermost_error(message):
    error = _info(_chained(ValueError(message), RuntimeError("wrapper")))
    assert explain(error) == f"ValueError: {message.splitlines()[0]}"

"""Turn a failed step's error into one line a user can act on (disk full, memory, lock).

The command line prints :func:`explain` for every failed step, so a full disk or a memory cap
ends in a sentence naming the setting to change, not only in a Python or dbt traceback.
"""

from __future__ import annotations

import re

# (pattern in the error text, what to tell the user); first match wins
_KNOWN = [
    (
        re.compile(r"no space left on device|file too large|disk quota|disk full", re.I),
        "disk full: free space on the home's file system (or raise the file size limit) and "
        "run again; files loaded so far and the published serving copy are kept",
    ),
    (
        re.compile(r"out of memory|memoryerror|cannot allocate memory|failed to allocate", re.I),
        "out of memory: raise duckdb.memory_limit in segmart.yaml (it caps DuckDB in dbt, the "
        "checks and the publish) or give the process more memory, and run again; nothing "
        "was published",
    ),
    (
        re.compile(
            r"could not set lock on file \"([^\"]+)\": conflicting lock is held in "
            r"([^\n]*?\(PID \d+\))",
            re.I,
        ),
        "{0} is open in another process: {1}; close it and run again",
    ),
]


def _chain(error) -> list:
    """The error and its causes / contexts (Dagster's SerializableErrorInfo or an exception)."""
    out, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        out.append(error)
        error = (
            getattr(error, "cause", None)
            or getattr(error, "__cause__", None)
            or getattr(error, "context", None)
        )
    return out


def _text(error) -> str:
    return getattr(error, "message", None) or f"{type(error).__name__}: {error}"


def explain(error) -> str:
    """One line: a known cause in words, else the first line of the innermost error."""
    chain = _chain(error)
    text = "\n".join(_text(e) for e in chain)
    for pattern, advice in _KNOWN:
        match = pattern.search(text)
        if match:
            return advice.format(*match.groups())
    innermost = _text(chain[-1]).strip() if chain else "unknown error"
    return innermost.splitlines()[0] if innermost else "unknown error"

"""Work around an import-time exit in PySpark that Great Expectations triggers.

GX imports ``pyspark.sql.connect`` when PySpark is installed (it is, for the Spark path).
PySpark then takes a ``__main__`` module without ``__file__`` — as in ``python -c`` and in
pytest-xdist workers, which Dagster's in-process runs inherit — for its own doctest runner and
calls ``sys.exit(0)`` when Spark Connect's optional packages are missing. The step then fails
with ``SystemExit: 0``. Naming the main module avoids that code path; nothing else reads it.
"""

from __future__ import annotations

import sys


def guard_pyspark_doctest_exit() -> None:
    main = sys.modules.get("__main__")
    if (
        main is not None
        and getattr(main, "__spec__", None) is None
        and not hasattr(main, "__file__")
    ):
        main.__file__ = "<segmart>"

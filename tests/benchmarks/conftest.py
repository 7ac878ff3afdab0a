"""Make the repository's ``benchmarks`` package importable however pytest is started.

``python -m pytest`` (the Makefile) puts the repo root on sys.path, the ``pytest`` script
does not; the installed project exposes only ``pipelines``.
"""

import sys
from pathlib import Path

REPO_ROOT = str(Path(__file__).resolve().parents[2])
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

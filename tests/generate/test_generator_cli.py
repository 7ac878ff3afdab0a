"""`make demo`'s first half: `python -m generator` writes the demo landing into the home once per
scale and seed; the installed `segmart demo` only says where the demo lives now."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from generator.__main__ import main as generator_main
from pipelines.cli import main as segmart_main

REPO_ROOT = Path(__file__).resolve().parents[2]


def _files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_generator_writes_the_demo_landing_once_into_the_home(tmp_path):
    runner = CliRunner()
    first = runner.invoke(
        generator_main, ["--scale", "0.01", "--seed", "3", "--home", str(tmp_path)]
    )
    assert first.exit_code == 0, first.output
    target = tmp_path / "landing" / "demo_s0.01_seed3"
    assert f"to {target}" in first.output
    expected = json.loads((target / "_expected.json").read_text())
    written = _files(target)
    # every file the generator's own record lists is there (and nothing is listed twice)
    listed = [name for name in expected["files"]]
    assert listed and len(listed) == len(set(listed))
    assert all(name in written for name in listed), sorted(set(listed) - set(written))

    again = runner.invoke(
        generator_main, ["--scale", "0.01", "--seed", "3", "--home", str(tmp_path)]
    )
    assert again.exit_code == 0 and "already in" in again.output
    assert _files(target) == written  # untouched


def test_python_dash_m_generator_runs_from_the_repository():
    done = subprocess.run(
        [sys.executable, "-m", "generator", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "--scale" in done.stdout and "--home" in done.stdout


def test_segmart_demo_points_at_make_demo():
    result = CliRunner().invoke(segmart_main, ["demo", "--scale", "1"])
    assert result.exit_code == 1
    assert "make demo" in result.output and "python -m generator" in result.output
    assert "generate" not in segmart_main.commands  # the generator is not in the package

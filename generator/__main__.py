"""``python -m generator``: write the demo dataset into a segmart home's landing folder.

Run from the repository's root (``make demo`` does, then ``segmart run``). The generator is
not part of the installed package; it imports segmart only for the home's layout.
"""

from __future__ import annotations

from pathlib import Path

import click

from generator.core import generate
from pipelines.core.settings import home_paths


def _with_progress(label: str, work):
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn()) as bar:
        task = bar.add_task(label, total=None)

        def progress(done: float | None = None, total: float | None = None, note: str = "") -> None:
            bar.update(task, completed=done, total=total, description=f"{label} {note}".strip())

        return work(progress)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--scale", type=float, default=0.1, show_default=True, help="1 ≈ 100k orders, 1M events."
)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Landing folder to write (default: {home}/landing/demo_s{scale}_seed{seed}).",
)
@click.option("--home", type=click.Path(file_okay=False), default=None, envvar="SEGMART_HOME")
def main(scale: float, seed: int, out: str | None, home: str | None) -> None:
    """Write a deterministic demo dataset in real vendor export shapes (once per scale and
    seed: a folder that already holds its ``_expected.json`` is left as it is)."""
    target = Path(out) if out else home_paths(home).landing / f"demo_s{scale:g}_seed{seed}"
    if (target / "_expected.json").exists():
        click.echo(f"Demo data already in {target}")
        return
    report = _with_progress("Generating demo data", lambda p: generate(target, scale, seed, p))
    click.echo(f"Wrote {report} to {target}")


if __name__ == "__main__":
    main()

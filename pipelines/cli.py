"""The ``segmart`` command line: run the pipeline, inspect mappings, publish, forget, doctor.

The top of the package: nothing imports this module. Each command imports the domain it needs
inside its function, so that ``segmart --help`` and ``segmart mappings check`` start without
importing Dagster, dbt and Great Expectations (seconds); these imports hide no cycle (the layer
test, tests/test_layers.py, allows function-local imports here only). The demo-data generator
is not part of the package: ``make demo`` runs ``python -m generator`` from the repository.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from pipelines.core.locks import WarehouseBusy, check_warehouse_free, run_lock, run_lock_path
from pipelines.core.settings import home_paths


def _use_home(home: str | None) -> Path:
    """Resolve the home, export it for Dagster and dbt, and prepare the Dagster instance dir."""
    paths = home_paths(home).ensure()
    os.environ["SEGMART_HOME"] = str(paths.root)
    dagster_home = Path(os.environ.setdefault("DAGSTER_HOME", str(paths.root / "dagster_home")))
    from pipelines.automation.instance import prepare_dagster_home  # imports Dagster

    prepare_dagster_home(dagster_home)
    _check_pii_key(paths.root, dagster_home)
    return paths.root


def _check_pii_key(root: Path, dagster_home: Path) -> None:
    """The home's PII key: generated on its first run (said once), a warning in production."""
    from pipelines.privacy.doctor import pii_findings

    for line in pii_findings(root, dagster_home).notices:
        click.secho(line, fg="yellow")


@contextmanager
def _exclusive_run(root: Path) -> Iterator[None]:
    """Hold the home's run lock (``{home}/state/run.lock``) around a pipeline run.

    A warehouse held by another program fails at once, before any waiting. Another run of the
    same home (the lock's holder, or the dbt it started, holding the warehouse) is waited for,
    with one line naming it. Then, under the lock, what a killed run left held is freed:
    kernel locks (ingest, publish, DuckDB's own) die with their process; Dagster's pool slot
    does not, so a run left unfinished by a dead process is failed and its slot freed (logged).
    The embedded instance runs one ``segmart run`` per home at a time; for runs that must
    overlap (the daemon's schedule and sensor beside the command line) use the PostgreSQL
    instance (docs/operations.md).
    """
    import dagster as dg  # lazy: seconds to import; `segmart --help` does without

    from pipelines.automation.recovery import recover_dead_runs

    paths = home_paths(root)
    try:
        check_warehouse_free(paths.warehouse, run_lock_path(paths.state))
        with run_lock(paths.state, logging.getLogger("pipelines.cli")):
            with dg.DagsterInstance.get() as instance:
                for run_id in recover_dead_runs(instance):
                    click.secho(
                        f"Recovered run {run_id} left unfinished by a killed process.",
                        fg="yellow",
                    )
            check_warehouse_free(paths.warehouse, run_lock_path(paths.state))
            yield
    except WarehouseBusy as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """segmart: segment tables and KPI marts from your CRM, web and ad-spend exports."""


@main.command()
@click.option("--home", type=click.Path(file_okay=False), default=None, envvar="SEGMART_HOME")
@click.option("--no-checks", is_flag=True, help="Skip the Great Expectations checks (benchmarks).")
@click.option("--force", is_flag=True, help="Run even when nothing changed since the last run.")
@click.option(
    "--full-refresh",
    is_flag=True,
    help="Rebuild the incremental dbt models completely (docs/incremental.md); implies --force.",
)
@click.option(
    "--verbose", "-v", is_flag=True, help="Print Dagster's event stream and dbt's output too."
)
def run(home: str | None, no_checks: bool, force: bool, full_refresh: bool, verbose: bool) -> None:
    """Run the whole pipeline once: ingest → checks → dbt → checks → publish.

    Prints one line per phase and a summary; Dagster's event stream and dbt's output go to
    {home}/logs/run-<time>.log ({home}/logs/latest.log is the newest). Skipped, with one line
    saying why, when nothing changed since the last successful run
    (pipelines/automation/up_to_date.py).
    """
    if not (no_checks or force or full_refresh) and _nothing_new(home):
        return
    root = _use_home(home)
    with _exclusive_run(root):
        ok = _run_recorded(skip_checks=no_checks, verbose=verbose, full_refresh=full_refresh)
    _print_summary(root, verbose)
    if not ok:
        sys.exit(1)


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def demo() -> None:
    """The demo lives in the repository, not in the installed package: run `make demo`."""
    raise click.ClickException(
        "the demo-data generator is not part of the installed package: in a clone of the "
        "repository run `make demo` (it runs `python -m generator`, then `segmart run`)"
    )


@main.group()
def mappings() -> None:
    """Check, validate and draft vendor mappings (pipelines/ingest/README.md)."""


@mappings.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--home", type=click.Path(file_okay=False), default=None, envvar="SEGMART_HOME")
@click.option(
    "--mapping",
    "extra",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A mapping YAML to try as well (e.g. a draft), before moving it into {home}/mappings.",
)
def mappings_check(file: str, home: str | None, extra: tuple[str, ...]) -> None:
    """Tell which mappings read FILE and what would be quarantined, without loading it.

    When no mapping matches, shows the closest ones and the header columns each misses.
    Exit status: 0 the file would load, 1 every row of a reading would be quarantined,
    2 the file would be rejected.
    """
    from pipelines.ingest.check import check_file

    result = check_file(Path(file), home=home, extra=[Path(p) for p in extra])
    click.echo(str(result))
    sys.exit(result.exit_code)


@mappings.command("validate")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--home", type=click.Path(file_okay=False), default=None, envvar="SEGMART_HOME")
def mappings_validate(files: tuple[str, ...], home: str | None) -> None:
    """Check every mapping (shipped and {home}/mappings), or only the YAML FILES given.

    One line per invalid mapping naming its file, the key and what is allowed; exit 1 if any.
    """
    from pipelines.ingest.validate import validate_file, validate_mappings

    if files:
        valid, errors = [], []
        for name in files:
            ok, bad = validate_file(Path(name))
            valid += ok
            errors += bad
    else:
        mset, errors = validate_mappings(home_paths(home).root)
        valid = list(mset.mappings.values())
    for line in errors:
        click.secho(line, fg="red")
    click.echo(f"{len(valid)} mapping(s) valid, {len(errors)} invalid")
    sys.exit(1 if errors else 0)


@mappings.command("new")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--entity", default=None, help="The canonical entity (default: guessed).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write the draft (default: {home}/mappings/drafts/<file>.yaml, not active).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing draft.")
@click.option("--home", type=click.Path(file_okay=False), default=None, envvar="SEGMART_HOME")
def mappings_new(
    file: str, entity: str | None, out: str | None, force: bool, home: str | None
) -> None:
    """Write a draft mapping for FILE from its header (columns guessed to the entity's
    fields, date formats sniffed from the values) for you to finish."""
    from pipelines.ingest.draft import draft_file_name, draft_mapping
    from pipelines.ingest.readers import ReadError

    paths = home_paths(home)
    try:
        draft = draft_mapping(Path(file), paths.root, entity)
    except (KeyError, ValueError, OSError, ReadError) as exc:
        raise click.ClickException(str(exc)) from None
    target = Path(out) if out else paths.user_mappings / "drafts" / draft_file_name(file)
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists (--force overwrites it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(draft.yaml_text)
    click.echo(draft.yaml_text)
    click.echo(
        f"Draft written to {target}. Finish the TODO lines, then "
        f"`segmart mappings validate {target}` and "
        f"`segmart mappings check {file} --mapping {target}`; "
        f"move it into {paths.user_mappings}/ to use it."
    )


@main.command()
@click.option("--to", "target", type=click.Choice(["postgres"]), required=True)
@click.option(
    "--dsn", envvar="SEGMART_PG_DSN", required=True, help="PostgreSQL DSN (env SEGMART_PG_DSN)."
)
@click.option("--home", type=click.Path(file_okay=False), default=None, envvar="SEGMART_HOME")
def publish(target: str, dsn: str, home: str | None) -> None:
    """Publish the serving marts to another target (PostgreSQL) in one transaction."""
    from pipelines.serving.postgres import publish_postgres

    root = _use_home(home)
    report = publish_postgres(root, dsn)
    click.echo(str(report))


@main.command()
@click.option("--email", required=True, help="The person's e-mail address (never logged).")
@click.option("--home", type=click.Path(file_okay=False), default=None, envvar="SEGMART_HOME")
@click.option(
    "--rebuild/--no-rebuild",
    default=True,
    show_default=True,
    help="Re-run the pipeline afterwards so the marts no longer hold the person.",
)
def forget(email: str, home: str | None, rebuild: bool) -> None:
    """Erase a person by e-mail from raw and quarantine (keyed hash logged), then rebuild."""
    from pipelines.privacy.forget import forget as erase

    root = _use_home(home)
    report = erase(root, email)
    click.echo(str(report))
    if rebuild:
        with _exclusive_run(root):
            # rows erased from raw are no rows loaded: the incremental models are rebuilt
            ok = _run_pipeline(skip_checks=False, full_refresh=True)
        if not ok:
            sys.exit(1)


@main.command()
@click.option("--home", type=click.Path(file_okay=False), default=None, envvar="SEGMART_HOME")
def doctor(home: str | None) -> None:
    """Check the production setup: where the PII key comes from, and whether it should.

    Exit status 1 when something needs fixing (e.g. a generated PII key on an instance whose
    Dagster storage is PostgreSQL)."""
    from pipelines.privacy.doctor import pii_findings

    paths = home_paths(home).ensure()
    dagster_home = os.environ.get("DAGSTER_HOME") or str(paths.root / "dagster_home")
    findings = pii_findings(paths.root, dagster_home)
    click.echo(findings.describe())
    sys.exit(1 if findings.warnings else 0)


def _nothing_new(home: str | os.PathLike | None) -> bool:
    """True (and says so) when the last successful run already used exactly these inputs."""
    from pipelines.automation.up_to_date import check

    paths = home_paths(home)
    verdict = check(paths)
    if verdict.up_to_date:
        click.echo(f"Up to date: {verdict.reason}; marts in {paths.serving}. (--force runs anyway)")
    else:
        click.echo(f"Running: {verdict.reason}.")
    return verdict.up_to_date


def _run_recorded(skip_checks: bool, verbose: bool = False, full_refresh: bool = False) -> bool:
    """``_run_pipeline``, with the up-to-date record dropped first and written on success."""
    from pipelines.automation import up_to_date

    paths = home_paths()
    up_to_date.forget_record(paths)
    ok = _run_pipeline(skip_checks, verbose, full_refresh)
    if ok and not skip_checks:
        up_to_date.record_success(paths)
    return ok


def _run_pipeline(skip_checks: bool, verbose: bool = False, full_refresh: bool = False) -> bool:
    """Run the pipeline in process against the instance in DAGSTER_HOME (run history kept).

    One run of the full job, as the landing sensor starts it: ingest, checks, dbt, checks,
    publish. The incremental dbt models build the rows loaded since their last build
    (docs/incremental.md); ``full_refresh`` (tag ``segmart/full_refresh=true``) rebuilds them
    completely. ``--no-checks`` (benchmarks) runs the job without checks as a full refresh,
    so its timings stay comparable.

    The terminal gets one line per phase and, on failure, what failed in words; Dagster's
    event stream and dbt's output go to the run log (pipelines/automation/progress.py), and
    with ``verbose`` to the terminal as well.
    """
    import contextlib
    import time
    import uuid

    import dagster as dg  # lazy: seconds to import; `segmart --help` does without

    from pipelines.automation import progress
    from pipelines.automation.jobs import FULL_REFRESH_JOB_NAME, NO_CHECKS_JOB_NAME
    from pipelines.automation.recovery import pid_tags
    from pipelines.definitions import defs
    from pipelines.transform.incremental import FULL_REFRESH_TAG

    tags = {"segmart/invocation": uuid.uuid4().hex[:12], **pid_tags()}
    if skip_checks or full_refresh:
        tags[FULL_REFRESH_TAG] = "true"
    job = defs().resolve_job_def(NO_CHECKS_JOB_NAME if skip_checks else FULL_REFRESH_JOB_NAME)
    log = progress.new_run_log(home_paths().root)
    click.echo(f"Run log: {log}")
    run_id = str(uuid.uuid4())
    state = progress.RunProgress()
    began = time.monotonic()
    with dg.DagsterInstance.get() as instance:
        capture = contextlib.nullcontext(sys.stdout) if verbose else progress.output_to(log)
        with capture as terminal:
            poller = progress.Poller(run_id, state, terminal, live=not verbose)
            with poller:
                result = job.execute_in_process(
                    run_config=progress.run_config(log, verbose),
                    instance=instance,
                    tags=tags,
                    run_id=run_id,
                    raise_on_error=False,
                )
            poller.finish(instance)
    took = time.monotonic() - began
    if result.success:
        click.secho(f"Run {run_id} succeeded in {took:.0f}s.", fg="green")
        return True
    failed = [e.step_key for e in result.all_events if e.is_step_failure]
    click.secho(f"Run {run_id} failed at: {', '.join(failed) or 'a check'}", fg="red")
    for line in progress.explain_failures(state, log):
        if line.startswith("  "):
            click.secho(line, fg="red")
        else:
            click.echo(line)
    click.echo(f"Dagster UI: `make dev`, then open run {run_id}.")
    return False


def _print_summary(root: Path, verbose: bool = False) -> None:
    from pipelines.reporting.summary import summarise

    click.echo(summarise(root, rows_per_mart=verbose))


if __name__ == "__main__":  # pragma: no cover
    main()

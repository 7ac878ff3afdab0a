"""What ``segmart run`` shows on the terminal, and where the rest of a run's output goes.

* **The run log** ``{home}/logs/run-<UTC time>.log`` (the newest also as ``logs/latest.log``,
  the newest :data:`KEEP_LOGS` kept): Dagster's whole event stream at DEBUG, written by the
  Dagster logger :func:`run_log_file` that the run config selects, and everything the run's
  code writes to stdout / stderr — dbt's output (re-emitted by dagster-dbt), library warnings —
  captured at the file-descriptor level (:func:`output_to`, the technique of Dagster's own
  compute-log capture) so that nothing of it reaches the terminal. ``--verbose`` selects
  Dagster's console logger as well and captures nothing: the stream is printed as it comes.
* **The terminal**: one line per phase (ingest files, raw checks, dbt models, mart checks,
  publish) as each finishes, driven by the run's own events read back from the instance's
  event log (``DagsterInstance.get_records_for_run``, polled by :class:`Poller`); then, on
  failure, each failed check in words (:func:`explain_failures`: the expectation, what was
  observed, a sample of failing keys, the Data Docs page) and the log's path.

A phase is the set of steps the run planned for it: the ingest step, the checks on raw
entities (``gx_raw__*``, ``reconcile_landing_to_raw``), the steps that build models (dbt, the
clusters), the other checks (``gx_mart__*``, the reconciliations raw → staging → marts) and
the serving assets. A phase's line is printed once all its steps ended, in that order.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import dagster as dg
import duckdb

from pipelines.automation.faults import explain
from pipelines.core.settings import home_paths
from pipelines.quality.suites import load_suite

RUN_LOG_LOGGER = "run_log_file"  # the logger's key in the Definitions and the run config
KEEP_LOGS = 30  # run logs kept per home, newest first
LATEST = "latest.log"
LOG_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"  # Dagster's console format
POLL_SECONDS = 1.0  # an empty poll of the SQLite event log: ~5 ms

INGEST, RAW, MODELS, MARTS, PUBLISH = range(5)
PHASE_NAMES = ("Ingest files", "Raw checks", "dbt models", "Mart checks", "Publish")
INGEST_STEP = "ingest_landing"  # pipelines/ingest/assets.py build_ingest_landing
RAW_CHECKS = ("gx_raw__", "reconcile_landing_to_raw")  # check names of the raw phase
MAX_CHECKS_EXPLAINED = 5
MAX_EXPECTATIONS_EXPLAINED = 3
MAX_KEYS_SHOWN = 3
MAX_LINE = 220
MAX_DBT_ERROR_LINES = 6
DBT_ERROR_CLASS = "DagsterDbtCliRuntimeError"
DBT_ERRORS = "Errors parsed from dbt logs:"  # in the message of dagster-dbt's error above
ANSI = re.compile(r"\x1b\[[0-9;]*m")


# ---------------------------------------------------------------------------- the run log


@dg.logger(
    config_schema={
        "path": dg.Field(str, description="File the run's event stream is appended to."),
        "log_level": dg.Field(str, default_value="DEBUG", is_required=False),
    },
    description="Appends the run's Dagster event stream to a file (`segmart run`: the run log).",
)
def run_log_file(init_context: dg.InitLoggerContext) -> logging.Logger:
    config = init_context.logger_config
    log = logging.Logger("dagster", level=logging.getLevelName(config["log_level"].upper()))
    handler = logging.FileHandler(config["path"], encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    log.addHandler(handler)
    return log


def run_config(log_path: Path, verbose: bool) -> dict:
    """Run config selecting the loggers: the run log always, the console with ``verbose``."""
    loggers: dict = {RUN_LOG_LOGGER: {"config": {"path": str(log_path)}}}
    if verbose:
        loggers["console"] = {"config": {"log_level": "DEBUG"}}
    return {"loggers": loggers}


def new_run_log(home: Path) -> Path:
    """A new, empty ``{home}/logs/run-<UTC time>.log``; ``logs/latest.log`` points at it."""
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    # runs in the same second: -2, -3, … after the highest taken (never a pruned name again)
    taken = [re.fullmatch(rf"run-{stamp}(?:-(\d+))?\.log", p.name) for p in logs.iterdir()]
    n = max((int(m.group(1) or 1) for m in taken if m), default=0)
    while True:
        n += 1
        path = logs / (f"run-{stamp}.log" if n == 1 else f"run-{stamp}-{n}.log")
        with contextlib.suppress(FileExistsError):  # another process took it meanwhile
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            break
    link = logs / f".{LATEST}.{os.getpid()}"
    link.unlink(missing_ok=True)
    link.symlink_to(path.name)
    os.replace(link, logs / LATEST)
    for old in sorted(logs.glob("run-*.log"), key=_mtime)[:-KEEP_LOGS]:
        old.unlink(missing_ok=True)
    return path


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # pruned meanwhile by a run starting in another process
        return 0.0


@contextlib.contextmanager
def output_to(log_path: Path) -> Iterator[TextIO]:
    """File descriptors 1 and 2 append to ``log_path``; yields a stream on the terminal."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    terminal = os.fdopen(
        os.dup(saved_out), "w", buffering=1, encoding=sys.stdout.encoding, errors="replace"
    )
    try:
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        yield terminal
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        for fd in (saved_out, saved_err, log_fd):
            os.close(fd)
        terminal.close()


# ---------------------------------------------------------------------------- run progress


@dataclass
class Step:
    assets: list = field(default_factory=list)  # planned asset keys
    checks: list[str] = field(default_factory=list)  # planned check names
    started: float | None = None
    ended: float | None = None
    failed: bool = False
    error: object = None  # SerializableErrorInfo of a failed step


@dataclass
class Phase:
    index: int
    materialized: set = field(default_factory=set)  # asset keys
    passed: int = 0
    warned: list = field(default_factory=list)  # check evaluations (WARN)
    failed: list = field(default_factory=list)  # check evaluations (ERROR)
    facts: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return PHASE_NAMES[self.index]


class RunProgress:
    """The state of one run, built from its event records (in their storage order)."""

    def __init__(self) -> None:
        self.steps: dict[str, Step] = {}
        self.phases = [Phase(i) for i in range(len(PHASE_NAMES))]
        self.printed = 0  # phases whose lines were printed, in order

    # ------------------------------------------------------------------ events in

    def handle(self, record) -> None:
        entry = record.event_log_entry
        event = entry.dagster_event
        if event is None:
            return
        kind, data, at = event.event_type_value, event.event_specific_data, entry.timestamp
        step = self.steps.setdefault(event.step_key, Step()) if event.step_key else None
        if kind == "ASSET_MATERIALIZATION_PLANNED":
            step.assets.append(data.asset_key)
        elif kind == "ASSET_CHECK_EVALUATION_PLANNED":
            step.checks.append(data.check_name)
        elif kind == "STEP_START":
            step.started = at
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            step.ended = at
            step.failed = kind == "STEP_FAILURE"
            step.error = data.error if step.failed else None
        elif kind == "ASSET_MATERIALIZATION":
            self._materialized(event.step_key, data.materialization)
        elif kind == "ASSET_CHECK_EVALUATION":
            phase = self.phase_of(event.step_key)
            if data.passed:
                phase.passed += 1
            elif data.severity == dg.AssetCheckSeverity.ERROR:
                phase.failed.append(data)
            else:
                phase.warned.append(data)

    def _materialized(self, step_key: str, materialization) -> None:
        phase = self.phase_of(step_key)
        if materialization.partition is None:
            phase.materialized.add(materialization.asset_key)
        meta = {k: v.value for k, v in materialization.metadata.items()}
        facts = phase.facts
        if phase.index == INGEST and "files_loaded" in meta:
            for name in ("files_loaded", "rows_loaded", "rows_quarantined"):
                facts[name] = facts.get(name, 0) + (meta.get(name) or 0)
            rejected = meta.get("rejected_files")
            for row in getattr(rejected, "records", None) or []:
                facts.setdefault("rejected", {})[row.data["file"]] = row.data["reason"]
        if phase.index == PUBLISH and isinstance(meta.get("rows"), dict):
            facts["marts"] = len(meta["rows"])
            facts["rows"] = sum(meta["rows"].values())
        if "segmart/incremental" in meta:
            facts["incremental"] = str(meta["segmart/incremental"])

    def phase_of(self, step_key: str) -> Phase:
        step = self.steps.get(step_key) or Step()
        if step.assets:
            if any(key.path[0] == "serving" for key in step.assets):
                index = PUBLISH
            elif step_key == INGEST_STEP:
                index = INGEST
            else:
                index = MODELS
        elif step.checks:
            raw = all(name.startswith(RAW_CHECKS) for name in step.checks)
            index = RAW if raw else MARTS
        else:
            index = MODELS
        return self.phases[index]

    # ------------------------------------------------------------------ lines out

    def _steps_of(self, phase: Phase) -> list[Step]:
        return [s for key, s in self.steps.items() if self.phase_of(key) is phase]

    def finished(self, phase: Phase) -> bool:
        steps = self._steps_of(phase)
        return bool(steps) and all(s.ended is not None for s in steps)

    def ready_lines(self, run_over: bool = False) -> list[str]:
        """Lines of the phases not printed yet that are finished (all of them once over)."""
        out = []
        started = any(s.started for s in self.steps.values())
        while self.printed < len(self.phases):
            phase = self.phases[self.printed]
            steps = self._steps_of(phase)
            later_started = any(
                s.started for p in self.phases[self.printed + 1 :] for s in self._steps_of(p)
            )
            if not (run_over or self.finished(phase) or (not steps and started and later_started)):
                break
            out.extend(self.phase_lines(phase))
            self.printed += 1
        return out

    def phase_lines(self, phase: Phase) -> list[str]:
        steps = self._steps_of(phase)
        ended = [s for s in steps if s.ended is not None]
        if not steps:
            return [f"  – {phase.name:<13} none in this run"]
        failed = phase.failed or any(s.failed for s in steps)
        mark = "✗" if failed else ("✓" if len(ended) == len(steps) else "–")
        if not ended:
            detail = "not run (stopped by the failure above)"
        else:
            detail = _phase_detail(phase, steps)
        if ended and len(ended) < len(steps):
            detail += f"; {len(steps) - len(ended)} of {len(steps)} steps not run"
        begun = [s.started for s in steps if s.started]
        took = f"  {_seconds(max(s.ended for s in ended) - min(begun))}" if ended and begun else ""
        lines = [_clip(f"  {mark} {phase.name:<13} {detail}{took}")]
        for file, reason in list(phase.facts.get("rejected", {}).items())[:MAX_KEYS_SHOWN]:
            lines.append(_clip(f"      rejected {file}: {reason}"))
        extra = len(phase.facts.get("rejected", {})) - MAX_KEYS_SHOWN
        if extra > 0:
            lines.append(f"      … and {extra} more rejected file(s): see rejected/*.reason.txt")
        if phase.warned:
            names = [w.check_name for w in phase.warned]
            shown = ", ".join(names[:MAX_KEYS_SHOWN]) + (", …" if len(names) > 3 else "")
            lines.append(_clip(f"      warnings, not blocking ({len(names)} checks): {shown}"))
        return lines

    def activity(self) -> str:
        """The running phase and its count so far (the terminal's status line)."""
        for phase in self.phases:
            steps = self._steps_of(phase)
            if steps and not self.finished(phase) and any(s.started for s in steps):
                done = sum(1 for s in steps if s.ended is not None)
                detail = "reading the landing folder" if phase.index == INGEST else None
                detail = detail or _phase_detail(phase, steps)
                return f"  … {phase.name:<13} {detail} ({done}/{len(steps)} steps)"
        return ""


def _phase_detail(phase: Phase, steps: list[Step]) -> str:
    facts = phase.facts
    checks = f"{phase.passed} passed"
    if phase.warned:
        checks += f", {len(phase.warned)} with warnings"
    if phase.failed:
        checks += f", {len(phase.failed)} failed"
    if phase.index == INGEST:
        if not facts:
            return "failed" if any(s.failed for s in steps) else "nothing loaded"
        files = facts.get("files_loaded", 0)
        if not files and not facts.get("rejected"):
            return "no new files"
        text = (
            f"{files} new file{'' if files == 1 else 's'} loaded: "
            f"{facts.get('rows_loaded', 0):,} rows, {facts.get('rows_quarantined', 0):,} quarantined"
        )
        if facts.get("rejected"):
            text += f", {len(facts['rejected'])} file(s) rejected"
        return text
    if phase.index in (RAW, MARTS):
        return checks
    if phase.index == MODELS:
        text = f"{len(phase.materialized)} models built, dbt tests: {checks}"
        if facts.get("incremental"):
            text += f"; incremental models: {facts['incremental']}"
        return text
    if "marts" in facts:
        return f"{facts['marts']} marts published ({facts['rows']:,} rows)"
    return "not published"


def _check_label(evaluation) -> str:
    return f"{evaluation.check_name} on {evaluation.asset_key.to_user_string()}"


def _seconds(value: float) -> str:
    return f"{value:.1f}s" if value < 120 else f"{value / 60:.1f}min"


def _clip(line: str) -> str:
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"


class Poller:
    """Reads a run's new event records every :data:`POLL_SECONDS` in a thread of its own (its
    own instance object), feeds :class:`RunProgress` and prints each finished phase's lines;
    on a terminal, a status line shows the phase at work."""

    def __init__(self, run_id: str, progress: RunProgress, terminal: TextIO, live: bool = True):
        self.run_id, self.progress, self.terminal = run_id, progress, terminal
        self.live = live
        self.status = live and terminal.isatty()
        self.cursor: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="segmart-progress", daemon=True)
        self._shown = ""

    def __enter__(self) -> Poller:
        if self.live:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self.live:
            self._thread.join()

    def _loop(self) -> None:
        with dg.DagsterInstance.get() as instance:
            while not self._stop.wait(POLL_SECONDS):
                try:
                    self.poll(instance)
                except Exception as exc:  # noqa: BLE001 - the display must never fail the run
                    logging.getLogger(__name__).debug("progress poll failed: %s", exc)

    def poll(self, instance: dg.DagsterInstance, run_over: bool = False) -> None:
        while True:
            page = instance.get_records_for_run(self.run_id, cursor=self.cursor, limit=2000)
            for record in page.records:
                self.progress.handle(record)
            self.cursor = page.cursor or self.cursor
            if not page.has_more:
                break
        self.echo(self.progress.ready_lines(run_over))
        if self.status and not run_over:
            self._status(self.progress.activity())

    def echo(self, lines: list[str]) -> None:
        if not lines:
            return
        self._status("")
        self.terminal.write("".join(f"{line}\n" for line in lines))
        self.terminal.flush()

    def _status(self, text: str) -> None:
        if not self.status or text == self._shown:
            return
        self.terminal.write("\r\033[K" + text[:MAX_LINE])
        self.terminal.flush()
        self._shown = text

    def finish(self, instance: dg.DagsterInstance) -> None:
        """After the run: read what is left and print every phase not printed yet."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.poll(instance, run_over=True)
        self._status("")


# ---------------------------------------------------------------------------- failures


def explain_failures(progress: RunProgress, log_path: Path | None) -> list[str]:
    """Lines saying which blocking checks failed and why, the failed steps' causes, and
    where to look (real paths: the run log, each check's Data Docs page)."""
    lines = []
    failed_checks = [e for p in progress.phases for e in p.failed]
    for evaluation in failed_checks[:MAX_CHECKS_EXPLAINED]:
        lines += _explain_check(evaluation)
    if len(failed_checks) > MAX_CHECKS_EXPLAINED:
        lines.append(f"  … and {len(failed_checks) - MAX_CHECKS_EXPLAINED} more failed checks")
    for key, step in progress.steps.items():
        error = step.error
        if step.failed and error is not None and error.cls_name != "DagsterAssetCheckFailedError":
            dbt, cause = _dbt_errors(error), explain(error)
            if dbt and DBT_ERROR_CLASS in cause:  # no known cause: what dbt said instead
                cause = "dbt build failed:"
            lines.append(_clip(f"  {key}: {cause}"))
            lines += [_clip(f"      {line}") for line in dbt]
    if log_path is not None:
        lines.append(f"Log: {log_path}")
    return lines


def _dbt_errors(error) -> list[str]:
    """The dbt nodes that failed and why, from the "Errors parsed from dbt logs" part of
    dagster-dbt's error (shown as it is; nothing when the error has no such part)."""
    while error is not None and DBT_ERRORS not in (error.message or ""):
        error = error.cause or error.context
    if error is None:
        return []
    text = ANSI.sub("", error.message.split(DBT_ERRORS, 1)[1])
    found = [line.strip() for line in text.splitlines() if line.strip()]
    kept = [line for line in found if not line.startswith(("Done.", "Finished running"))]
    return kept[:MAX_DBT_ERROR_LINES]


def _explain_check(evaluation) -> list[str]:
    meta = {k: v.value for k, v in evaluation.metadata.items()}
    head = f"  ✗ {_check_label(evaluation)}"
    if evaluation.description:
        head += f": {evaluation.description}"
    lines = [_clip(head)]
    if isinstance(meta.get("results"), list):  # a GX suite (pipelines/quality/checks.py)
        lines += _explain_suite(meta)
    elif "equation" in meta:  # a reconciliation (pipelines/quality/reconcile.py)
        lines += _explain_reconciliation(meta)
    elif "status" in meta:  # a dbt test
        failing = meta.get("dagster_dbt/failed_row_count")
        lines.append(f"      dbt test status {meta['status']}; failing rows: {failing}")
        if meta.get("unique_id"):
            lines.append(f"      test: {meta['unique_id']} (SQL in the log)")
            lines += column_rules_failures(str(meta["unique_id"]))
    elif "error" in meta:
        lines.append(_clip(f"      {meta['error']}"))
    docs = meta.get("data_docs")
    if docs:
        lines.append(f"      Data Docs: {docs}")
    return lines


def column_rules_failures(
    unique_id: str, warehouse: Path | None = None, targets: Path | None = None
) -> list[str]:
    """The broken columns and rules of a failed ``column_rules`` test (one line each).

    dbt reports a failed test's number of bad rows only. The folded test
    (dbt_project/macros/tests/column_rules.sql) returns one row per broken column and rule, so
    its compiled SQL - the newest ``<targets>/*/compiled/**/<test>.sql``, dbt's target
    directories of the home (``{home}/state/dbt_target``) - is run once more, read-only, on the
    warehouse, only for a test that failed. Sample values are shown for ``accepted_values``
    (values outside a documented list); never for ``not_null`` / ``unique``, whose columns can
    be identifiers or personal data. Nothing (no line) when the SQL or the warehouse is not
    there or the query fails: the explanation never fails the report."""
    parts = unique_id.split(".")
    if len(parts) < 3 or parts[0] != "test" or not parts[2].startswith("column_rules"):
        return []
    try:
        paths = home_paths() if warehouse is None or targets is None else None
        warehouse = warehouse or paths.warehouse
        targets = targets or paths.state / "dbt_target"
        compiled = [p for p in targets.glob(f"**/compiled/**/{parts[2]}.sql") if p.is_file()]
        if not compiled or not warehouse.exists():
            return []
        sql = max(compiled, key=_mtime).read_text()
        with duckdb.connect(str(warehouse), read_only=True) as con:
            rows = con.execute(
                "select column_name, rule, failing_rows, sample_min, sample_max "
                f"from ({sql}) as failures order by failing_rows desc, column_name, rule"
            ).fetchall()
    except Exception:  # a report: never let the explanation fail
        return []
    lines = []
    for column, rule, bad_rows, low, high in rows[:MAX_EXPECTATIONS_EXPLAINED]:
        line = f"      {column}: {rule}, {bad_rows:,} rows"
        if rule == "accepted_values" and low is not None:
            line += f" (values outside the list: {_short(low, 30)}"
            line += f" … {_short(high, 30)})" if high != low else ")"
        lines.append(_clip(line))
    if len(rows) > MAX_EXPECTATIONS_EXPLAINED:
        lines.append(f"      … and {len(rows) - MAX_EXPECTATIONS_EXPLAINED} more broken rules")
    return lines


def _explain_suite(meta: dict) -> list[str]:
    lines = []
    suite_name = str(meta.get("suite") or "")
    notes: dict[str, tuple[str, dict]] = {}
    if "__" in suite_name:
        layer, entity = suite_name.split("__", 1)
        with contextlib.suppress(FileNotFoundError, ValueError):
            for exp in load_suite(layer, entity).expectations:
                notes[exp.label] = (str(exp.meta.get("notes") or ""), exp.kwargs)
    failed = [r for r in meta["results"] if not r.get("success") and r.get("severity") == "error"]
    for result in failed[:MAX_EXPECTATIONS_EXPLAINED]:
        label = result.get("expectation")
        note, kwargs = notes.get(label, ("", {}))
        lines.append(_clip(f"      expectation: {label} [error]"))
        expected = "; ".join(x for x in (note, _kwargs_text(kwargs)) if x)
        if expected:
            lines.append(_clip(f"        expected: {expected}"))
        if result.get("exception"):
            lines.append(_clip(f"        could not evaluate: {result['exception']}"))
        observed = []
        if result.get("unexpected_count") is not None:
            total = result.get("element_count")
            observed.append(
                f"{result['unexpected_count']:,} unexpected"
                + (f" of {total:,} values" if total is not None else "")
            )
        if result.get("observed_value") is not None:
            observed.append(f"observed value {_short(result['observed_value'])}")
        where = f" ({result['evaluated_on']})" if result.get("evaluated_on") else ""
        if observed or where:
            lines.append(_clip(f"        observed: {', '.join(observed) or '—'}{where}"))
        keys = result.get("failing_keys_sample") or []
        if keys:
            lines.append(_clip(f"        sample keys: {_keys_text(keys)}"))
    if len(failed) > MAX_EXPECTATIONS_EXPLAINED:
        lines.append(f"      … and {len(failed) - MAX_EXPECTATIONS_EXPLAINED} more expectations")
    return lines


def _explain_reconciliation(meta: dict) -> list[str]:
    """The rule and the failing keys (the check's description, above, has the numbers)."""
    unit = f" {meta['unit']}" if meta.get("unit") else ""
    tolerance = f" (tolerance ±{meta['tolerance']}{unit})" if meta.get("tolerance") else ""
    lines = [_clip(f"      expected: {meta['equation']}{tolerance}")]
    if meta.get("failing_keys_sample"):
        lines.append(_clip(f"      sample keys: {_keys_text(meta['failing_keys_sample'])}"))
    return lines


def _kwargs_text(kwargs: dict) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in kwargs.items() if k != "result_format")


def _keys_text(keys: list) -> str:
    def one(key) -> str:
        if isinstance(key, dict):
            return "{" + ", ".join(f"{k}={_short(v)}" for k, v in key.items()) + "}"
        return _short(key)

    text = "; ".join(one(k) for k in keys[:MAX_KEYS_SHOWN])
    return text + (f"; … {len(keys) - MAX_KEYS_SHOWN} more" if len(keys) > MAX_KEYS_SHOWN else "")


def _short(value, limit: int = 80) -> str:
    if isinstance(value, float):
        text = f"{value:,.6g}" if abs(value) < 1e15 else repr(value)
    elif isinstance(value, dict) and set(value) == {"$PARAMETER"}:
        text = f"<{value['$PARAMETER']}>"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"

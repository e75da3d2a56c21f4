"""What the commands that run an audit (check, baseline, hook) share: their options as given,
and turning those and the config file into a :class:`~linter.plan.RunPlan`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from linter.commands import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, UsageError
from linter.config import Config, ConfigError, find_config, read_config
from linter.conventions import BUILTIN, Convention, load_convention
from linter.findings import Severity
from linter.plan import DEFAULT_SIDECAR_BUDGET, EXECUTORS, RunPlan, S3Settings, SchemaSettings
from linter.registry import Rule, load_rules, parse_codes, select_rules
from linter.reports import formats

if TYPE_CHECKING:
    from linter.audit import Outcome
    from linter.store.db import Ledger

FAIL_ON = ("error", "warning", "info", "never")
MAX_TIMEOUT = 7 * 24 * 3600
MAX_JOBS = 512


def check_formats() -> tuple[str, ...]:
    """The choices of ``--format`` and ``--output FORMAT:FILE``: the report formats built in and
    those of installed plugins (``linter.reports.formats``)."""
    return formats.choices()


@dataclass(frozen=True)
class AuditOptions:
    """The options of an audit as given on the command line (None: not given, take the config's)."""

    select: str | None = None
    ignore: str | None = None
    convention: str | None = None
    config: str | None = None
    jobs: int | None = None
    executor: str | None = None
    dask_scheduler: str | None = None
    quiet: bool = False
    ledger: str | None = None
    destination: str | None = None
    timeout: float | None = None
    allow_empty: bool | None = None
    sidecar_budget: int | None = None
    inventory: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    no_sign_request: bool = False
    offline: bool | None = None
    schema_cache: str | None = None
    no_cache: bool = False
    # how to report and fail (check and hook only)
    format: str | None = None
    output: str | None = None
    baseline: str | None = None
    fail_on: str | None = None
    # every report of the run: ``--output FORMAT:PATH`` (and a plain ``--output PATH``), in order
    outputs: tuple[str, ...] = ()
    fail_on_new: bool = False
    statistics: bool = False
    color: str | None = None


@dataclass(frozen=True)
class ReportSpec:
    """One report of the run: its format and its file (None: standard output)."""

    format: str
    path: str | None


def parse_output(value: str, default_format: str) -> ReportSpec:
    """``FORMAT:PATH`` (``-`` for standard output) or a plain ``PATH`` in ``default_format``."""
    fmt, sep, path = value.partition(":")
    names = check_formats()
    if sep and fmt in names:
        if not path:
            raise UsageError(f"--output {value!r}: give a file after {fmt}: (or - for standard output)")
        return ReportSpec(fmt, None if path == "-" else path)
    if sep and fmt.isalpha() and len(fmt) > 1 and not path.startswith(("/", "\\")):
        raise UsageError(f"--output {value!r}: unknown format {fmt!r} (choose from {', '.join(names)})")
    return ReportSpec(default_format, None if value == "-" else value)


def report_specs(given: AuditOptions, config: Config) -> list[ReportSpec]:
    """The run's reports. ``--format F`` picks the format of standard output and of a plain
    ``--output PATH``; ``--output FORMAT:PATH`` adds a report each. Without any ``--output`` the
    one report goes to standard output; with only ``FORMAT:PATH`` ones, standard output gets a
    report only when ``--format`` is given."""
    fmt = given.format or config.get("format", "text")
    names = check_formats()
    if fmt not in names:
        raise UsageError(f"unknown format {fmt!r} (choose from {', '.join(names)})")
    values = list(given.outputs) or ([given.output] if given.output else [])
    specs = [parse_output(v, fmt) for v in values]
    plain = any(":" not in v or v.partition(":")[0] not in names for v in values)
    if not specs or (given.format and not plain and all(s.path is not None for s in specs)):
        specs.insert(0, ReportSpec(fmt, None))
    seen: dict[str | None, str] = {}
    for spec in specs:
        key = None if spec.path is None else str(Path(spec.path).resolve())
        if key in seen:
            where = "standard output" if spec.path is None else spec.path
            raise UsageError(f"two reports ({seen[key]} and {spec.format}) would both be written to {where}")
        seen[key] = spec.format
    return specs


def load_config(given: AuditOptions) -> Config:
    if given.config:
        path = Path(given.config)
        if not path.is_file():
            raise ConfigError(f"{given.config}: config file not found")
        return read_config(path)
    return find_config(Path.cwd())


def enabled_rules(given: AuditOptions, config: Config) -> dict[str, Rule]:
    select = parse_codes(given.select) if given.select is not None else parse_codes(config.get("select"))
    ignore = parse_codes(given.ignore) if given.ignore is not None else parse_codes(config.get("ignore"))
    try:
        return select_rules(load_rules(), select, ignore)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def convention_name(given: AuditOptions, config: Config) -> str:
    if given.convention:
        return given.convention
    value = config.get("convention")
    if value is None:
        return "aind-open-data"
    return value if value in BUILTIN else config.resolve_path(value)


def load_run_convention(given: AuditOptions, config: Config) -> Convention:
    return load_convention(convention_name(given, config))


def ledger_path(given: AuditOptions, config: Config) -> str | None:
    """``--ledger``, or the config's ``ledger`` (relative to the config file)."""
    if given.ledger:
        return given.ledger
    return config.resolve_path(config.get("ledger")) if config.get("ledger") else None


def config_schema_cache(config: Config) -> str | None:
    """The config's ``schema-cache`` (relative to the config file), if it names one."""
    value = config.get("schema-cache")
    return config.resolve_path(value) if value else None


def schema_settings(given: AuditOptions, config: Config) -> SchemaSettings:
    """The run's schema cache and offline mode: the options, else the environment or the config
    (:meth:`SchemaSettings.resolve` says in which order), decided here once for every worker."""
    return SchemaSettings.resolve(
        given.schema_cache,
        given.offline,
        config_cache=config_schema_cache(config),
        config_offline=config.get("offline"),
        no_cache=True if given.no_cache else None,
    )


def build_plan(targets: list[str], given: AuditOptions, config: Config, convention: Convention) -> RunPlan:
    """The run plan from the options as given, the config file and the convention."""
    rules = enabled_rules(given, config)
    known = load_rules()
    for where, overrides in (
        (f"{convention.source} severity", convention.data.get("severity", {})),
        (f"{config.path or 'config'} severity", config.get("severity", {})),
    ):
        unknown = sorted(set(overrides) - set(known))
        if unknown:  # a typo would otherwise leave the rule at its default severity, silently
            raise UsageError(
                f"{where}: unknown rule code{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                "(see `aind-bucket-lint rules`)"
            )
    severities = {**convention.severity_overrides}
    severities.update({c: Severity.parse(s) for c, s in config.get("severity", {}).items()})
    remote = any(t.startswith("s3://") for t in targets)
    jobs = given.jobs if given.jobs is not None else config.get("jobs", 32 if remote else 8)
    if not 1 <= jobs <= MAX_JOBS:
        raise UsageError(f"--jobs must be 1 to {MAX_JOBS}")
    if given.destination is not None and not given.destination.startswith("s3://"):
        raise UsageError(f"--destination {given.destination!r}: give an s3://BUCKET[/PREFIX] URL")
    if given.inventory is not None and not all(t.startswith("s3://") for t in targets):
        raise UsageError("--inventory gives the listing of an S3 bucket: use it with s3:// targets only")
    scheduler = given.dask_scheduler or config.get("dask-scheduler") or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    executor = given.executor or config.get("executor", "auto")
    if executor not in EXECUTORS:
        raise UsageError(f"unknown executor {executor!r} (choose from {', '.join(EXECUTORS)})")
    if given.dask_scheduler and given.executor not in (None, "auto", "dask"):
        raise UsageError(f"--dask-scheduler runs on a Dask cluster: it cannot go with --executor {executor}")
    timeout = given.timeout if given.timeout is not None else config.get("timeout")
    if timeout is not None and not 0 < timeout <= MAX_TIMEOUT:
        raise UsageError(f"--timeout must be more than 0 and at most {MAX_TIMEOUT} seconds (7 days)")
    budget = given.sidecar_budget if given.sidecar_budget is not None else config.get("sidecar-budget")
    if budget is not None and not 1 <= budget <= 65536:
        raise UsageError("--sidecar-budget must be 1 to 65536 MiB")
    defaults = S3Settings()
    s3 = S3Settings(
        endpoint_url=given.endpoint_url,
        region=given.region,
        profile=given.profile,
        no_sign_request=given.no_sign_request,
        connect_timeout=float(config.get("s3-connect-timeout", defaults.connect_timeout)),
        read_timeout=float(config.get("s3-read-timeout", defaults.read_timeout)),
        max_attempts=int(config.get("s3-max-attempts", defaults.max_attempts)),
    )
    return RunPlan(
        convention=convention,
        rules=rules,
        severities=severities,
        jobs=jobs,
        executor=executor,
        dask_scheduler=scheduler if executor in ("auto", "dask") else None,
        s3=s3,
        inventory=given.inventory,
        destination=given.destination,
        ledger=ledger_path(given, config),
        timeout=float(timeout) if timeout is not None else None,
        allow_empty=bool(given.allow_empty if given.allow_empty is not None else config.get("allow-empty", False)),
        sidecar_budget=budget * 1024 * 1024 if budget is not None else DEFAULT_SIDECAR_BUDGET,
        schemas=schema_settings(given, config),
    )


def open_ledger(plan: RunPlan) -> Ledger | None:
    """The plan's ledger, opened for this run (the caller closes it)."""
    if not plan.ledger:
        return None
    from linter.store.db import Ledger
    from linter.store.errors import LedgerError

    try:
        return Ledger(plan.ledger)
    except LedgerError as exc:
        raise UsageError(str(exc)) from None


def exit_code(outcome: Outcome, fail_on: str, only_new: bool = False) -> int:
    """2 when the audit could not do its whole job, 1 when a finding at or above ``fail_on`` was
    reported (``only_new``: a new one, as ``--fail-on-new``), else 0."""
    if not outcome.complete:
        return EXIT_ERROR
    return EXIT_FINDINGS if outcome.fails(fail_on, only_new) else EXIT_OK

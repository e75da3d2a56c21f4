"""The run plan: everything one run was asked to do, decided once, typed and frozen.

The command line (or any caller) builds a :class:`RunPlan`; the engine, the sources and the
executors read it and never the command line. It sits below all of them (it imports only
findings, conventions and the registry), so none of them needs to import another to learn an
option, and it pickles, so the same plan reaches a worker thread, a worker process or a Dask
worker unchanged.

To add an option: add a typed field (with a default that keeps today's behaviour) to the
dataclass that owns it here (:class:`S3Settings` for how S3 is reached, :class:`SchemaSettings`
for the schema releases' environments, :class:`RunPlan` for the rest), fill it in
``linter.commands.common.build_plan`` from the command line and config, and read it where it is
needed (a source takes the settings it needs as arguments, not the plan; so does validation).
Nothing a worker needs may travel any other way: a worker process or a Dask worker on another
machine has an environment of its own, never the driver's.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from linter.conventions import Convention
from linter.findings import Finding, Severity, Violation
from linter.registry import RULE_CRASHED, UNREADABLE, Rule, load_rules

DEFAULT_SIDECAR_BUDGET = 64 * 1024 * 1024

ExecutorKind = Literal["auto", "threads", "processes", "dask"]
EXECUTORS: tuple[ExecutorKind, ...] = ("auto", "threads", "processes", "dask")


@dataclass(frozen=True)
class S3Settings:
    """How to reach S3: the command line's ``--endpoint-url``, ``--region``, ``--profile``,
    ``--no-sign-request``. Credentials come from boto3's usual chain (environment, profile,
    instance or container role, SSO)."""

    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    no_sign_request: bool = False
    retry_mode: str = "adaptive"
    max_attempts: int = 4
    """Attempts per request, the first included (botocore's retries; S3 answers in tens of ms, so
    four attempts ride out a throttling burst without letting one stalled request hold a worker
    for minutes: at most 4 x (connect + read timeout))."""
    connect_timeout: float = 5.0
    """Seconds to wait for a connection to S3, per attempt."""
    read_timeout: float = 20.0
    """Seconds to wait for an answer on an open connection, per attempt."""
    page_size: int = 1000
    """MaxKeys of each listing request (S3 never returns more than 1,000)."""


CACHE_ENV = "AIND_BUCKET_LINT_CACHE"
OFFLINE_ENV = "AIND_BUCKET_LINT_OFFLINE"
NO_CACHE_ENV = "AIND_BUCKET_LINT_NO_CACHE"
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class SchemaSettings:
    """Where the environments of aind-data-schema releases are kept and whether one may be
    downloaded (``--schema-cache``, ``--offline``): decided once, in the driver, and handed to
    the validation (``linter.validation``) by whoever checks an asset, in whichever process or
    machine that is. A worker never reads them from its own environment."""

    cache: Path
    """The cache folder (absolute): ``envs/<release>/``, uv's cache ``uv/`` and the verdict
    cache ``verdicts/``."""
    offline: bool = False
    """Never download: a release not prepared in ``cache`` is not validated (M204)."""
    verdicts: bool = True
    """Keep the releases' verdicts in ``cache``/verdicts and reuse them (``--no-cache``: False;
    see ``linter.validation.verdict_cache``)."""

    @classmethod
    def resolve(
        cls,
        cache: str | os.PathLike[str] | None = None,
        offline: bool | None = None,
        *,
        config_cache: str | None = None,
        config_offline: bool | None = None,
        environ: Mapping[str, str] | None = None,
        no_cache: bool | None = None,
    ) -> SchemaSettings:
        """The settings from what was given, in this order. The cache folder: ``cache``
        (``--schema-cache``), else ``$AIND_BUCKET_LINT_CACHE``, else ``config_cache`` (the config's
        ``schema-cache``), else ``$XDG_CACHE_HOME/aind-bucket-lint`` (``~/.cache/aind-bucket-lint``).
        Offline: ``offline`` (``--offline``), else ``config_offline``, else
        ``$AIND_BUCKET_LINT_OFFLINE``, else False. The verdict cache is used unless ``no_cache``
        (``--no-cache``), else ``$AIND_BUCKET_LINT_NO_CACHE``, says not. ``environ``: default
        ``os.environ``."""
        env = os.environ if environ is None else environ
        folder = cache or env.get(CACHE_ENV) or config_cache
        if not folder:
            folder = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aind-bucket-lint"
        if offline is None:
            offline = config_offline
        if offline is None:
            offline = env.get(OFFLINE_ENV, "").strip().lower() in _TRUE
        if no_cache is None:
            no_cache = env.get(NO_CACHE_ENV, "").strip().lower() in _TRUE
        return cls(Path(os.path.abspath(Path(folder).expanduser())), bool(offline), not no_cache)


@dataclass(frozen=True)
class RunPlan:
    """One run: the convention, the enabled rules and their severities, how to reach the data,
    where the ledger is, and how the work is spread."""

    convention: Convention
    rules: Mapping[str, Rule]
    """The enabled rules by code, in code order."""
    severities: Mapping[str, Severity] = field(default_factory=dict)
    """Severity overrides by rule code (convention first, then config)."""
    jobs: int = 8
    """Assets checked at the same time."""
    executor: ExecutorKind = "auto"
    """Where assets are checked (``linter.executors``): ``auto`` picks threads, or worker
    processes for a validation-heavy target of many assets, or Dask with ``dask_scheduler``."""
    dask_scheduler: str | None = None
    """``--dask-scheduler ADDRESS`` (or DASK_SCHEDULER_ADDRESS): an existing Dask cluster's scheduler."""
    s3: S3Settings = field(default_factory=S3Settings)
    inventory: str | None = None
    """``--inventory``: an S3 Inventory manifest to take the S3 listing from."""
    destination: str | None = None
    """``--destination s3://BUCKET[/PREFIX]``: where the target's assets will be published (I405)."""
    ledger: str | None = None
    """``--ledger``: the SQLite ledger's path. The driver opens it; workers never touch it."""
    timeout: float | None = None
    """``--timeout``: seconds the whole audit may take; then the report is written with every
    asset not finished reported (E901) and the run is incomplete (exit 2). None: no limit."""
    allow_empty: bool = False
    """``--allow-empty``: a target with no assets is fine (a staging prefix between uploads),
    instead of an error (a typo in the target must never pass as a clean audit)."""
    sidecar_budget: int = DEFAULT_SIDECAR_BUDGET
    """Bytes of sidecars that may be parsed and validated at the same time, whatever ``jobs``
    is (validation holds about 20 times a file's size in memory); an asset whose sidecars are
    larger than the whole budget waits until it can run alone."""
    record_judged: bool = False
    """Each asset's result carries what its content rules judged that no finding says
    (:attr:`~linter.findings.AssetResult.judged`): a report asked for it (``status``)."""
    schemas: SchemaSettings = field(default_factory=SchemaSettings.resolve)
    """``--schema-cache`` and ``--offline``: where the releases' environments are and whether one
    may be downloaded, resolved when the plan is made (the default: from this process's
    environment, :meth:`SchemaSettings.resolve`); every executor's workers validate with these."""

    @property
    def wants_versions(self) -> bool:
        """Whether any enabled rule needs every version and delete marker of each asset."""
        return any(r.needs_versions for r in self.rules.values())

    def severity(self, rule: Rule, violation: Violation) -> Severity:
        return self.severities.get(rule.code, violation.severity or rule.severity)

    def finding(self, rule: Rule, violation: Violation, asset: str | None) -> Finding:
        """What ``rule`` said, as this run reports it (its severity after the overrides)."""
        v = violation
        return Finding(rule.code, rule.name, self.severity(rule, v), asset, v.path, v.message, dict(v.details))

    def engine_finding(
        self, code: str, asset: str | None, path: str | None, message: str, **details: Any
    ) -> Finding | None:
        """The engine's own finding ``code`` (E9xx), or None when the selection turned it off.
        E901 (something could not be read) and E902 (a rule crashed) are always said, whatever
        --select/--ignore chose: an unread part or an unfinished rule must never look like a
        clean pass."""
        rule = self.rules.get(code)
        if rule is None and code in (UNREADABLE, RULE_CRASHED):
            rule = load_rules()[code]
        if rule is None:
            return None
        return self.finding(rule, Violation(message, path, details), asset)

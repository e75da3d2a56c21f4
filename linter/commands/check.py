"""``aind-bucket-lint check TARGET...``: audit targets and report the findings."""

from __future__ import annotations

import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace

from linter.audit import Audit, IncompleteAudit
from linter.baseline import Baseline
from linter.commands import UsageError
from linter.commands.common import (
    AuditOptions,
    ReportSpec,
    build_plan,
    exit_code,
    load_config,
    load_run_convention,
    open_ledger,
    report_specs,
)
from linter.config import Config, ConfigError
from linter.ignores import AssetIgnores, IgnoreError
from linter.plan import RunPlan
from linter.registry import load_rules
from linter.reports import Reporter, ReportOptions, Tee, get_reporter
from linter.reports.formats import reporter_class
from linter.reports.outputs import Outputs
from linter.terminal import use_color


def load_baseline(given: AuditOptions, config: Config) -> Baseline | None:
    """``--baseline FILE``, else the config's ``baseline`` (relative to the config file)."""
    path = given.baseline or (config.resolve_path(config.get("baseline")) if config.get("baseline") else None)
    return Baseline.load(path) if path else None


def run(
    targets: Sequence[str],
    given: AuditOptions,
    *,
    only: Mapping[str, Collection[str]] | None = None,
    report_options: ReportOptions | None = None,
) -> int:
    """``only``: per target, the entries to check (the hook); ``report_options``: how to report,
    beyond what the options and the config say (the hook's ``relocate``, no overview)."""
    config = load_config(given)
    convention = load_run_convention(given, config)
    plan = build_plan(list(targets), given, config, convention)
    fail_on = given.fail_on or config.get("fail-on", "error")
    specs = report_specs(given, config)
    if given.statistics:  # per-rule counts on standard output instead of its report
        specs = [s for s in specs if s.path is not None]
        specs.insert(0, ReportSpec("statistics", None))
    if any(getattr(reporter_class(s.format), "records_judged", False) for s in specs):
        plan = replace(plan, record_judged=True)  # the status report: what no finding says of a valid file
    if given.fail_on_new and not plan.ledger:
        raise UsageError("--fail-on-new needs --ledger: new findings are new against the ledger's last audit")
    ignores = per_asset_ignores(config, plan)
    baseline = load_baseline(given, config)
    ledger = open_ledger(plan)
    outputs = Outputs()
    try:
        reporters: list[Reporter] = []
        for spec in specs:
            out = outputs.open(spec.path)
            options = replace(
                report_options or ReportOptions(),
                fail_on=fail_on,
                convention=convention,
                baseline=baseline is not None,
                color=spec.format in ("text", "statistics") and use_color(out, given.color),
            )
            reporters.append(get_reporter(spec.format, out, options))
        reporter = reporters[0] if len(reporters) == 1 else Tee(reporters)
        outcome = Audit(
            plan,
            reporter,
            ledger=ledger,
            quiet=given.quiet,
            baseline=baseline,
            only=only,
            out=sys.stdout if any(s.path is None for s in specs) else None,
            ignores=ignores,
            history=plan.ledger is not None,
        ).run(targets)
        outputs.commit()
    except IncompleteAudit as exc:
        outputs.commit()  # whole reports that say the run is incomplete replace the old ones
        raise exc.cause from None
    finally:
        outputs.discard()
        if ledger is not None:
            ledger.close()
    return exit_code(outcome, fail_on, only_new=given.fail_on_new)


def per_asset_ignores(config: Config, plan: RunPlan) -> AssetIgnores | None:
    mapping = config.get("per-asset-ignores")
    if not mapping:
        return None
    try:
        return AssetIgnores(mapping, load_rules(), str(config.path or "config"))
    except IgnoreError as exc:
        raise ConfigError(str(exc)) from None

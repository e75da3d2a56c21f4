"""Command line: ``aind-bucket-lint check|rules|explain``. Exit codes: 0 clean, 1 findings at or
above ``--fail-on``, 2 the linter could not do its job (usage, config, unreadable target)."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from linter import __version__
from linter.baseline import Baseline, BaselineError
from linter.config import Config, ConfigError, find_config, read_config
from linter.conventions import BUILTIN, ConventionError, load_convention
from linter.findings import Severity
from linter.progress import Progress
from linter.registry import Rule, load_rules, parse_codes, select_rules

if TYPE_CHECKING:
    from linter.ledger import Ledger

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
FAIL_ON = ("error", "warning", "info", "never")
CHECK_FORMATS = ("text", "json", "jsonl", "sarif", "github", "markdown")


class UsageError(Exception):
    pass


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aind-bucket-lint",
        description="Conformance linter for AIND data buckets: asset names, sidecar metadata, layout, immutability.",
    )
    parser.add_argument("--version", action="version", version=f"aind-bucket-lint {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = sub.add_parser("check", help="lint local folders or s3:// prefixes")
    check.add_argument(
        "targets", nargs="+", metavar="TARGET", help="a bucket folder, an asset folder, or s3://BUCKET[/PREFIX/]"
    )
    add_check_options(check)

    baseline = sub.add_parser("baseline", help="record the current findings in a baseline file (for check --baseline)")
    baseline.add_argument("targets", nargs="+", metavar="TARGET", help="as for check")
    add_check_options(baseline, report=False)
    baseline.set_defaults(format="baseline", fail_on="never", baseline=None)

    hook = sub.add_parser("hook", help="lint the assets the given files belong to (the pre-commit hook)")
    hook.add_argument("files", nargs="*", metavar="FILE", help="files of assets, e.g. the files staged for a commit")
    hook.add_argument(
        "--bucket-root",
        metavar="DIR",
        help="the folder holding the assets; a file's asset is its top-level folder under it "
        "(default: config bucket-root, else the outermost folder holding data_description.json or named as an asset)",
    )
    add_check_options(hook)

    rules = sub.add_parser("rules", help="list the rules")
    rules.add_argument("--format", choices=("text", "json", "markdown"), default="text")

    explain = sub.add_parser("explain", help="show a rule's documentation")
    explain.add_argument("code", metavar="CODE")
    return parser


def add_check_options(p: argparse.ArgumentParser, report: bool = True) -> None:
    """The options of check; ``report=False`` (the baseline command) leaves out how to report and fail."""
    if report:
        p.add_argument("--format", choices=CHECK_FORMATS, default=None, help="report format (default text)")
        p.add_argument("--output", "-o", metavar="FILE", help="write the report here instead of stdout")
        p.add_argument("--baseline", metavar="FILE", help="report and fail only on findings not in this baseline file")
    else:
        p.add_argument("--output", "-o", metavar="FILE", required=True, help="write the baseline file here")
    p.add_argument("--select", metavar="CODES", help="comma-separated rule codes or prefixes to enable (default all)")
    p.add_argument("--ignore", metavar="CODES", help="comma-separated rule codes or prefixes to disable")
    if report:
        p.add_argument(
            "--fail-on", choices=FAIL_ON, default=None, help="lowest severity that fails the run (default error)"
        )
    p.add_argument(
        "--convention", metavar="NAME|FILE", help=f"convention: {', '.join(BUILTIN)} (default) or a YAML file"
    )
    p.add_argument(
        "--config", metavar="FILE", help="config file (default: nearest .aind-bucket-lint.yaml or pyproject.toml)"
    )
    p.add_argument(
        "--jobs", "-j", type=int, metavar="N", help="assets checked in parallel (default 8; 32 with an s3:// target)"
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress line on stderr (shown only on a terminal)")
    p.add_argument(
        "--ledger",
        metavar="FILE",
        help="SQLite ledger of earlier audits: immutability checks (I402-I404) and reuse of unchanged verdicts",
    )
    p.add_argument(
        "--destination",
        metavar="s3://BUCKET[/PREFIX]",
        help="where the target's assets will be published; report those already there (I405)",
    )
    s3 = p.add_argument_group("S3")
    s3.add_argument("--endpoint-url", metavar="URL", help="an S3-compatible endpoint instead of AWS")
    s3.add_argument("--region", metavar="REGION", help="the bucket's AWS region (default from the AWS config)")
    s3.add_argument("--profile", metavar="NAME", help="AWS profile for credentials (default: the usual AWS chain)")
    s3.add_argument(
        "--no-sign-request", action="store_true", help="anonymous requests, for public buckets such as aind-open-data"
    )
    s3.add_argument(
        "--inventory",
        metavar="MANIFEST",
        help="take the object listing from an S3 Inventory report: its manifest.json, a local path or s3:// URL",
    )


def load_config(args: argparse.Namespace) -> Config:
    if args.config:
        path = Path(args.config)
        if not path.is_file():
            raise ConfigError(f"{args.config}: config file not found")
        return read_config(path)
    return find_config(Path.cwd())


def enabled_rules(args: argparse.Namespace, config: Config) -> dict[str, Rule]:
    select = parse_codes(args.select) if args.select is not None else parse_codes(config.get("select"))
    ignore = parse_codes(args.ignore) if args.ignore is not None else parse_codes(config.get("ignore"))
    try:
        return select_rules(load_rules(), select, ignore)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def convention_name(args: argparse.Namespace, config: Config) -> str:
    if args.convention:
        return args.convention
    value = config.get("convention")
    if value is None:
        return "aind-open-data"
    return value if value in BUILTIN else config.resolve_path(value)


def summarize(
    counts: Counter[str], by_severity: Counter[str], assets: int, objects: int, baselined: int | None = None
) -> dict[str, Any]:
    summary = {
        "assets": assets,
        "objects": objects,
        "findings": sum(by_severity.values()),
        "by_severity": {s: by_severity.get(s, 0) for s in ("error", "warning", "info")},
        "by_rule": dict(sorted(counts.items())),
    }
    if baselined is not None:
        summary["baselined"] = baselined
    return summary


def load_baseline(args: argparse.Namespace, config: Config) -> Baseline | None:
    """``--baseline FILE``, else the config's ``baseline`` (relative to the config file); never
    when recording one."""
    if args.command == "baseline":
        return None
    path = args.baseline or (config.resolve_path(config.get("baseline")) if config.get("baseline") else None)
    return Baseline.load(path) if path else None


def open_output(args: argparse.Namespace) -> IO[str]:
    """The report's stream. A baseline is built in memory and replaces its file only when complete."""
    if args.command == "baseline":
        return io.StringIO()
    if not args.output:
        return sys.stdout
    try:
        return open(args.output, "w", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{args.output}: cannot write the report: {exc.strerror or exc}") from None


def replace_file(path: str, text: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise UsageError(f"{path}: cannot write the baseline: {exc.strerror or exc}") from None


def run_check(args: argparse.Namespace) -> int:
    from linter.engine import Linter, LintOptions, SourceError
    from linter.reports import Tee, get_reporter

    config = load_config(args)
    convention = load_convention(convention_name(args, config))
    rules = enabled_rules(args, config)
    overrides = {**convention.severity_overrides}
    overrides.update({c: Severity.parse(s) for c, s in config.get("severity", {}).items()})
    fail_on = args.fail_on or config.get("fail-on", "error")
    fmt = args.format or config.get("format", "text")
    allowed = ("baseline",) if args.command == "baseline" else CHECK_FORMATS
    if fmt not in allowed:
        raise UsageError(f"unknown format {fmt!r} (choose from {', '.join(CHECK_FORMATS)})")
    baseline = load_baseline(args, config)
    remote = any(t.startswith("s3://") for t in args.targets)
    jobs = args.jobs if args.jobs is not None else config.get("jobs", 32 if remote else 8)
    if jobs < 1:
        raise UsageError("--jobs must be at least 1")
    extra = {"config": config, **s3_options(args)}
    ledger = open_ledger(args, config)
    options = LintOptions(convention, rules, overrides, jobs, extra=extra, ledger=ledger)
    linter = Linter(options)
    progress = Progress.for_stream(sys.stderr, getattr(args, "quiet", False))
    linter.on_listed = progress.listed

    try:
        out = open_output(args)
    except BaseException:
        if ledger is not None:
            ledger.close()
        raise
    # extra (format, stream) reports written from the same run, e.g. by the GitHub Action
    extra_reports: Sequence[tuple[str, IO[str]]] = getattr(args, "extra_reports", ())
    # the hook lints only some entries of each target: {target: names}
    only: dict[str, set[str]] = getattr(args, "only", None) or {}
    try:
        report_options = {"fail_on": fail_on, "convention": convention, "baseline": baseline is not None}
        reporter = get_reporter(fmt, out, report_options)
        if extra_reports:
            reporter = Tee([reporter, *(get_reporter(f, stream, report_options) for f, stream in extra_reports)])
        reporter.start(
            {
                "report_version": 1,
                "tool": {"name": "aind-bucket-lint", "version": __version__},
                "target": list(args.targets),
                "convention": convention.name,
                "started_at": _now(),
            }
        )
        by_rule: Counter[str] = Counter()
        by_severity: Counter[str] = Counter()
        assets = objects = 0
        complete = True
        worst: Severity | None = None
        for target in args.targets:
            if hasattr(reporter, "target"):
                reporter.target(target)
            try:
                for linted in linter.lint_target(target, only=only.get(target)):
                    result = baseline.filter(linted) if baseline is not None else linted
                    if result.findings and _is_terminal(out):
                        progress.close()  # the report goes to the same terminal: no line in its way
                    reporter.asset(result)
                    progress.update(result.name is not None, result.objects, len(result.findings))
                    if result.name is not None:
                        assets += 1
                    objects += result.objects
                    complete = complete and result.complete
                    for f in result.findings:
                        by_rule[f.rule] += 1
                        by_severity[str(f.severity)] += 1
                        worst = f.severity if worst is None else max(worst, f.severity)
            except SourceError as exc:
                progress.close()
                print(f"aind-bucket-lint: {exc}", file=sys.stderr)
                complete = False
        progress.close()
        baselined = baseline.matched if baseline is not None else None
        footer = {
            "finished_at": _now(),
            "complete": complete,
            "summary": summarize(by_rule, by_severity, assets, objects, baselined),
        }
        reporter.finish(footer)
        if args.command == "baseline":
            assert isinstance(out, io.StringIO)
            if complete:
                replace_file(args.output, out.getvalue())
                print(f"aind-bucket-lint: wrote {args.output}: {sum(by_rule.values())} findings", file=sys.stderr)
            else:  # a baseline missing what could not be read would hide those findings later
                why = "part of the target could not be read"
                print(f"aind-bucket-lint: {args.output} not written: {why}", file=sys.stderr)
    finally:
        progress.close()
        if ledger is not None:
            ledger.close()
        if out is sys.stdout:
            out.flush()
        else:
            out.close()
    if not complete:
        return EXIT_ERROR
    if fail_on != "never" and worst is not None and worst >= Severity.parse(fail_on):
        return EXIT_FINDINGS
    return EXIT_OK


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def s3_options(args: argparse.Namespace) -> dict[str, Any]:
    """The S3 settings, ``--inventory`` and ``--destination``, for ``LintOptions.extra``."""
    destination = getattr(args, "destination", None)
    inventory = getattr(args, "inventory", None)
    if destination is not None and not destination.startswith("s3://"):
        raise UsageError(f"--destination {destination!r}: give an s3://BUCKET[/PREFIX] URL")
    if inventory is not None and not all(t.startswith("s3://") for t in args.targets):
        raise UsageError("--inventory gives the listing of an S3 bucket: use it with s3:// targets only")
    settings = {
        "endpoint_url": getattr(args, "endpoint_url", None),
        "region": getattr(args, "region", None),
        "profile": getattr(args, "profile", None),
        "no_sign_request": getattr(args, "no_sign_request", False),
    }
    return {"s3": settings, "inventory": inventory, "destination": destination}


def open_ledger(args: argparse.Namespace, config: Config) -> Ledger | None:
    """``--ledger`` (or the config's ``ledger``, relative to the config file), opened for this run."""
    path = getattr(args, "ledger", None)
    if not path and config.get("ledger"):
        path = config.resolve_path(config.get("ledger"))
    if not path:
        return None
    from linter.ledger import Ledger, LedgerError

    try:
        return Ledger(path)
    except LedgerError as exc:
        raise UsageError(str(exc)) from None


def run_hook(args: argparse.Namespace) -> int:
    """The pre-commit hook: lint each asset the given files belong to, once."""
    from linter.precommit import select_assets

    config = load_config(args)
    root = args.bucket_root or (config.resolve_path(config.get("bucket-root")) if config.get("bucket-root") else None)
    convention = load_convention(convention_name(args, config))
    selection = select_assets(args.files, convention, root)
    if not selection:
        return EXIT_OK
    args.targets = list(selection)
    args.only = selection
    return run_check(args)


def rules_markdown(rules: dict[str, Rule]) -> str:
    lines = ["| Code | Name | Severity | Summary |", "| --- | --- | --- | --- |"]
    for r in rules.values():
        lines.append(f"| {r.code} | {r.name} | {r.severity} | {r.summary} |")
    return "\n".join(lines) + "\n"


def run_rules(args: argparse.Namespace) -> int:
    rules = load_rules()
    if args.format == "json":
        rows = [
            {
                "code": r.code,
                "name": r.name,
                "severity": str(r.severity),
                "summary": r.summary,
                "doc": r.doc,
                "origin": r.origin,
            }
            for r in rules.values()
        ]
        print(json.dumps(rows, indent=2))
    elif args.format == "markdown":
        sys.stdout.write(rules_markdown(rules))
    else:
        width = max(len(r.name) for r in rules.values())
        for r in rules.values():
            print(f"{r.code}  {r.name:<{width}}  {r.severity!s:<7}  {r.summary}")
    return EXIT_OK


def run_explain(args: argparse.Namespace) -> int:
    rules = load_rules()
    code = args.code.strip().upper()
    match = rules.get(code) or next((r for r in rules.values() if r.name == args.code.strip()), None)
    if match is None:
        raise UsageError(f"no rule {args.code!r} (see `aind-bucket-lint rules`)")
    print(f"{match.code} {match.name} ({match.severity})\n\n{match.summary}\n\n{match.doc}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None, *, extra_reports: Sequence[tuple[str, IO[str]]] = ()) -> int:
    """Run the command line. ``extra_reports``: more (format, stream) reports of a check's run."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors and 0 on --help
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    args.extra_reports = extra_reports
    handlers = {
        "check": run_check,
        "baseline": run_check,
        "hook": run_hook,
        "rules": run_rules,
        "explain": run_explain,
    }
    try:
        return handlers[args.command](args)
    except (UsageError, ConfigError, ConventionError, BaselineError) as exc:
        print(f"aind-bucket-lint: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("aind-bucket-lint: interrupted", file=sys.stderr)
        return 130

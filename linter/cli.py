"""Command line: ``aind-bucket-lint check|rules|explain``. Exit codes: 0 clean, 1 findings at or
above ``--fail-on``, 2 the linter could not do its job (usage, config, unreadable target)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from linter import __version__
from linter.config import Config, ConfigError, find_config, read_config
from linter.conventions import BUILTIN, ConventionError, load_convention
from linter.findings import Severity
from linter.registry import Rule, load_rules, parse_codes, select_rules

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
FAIL_ON = ("error", "warning", "info", "never")
CHECK_FORMATS = ("text", "json", "jsonl")


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

    rules = sub.add_parser("rules", help="list the rules")
    rules.add_argument("--format", choices=("text", "json", "markdown"), default="text")

    explain = sub.add_parser("explain", help="show a rule's documentation")
    explain.add_argument("code", metavar="CODE")
    return parser


def add_check_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=CHECK_FORMATS, default=None, help="report format (default text)")
    p.add_argument("--output", "-o", metavar="FILE", help="write the report here instead of stdout")
    p.add_argument("--select", metavar="CODES", help="comma-separated rule codes or prefixes to enable (default all)")
    p.add_argument("--ignore", metavar="CODES", help="comma-separated rule codes or prefixes to disable")
    p.add_argument(
        "--fail-on", choices=FAIL_ON, default=None, help="lowest severity that fails the run (default error)"
    )
    p.add_argument(
        "--convention", metavar="NAME|FILE", help=f"convention: {', '.join(BUILTIN)} (default) or a YAML file"
    )
    p.add_argument(
        "--config", metavar="FILE", help="config file (default: nearest .aind-bucket-lint.yaml or pyproject.toml)"
    )
    p.add_argument("--jobs", "-j", type=int, metavar="N", help="assets checked in parallel (default 8)")


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


def summarize(counts: Counter[str], by_severity: Counter[str], assets: int, objects: int) -> dict[str, Any]:
    return {
        "assets": assets,
        "objects": objects,
        "findings": sum(by_severity.values()),
        "by_severity": {s: by_severity.get(s, 0) for s in ("error", "warning", "info")},
        "by_rule": dict(sorted(counts.items())),
    }


def run_check(args: argparse.Namespace) -> int:
    from linter.engine import Linter, LintOptions, SourceError
    from linter.reports import get_reporter

    config = load_config(args)
    convention = load_convention(convention_name(args, config))
    rules = enabled_rules(args, config)
    overrides = {**convention.severity_overrides}
    overrides.update({c: Severity.parse(s) for c, s in config.get("severity", {}).items()})
    fail_on = args.fail_on or config.get("fail-on", "error")
    fmt = args.format or config.get("format", "text")
    if fmt not in CHECK_FORMATS:
        raise UsageError(f"unknown format {fmt!r} (choose from {', '.join(CHECK_FORMATS)})")
    jobs = args.jobs if args.jobs is not None else config.get("jobs", 8)
    if jobs < 1:
        raise UsageError("--jobs must be at least 1")
    options = LintOptions(convention, rules, overrides, jobs, extra={"config": config})
    linter = Linter(options)

    out: IO[str]
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        reporter = get_reporter(fmt, out, {"fail_on": fail_on})
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
            try:
                for result in linter.lint_target(target):
                    reporter.asset(result)
                    if result.name is not None:
                        assets += 1
                    objects += result.objects
                    complete = complete and result.complete
                    for f in result.findings:
                        by_rule[f.rule] += 1
                        by_severity[str(f.severity)] += 1
                        worst = f.severity if worst is None else max(worst, f.severity)
            except SourceError as exc:
                print(f"aind-bucket-lint: {exc}", file=sys.stderr)
                complete = False
        reporter.finish(
            {"finished_at": _now(), "complete": complete, "summary": summarize(by_rule, by_severity, assets, objects)}
        )
    finally:
        if out is not sys.stdout:
            out.close()
        else:
            out.flush()
    if not complete:
        return EXIT_ERROR
    if fail_on != "never" and worst is not None and worst >= Severity.parse(fail_on):
        return EXIT_FINDINGS
    return EXIT_OK


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors and 0 on --help
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    handlers = {"check": run_check, "rules": run_rules, "explain": run_explain}
    try:
        return handlers[args.command](args)
    except (UsageError, ConfigError, ConventionError) as exc:
        print(f"aind-bucket-lint: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("aind-bucket-lint: interrupted", file=sys.stderr)
        return 130

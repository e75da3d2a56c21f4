"""Command line: ``aind-bucket-lint check|baseline|hook|rules|explain``: the argument parser,
and the dispatch to the commands (``linter.commands``), each called with explicit arguments.
Exit codes: 0 clean, 1 findings at or above ``--fail-on``, 2 the linter could not do its job
(usage, config, unreadable target)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import IO

from linter import __version__
from linter.baseline import BaselineError
from linter.commands import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, UsageError
from linter.commands import rules as rules_command
from linter.commands.common import CHECK_FORMATS, FAIL_ON, AuditOptions
from linter.config import ConfigError
from linter.conventions import BUILTIN, ConventionError
from linter.plan import EXECUTORS

__all__ = ["EXIT_ERROR", "EXIT_FINDINGS", "EXIT_OK", "build_parser", "main"]


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

    hook = sub.add_parser("hook", help="lint the assets the given files belong to (the pre-commit hook)")
    hook.add_argument("files", nargs="*", metavar="FILE", help="files of assets, e.g. the files staged for a commit")
    hook.add_argument(
        "--staged",
        action="store_true",
        help="also the files git has staged for the commit (what the pre-commit hook uses: "
        "each asset is linted once however pre-commit splits the file list)",
    )
    hook.add_argument(
        "--bucket-root",
        metavar="DIR",
        help="the folder holding the assets; a file's asset is its top-level folder under it "
        "(default: config bucket-root, else the outermost folder holding data_description.json or named as an asset)",
    )
    add_check_options(hook)

    rules = sub.add_parser("rules", help="list the rules")
    rules.add_argument("--format", choices=rules_command.FORMATS, default="text")

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
    p.add_argument(
        "--executor",
        choices=EXECUTORS,
        help="where assets are checked: threads, worker processes, or a Dask cluster "
        "(default auto: processes for a validation-heavy target of many assets, else threads)",
    )
    p.add_argument(
        "--dask-scheduler",
        metavar="ADDRESS",
        help="the scheduler of an existing Dask cluster, e.g. tcp://10.0.0.5:8786 (also DASK_SCHEDULER_ADDRESS); "
        "implies --executor dask",
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


def audit_options(args: argparse.Namespace) -> AuditOptions:
    """The audit options of a parsed check, baseline or hook command line."""
    reporting = args.command != "baseline"
    return AuditOptions(
        select=args.select,
        ignore=args.ignore,
        convention=args.convention,
        config=args.config,
        jobs=args.jobs,
        executor=args.executor,
        dask_scheduler=args.dask_scheduler,
        quiet=args.quiet,
        ledger=args.ledger,
        destination=args.destination,
        inventory=args.inventory,
        endpoint_url=args.endpoint_url,
        region=args.region,
        profile=args.profile,
        no_sign_request=args.no_sign_request,
        format=args.format if reporting else None,
        output=args.output if reporting else None,
        baseline=args.baseline if reporting else None,
        fail_on=args.fail_on if reporting else None,
    )


def dispatch(args: argparse.Namespace, extra_reports: Sequence[tuple[str, IO[str]]]) -> int:
    from linter.commands import baseline, check, explain, hook

    if args.command == "check":
        return check.run(args.targets, audit_options(args), extra_reports=extra_reports)
    if args.command == "baseline":
        return baseline.run(args.targets, audit_options(args), args.output)
    if args.command == "hook":
        return hook.run(args.files, args.bucket_root, audit_options(args), staged=args.staged)
    if args.command == "rules":
        return rules_command.run(args.format)
    assert args.command == "explain"
    return explain.run(args.code)


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
    try:
        return dispatch(args, extra_reports)
    except (UsageError, ConfigError, ConventionError, BaselineError) as exc:
        print(f"aind-bucket-lint: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("aind-bucket-lint: interrupted", file=sys.stderr)
        return 130

"""Command line: ``aind-bucket-lint check|baseline|hook|report|history|rules|explain|schemas``: the
argument parser,
and the dispatch to the commands (``linter.commands``), each called with explicit arguments.
Exit codes: 0 clean, 1 findings at or above ``--fail-on``, 2 the linter could not do its job
(usage, config, unreadable target)."""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from collections.abc import Sequence

from linter import __version__
from linter.baseline import BaselineError
from linter.commands import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK, UsageError
from linter.commands import rules as rules_command
from linter.commands import schemas as schemas_command
from linter.commands.common import FAIL_ON, AuditOptions, check_formats
from linter.config import ConfigError
from linter.conventions import BUILTIN, ConventionError
from linter.plan import EXECUTORS
from linter.reports.formats import FormatError
from linter.reports.outputs import OutputError
from linter.store.errors import LedgerError
from linter.terminal import COLOR_CHOICES

__all__ = ["EXIT_ERROR", "EXIT_FINDINGS", "EXIT_OK", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aind-bucket-lint",
        description="Conformance linter for AIND data buckets: asset names, sidecar metadata, layout, immutability.",
    )
    parser.add_argument("-V", "--version", action="version", version=f"aind-bucket-lint {__version__}")
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

    report = sub.add_parser(
        "report",
        help="render a saved json or jsonl report in other formats, without auditing again",
        description="Turn a report saved by `check --output json:FILE` (or jsonl) into any other format.",
    )
    report.add_argument("saved", metavar="SAVED", help="a report written by check in json or jsonl format")
    add_report_options(report)

    history = sub.add_parser(
        "history",
        help="one line per audit recorded in a ledger: time, assets, findings by severity, new, fixed",
    )
    history.add_argument("ledger", metavar="LEDGER", help="the --ledger file of earlier audits")
    history.add_argument("--root", metavar="ROOT", help="only the audits of this root (s3://BUCKET/PREFIX/, a folder)")
    history.add_argument("--limit", "-n", type=int, metavar="N", help="only the latest N audits")
    history.add_argument("--format", choices=("text", "json"), default="text")

    rules = sub.add_parser("rules", help="list the rules")
    rules.add_argument("--format", choices=rules_command.FORMATS, default="text")

    explain = sub.add_parser("explain", help="show a rule's documentation")
    explain.add_argument("code", metavar="CODE")

    schemas_command.add_parser(sub)
    return parser


def add_check_options(p: argparse.ArgumentParser, report: bool = True) -> None:
    """The options of check; ``report=False`` (the baseline command) leaves out how to report and fail."""
    if report:
        add_report_options(p)
        p.add_argument("--baseline", metavar="FILE", help="report and fail only on findings not in this baseline file")
        p.add_argument(
            "--fail-on-new",
            action="store_true",
            help="with --ledger: fail only on new findings (at or above --fail-on) since the last complete audit",
        )
        p.add_argument(
            "--statistics", action="store_true", help="print per-rule counts on stdout instead of the findings"
        )
    else:
        p.add_argument("--output", "-o", metavar="FILE", required=True, help="write the baseline file here")
    p.add_argument("--select", metavar="CODES", help="comma-separated rule codes or prefixes to enable (default all)")
    p.add_argument("--ignore", metavar="CODES", help="comma-separated rule codes or prefixes to disable")
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
    p.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="stop the audit after this long: the report is written, each asset not finished gets E901, exit 2",
    )
    p.add_argument(
        "--allow-empty",
        action="store_true",
        default=None,
        help="a target with no assets is not an error (e.g. a staging prefix between uploads)",
    )
    p.add_argument(
        "--sidecar-budget",
        type=int,
        metavar="MIB",
        help="MiB of sidecars parsed and validated at once, whatever --jobs is (default 64)",
    )
    p.add_argument(
        "--offline",
        action="store_true",
        default=None,
        help="never download: a sidecar whose aind-data-schema release is not prepared gets M204 "
        "(default: prepare it on first need; config offline)",
    )
    p.add_argument(
        "--schema-cache",
        metavar="DIR",
        help="folder of the prepared aind-data-schema releases "
        "(default $AIND_BUCKET_LINT_CACHE, config schema-cache, ~/.cache/aind-bucket-lint)",
    )
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="neither read nor write the verdict cache (the releases' verdicts by content, kept in "
        "the schema cache's verdicts/ folder; also AIND_BUCKET_LINT_NO_CACHE=1)",
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


def add_report_options(p: argparse.ArgumentParser) -> None:
    """How to report: formats, files, colour, the failing severity (check, hook, report)."""
    p.add_argument(
        "--format",
        choices=check_formats(),
        default=None,
        help="the format of stdout's report and of a plain --output FILE (default text)",
    )
    p.add_argument(
        "--output",
        "-o",
        metavar="[FORMAT:]FILE",
        action="append",
        dest="outputs",
        default=[],
        help="write a report to FILE (- for stdout); repeat with FORMAT:FILE for several reports from one run, "
        f"FORMAT one of {', '.join(check_formats())}",
    )
    p.add_argument(
        "--fail-on", choices=FAIL_ON, default=None, help="lowest severity that fails the run (default error)"
    )
    p.add_argument(
        "--color",
        choices=COLOR_CHOICES,
        default=None,
        help="colour the text report: auto (default: on a terminal, unless NO_COLOR is set or FORCE_COLOR asks), "
        "always, never",
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
        timeout=args.timeout,
        allow_empty=args.allow_empty,
        sidecar_budget=args.sidecar_budget,
        inventory=args.inventory,
        endpoint_url=args.endpoint_url,
        region=args.region,
        profile=args.profile,
        no_sign_request=args.no_sign_request,
        offline=args.offline,
        schema_cache=args.schema_cache,
        no_cache=args.no_cache,
        format=args.format if reporting else None,
        output=args.output if not reporting else None,
        baseline=args.baseline if reporting else None,
        fail_on=args.fail_on if reporting else None,
        outputs=tuple(args.outputs) if reporting else (),
        fail_on_new=args.fail_on_new if reporting else False,
        statistics=args.statistics if reporting else False,
        color=args.color if reporting else None,
    )


def dispatch(args: argparse.Namespace) -> int:
    """Run the command; its module is imported only now (an audit's modules are slow to import)."""
    if args.command == "check":
        from linter.commands import check

        return check.run(args.targets, audit_options(args))
    if args.command == "baseline":
        from linter.commands import baseline

        return baseline.run(args.targets, audit_options(args), args.output)
    if args.command == "hook":
        from linter.commands import hook

        return hook.run(args.files, args.bucket_root, audit_options(args), staged=args.staged)
    if args.command == "report":
        from linter.commands import report

        return report.run(args.saved, args.outputs, args.format, args.fail_on, args.color)
    if args.command == "history":
        from linter.commands import history

        return history.run(args.ledger, args.root, args.limit, args.format)
    if args.command == "rules":
        return rules_command.run(args.format)
    if args.command == "schemas":
        return schemas_command.run(args)
    assert args.command == "explain"
    from linter.commands import explain

    return explain.run(args.code)


def mistyped_command(parser: argparse.ArgumentParser, argv: Sequence[str]) -> int | None:
    """A first word that is no command: say so with the usage line of the closest command."""
    words = [a for a in argv if not a.startswith("-")]
    if not words or (argv and argv[0].startswith("-")):
        return None
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands: dict[str, argparse.ArgumentParser] = dict(sub.choices)
    word = argv[0]
    if word in commands:
        return None
    close = difflib.get_close_matches(word, list(commands), n=1, cutoff=0.5)
    if close:
        sys.stderr.write(commands[close[0]].format_usage())
        print(f"aind-bucket-lint: unknown command {word!r}; did you mean {close[0]!r}?", file=sys.stderr)
    else:
        sys.stderr.write(parser.format_usage())
        print(f"aind-bucket-lint: unknown command {word!r} (commands: {', '.join(commands)})", file=sys.stderr)
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    mistyped = mistyped_command(parser, argv)
    if mistyped is not None:
        return mistyped
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors and 0 on --help
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        return dispatch(args)
    except (UsageError, ConfigError, ConventionError, BaselineError, LedgerError, OutputError, FormatError) as exc:
        print(f"aind-bucket-lint: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("aind-bucket-lint: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # whatever escaped: one clear line and exit 2, never exit 1 (findings)
        return internal_error(exc)


def internal_error(exc: BaseException) -> int:
    """An exception nothing else caught: one line on stderr (the traceback only with
    ``AIND_BUCKET_LINT_TRACEBACK=1``) and exit 2, so a crash never looks like findings."""
    if os.environ.get("AIND_BUCKET_LINT_TRACEBACK"):
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    where = ""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None:
        where = f" at {os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}"
    text = " ".join(str(exc).split()) or "(no message)"
    print(
        f"aind-bucket-lint: internal error, the run is incomplete: {type(exc).__name__}: {text[:500]}{where}",
        file=sys.stderr,
    )
    return EXIT_ERROR

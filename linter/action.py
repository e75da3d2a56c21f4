"""The GitHub Action's audit step: ``python -m linter.action``.

``action.yml`` hands the action's inputs over as environment variables (``AIND_BUCKET_LINT_*``),
never as shell text, so a target or path holding quotes, ``$(...)`` or newlines is just a string
here. One audit writes three reports (``--format github --output sarif:FILE --output
markdown:FILE``): annotations on stdout, the Markdown job summary appended to
``$GITHUB_STEP_SUMMARY``, and SARIF for ``github/codeql-action/upload-sarif``. The step's
outputs (``$GITHUB_OUTPUT``) are the exit code, the finding counts and the SARIF path; the exit
code is the linter's (0 clean, 1 findings at or above ``fail-on``, 2 the audit could not be
done), so ``fail-on`` decides whether the job fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from linter import cli
from linter.reports.github import command

PREFIX = "AIND_BUCKET_LINT_"
TRUE, FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off", "")


class InputError(Exception):
    pass


def _input(env: Mapping[str, str], name: str) -> str:
    return env.get(PREFIX + name.upper().replace("-", "_"), "").strip()


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = _input(env, name).lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise InputError(f"input {name} must be true or false, not {value!r}")


def check_arguments(env: Mapping[str, str]) -> list[str]:
    """The ``aind-bucket-lint check`` command line the inputs ask for (argv, not shell text)."""
    target = _input(env, "target")
    if not target:
        raise InputError("input target is required (e.g. s3://BUCKET/staging/)")
    argv = ["check", target, "--format", "github", "--quiet", "--fail-on", _input(env, "fail-on") or "error"]
    for name in ("convention", "config", "destination", "endpoint-url", "region", "baseline", "timeout"):
        value = _input(env, name)
        if value:
            argv += [f"--{name}", value]
    if _flag(env, "no-sign-request"):
        argv.append("--no-sign-request")
    if _flag(env, "allow-empty"):
        argv.append("--allow-empty")
    return argv


def sarif_counts(path: Path) -> Counter[str]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return Counter(r.get("level", "warning") for run in doc["runs"] for r in run["results"])


def write_outputs(path: str | None, outputs: Mapping[str, str]) -> None:
    """Step outputs, in the delimiter form so no value can add an output of its own."""
    if not path:
        return
    with open(path, "a", encoding="utf-8") as fh:
        for name, value in outputs.items():
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            fh.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def main(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    try:
        argv = check_arguments(env)
    except InputError as exc:
        print(command("error", str(exc), title="aind-bucket-lint"))
        write_outputs(env.get("GITHUB_OUTPUT"), {"exit-code": str(cli.EXIT_ERROR)})
        return cli.EXIT_ERROR
    sarif = Path(_input(env, "sarif") or "aind-bucket-lint.sarif")
    if sarif.parent != Path():
        sarif.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        sarif.unlink()  # a SARIF file left by an earlier step must not pass for this audit's
    summary = env.get("GITHUB_STEP_SUMMARY")
    with tempfile.TemporaryDirectory(prefix="aind-bucket-lint-") as tmp:
        markdown = Path(tmp) / "summary.md"
        argv += ["--output", f"sarif:{sarif}"]
        if summary:
            argv += ["--output", f"markdown:{markdown}"]
        sys.stdout.flush()
        code = cli.main(argv)
        if summary and markdown.exists():  # the job summary is appended to, as GitHub expects
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write(markdown.read_text(encoding="utf-8"))
    outputs = {"exit-code": str(code)}
    if sarif.exists():  # else the audit never started (bad input): no SARIF to upload
        counts = sarif_counts(sarif)
        outputs.update(
            {
                "findings": str(sum(counts.values())),
                "errors": str(counts["error"]),
                "warnings": str(counts["warning"]),
                "notes": str(counts["note"]),
                "sarif": str(sarif),
            }
        )
    write_outputs(env.get("GITHUB_OUTPUT"), outputs)
    return code


if __name__ == "__main__":
    sys.exit(main())

"""Shared test helpers. Tests build small buckets in temporary folders and run the real linter."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from linter.cli import main
from linter.conventions import load_convention
from linter.engine import Linter
from linter.findings import Finding
from linter.plan import NO_CACHE_ENV, ExecutorKind, RunPlan
from linter.registry import load_rules, select_rules
from tests.fixtures import write_files

pytest_plugins = ["tests.s3_fixtures", "tests.s3_audit_helpers", "tests.package_index"]

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "bucket"
"""The committed example bucket (scripts/make_example_bucket.py makes it)."""
SHARED = REPO.parent / "shared"
# Upstream material nobody on this project wrote (real aind-data-schema files, real asset
# names, the SARIF schema): read in place, never copied into the repository. A clone without
# ../shared beside it skips the tests that need it.
FIXTURES = SHARED / "fixtures"
SHARED_MISSING = (
    f"needs the upstream fixtures in ../shared/fixtures ({FIXTURES}), which is absent; "
    "they are read in place and not part of the repository"
)
needs_shared = pytest.mark.skipif(not FIXTURES.is_dir(), reason=SHARED_MISSING)


def upstream(*parts: str) -> Path:
    """A file or folder under ../shared/fixtures, read in place; skips the calling test when absent."""
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(SHARED_MISSING if not FIXTURES.is_dir() else f"{path} is absent")
    return path


def upstream_files(folder: str, pattern: str = "*.json") -> list[Any]:
    """Parameters for ``pytest.mark.parametrize``: the matching files under ../shared/fixtures,
    or one parameter that skips with the reason when the folder is absent."""
    files = sorted((FIXTURES / folder).glob(pattern))
    return files or [pytest.param(None, marks=pytest.mark.skip(reason=SHARED_MISSING), id="shared-absent")]


make_tree = write_files  # {relative path: content} under a root; a key ending in '/' is an empty folder


def lint_findings(
    target: Path | str,
    select: Iterable[str] = (),
    ignore: Iterable[str] = (),
    jobs: int = 2,
    executor: ExecutorKind = "auto",
) -> list[Finding]:
    """Run the real engine over one target and return every finding, in report order."""
    rules = select_rules(load_rules(), list(select), list(ignore))
    linter = Linter(RunPlan(load_convention("aind-open-data"), rules, jobs=jobs, executor=executor))
    return [f for result in linter.lint_target(str(target)) for f in result.findings]


def brief(findings: Iterable[Finding]) -> list[tuple[str, str | None, str | None]]:
    """(rule, asset, path) for each finding: the part most tests assert exactly."""
    return [(f.rule, f.asset, f.path) for f in findings]


def _report_validator() -> jsonschema.Draft202012Validator:
    text = resources.files("linter").joinpath("schemas/report-v1.json").read_text(encoding="utf-8")
    return jsonschema.Draft202012Validator(json.loads(text), format_checker=jsonschema.FormatChecker())


REPORT_SCHEMA = _report_validator()


def validate_jsonl(lines: list[dict[str, Any]]) -> None:
    """A jsonl report is the json report cut into lines: check each part against the same schema."""
    schema = REPORT_SCHEMA.schema
    assert lines[0]["type"] == "header" and lines[-1]["type"] == "summary"
    header = {k: v for k, v in lines[0].items() if k != "type"}
    summary = {k: v for k, v in lines[-1].items() if k != "type"}
    parts: dict[str, list[dict[str, Any]]] = {"asset": [], "finding": [], "fixed": []}
    for line in lines[1:-1]:
        parts[line["type"]].append({k: v for k, v in line.items() if k != "type"})
    doc = {**header, **summary, "assets": parts["asset"], "findings": parts["finding"]}
    if parts["fixed"]:
        doc["fixed"] = parts["fixed"]
    REPORT_SCHEMA.validate(doc)
    assert set(header) == {"report_version", "tool", "target", "convention", "started_at"}, schema["title"]


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        """The json report, checked against the shipped report schema."""
        doc = json.loads(self.out)
        REPORT_SCHEMA.validate(doc)
        return doc

    def lines(self) -> list[dict[str, Any]]:
        """The jsonl report, checked against the shipped report schema."""
        rows = [json.loads(line) for line in self.out.splitlines()]
        validate_jsonl(rows)
        return rows


def run_cli(*args: str) -> CliResult:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return CliResult(code, out.getvalue(), err.getvalue())


GOOD = "ecephys_123456_2022-12-12_05-06-07"
BAD_MODALITY = "smartspim_653158_2023-02-01_10-00-00"
PLACEHOLDER = "HCR_703179_2024-03-24_00-00-00"


def small_bucket(root: Path) -> Path:
    """The command-line tests' bucket: a good raw asset, one of a modality AIND does not have,
    one of a placeholder time, and a file at the root that belongs to no asset."""
    return make_tree(
        root,
        {f"{GOOD}/ecephys/a.bin": "a", f"{BAD_MODALITY}/SPIM/t.txt": "t", f"{PLACEHOLDER}/x": "x", "notes.txt": "n"},
    )


# The corpus tests of ../shared/fixtures take most of the suite's time (measured in one full run:
# upstream-truth 1,200 s, upstream-truth-2 750 s, upstream-assets 420 s, of 4,200 s in all). They
# run first, longest first, each module on one pytest-xdist worker (``--dist loadfile``: a
# module's corpus is linted once, not once per worker that runs one of its tests), so the short
# tests fill the other worker meanwhile instead of waiting behind them at the end. (``loadgroup``
# with ``xdist_group`` marks does not group under pytest 9.2 and xdist 3.8: measured, the
# upstream-truth corpus was linted on both workers.)
CORPUS_EXECUTOR: ExecutorKind = "threads"
"""The corpus tests lint with threads: ``auto`` picks worker processes for a target of that many
assets, and each process starts its own release workers, so each 1.x release's models (20-50 s of
CPU each, upstream's aind_data_schema_models.mouse_anatomy alone: 8,038 pydantic classes) were
imported once per process. The executors give the same findings (tests/linter/test_executors*)."""

LONGEST_FIRST = (
    "tests/linter/metadata/test_upstream_truth.py",
    "tests/linter/metadata/test_upstream_truth_2.py",
    "tests/linter/metadata/test_upstream_assets.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


@pytest.fixture
def cli() -> Callable[..., CliResult]:
    return run_cli


@pytest.fixture(scope="session")
def report_schema() -> jsonschema.Draft202012Validator:
    return REPORT_SCHEMA


@pytest.fixture(autouse=True)
def _no_verdict_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test judges its files anew: a verdict kept in the shared schema cache by an earlier
    test or run would hide what validation does (which worker starts, what it answers). The
    tests of the verdict cache turn it back on (tests/linter/validation/test_verdict_cache.py);
    the variable reaches the linters that tests start as subprocesses too."""
    monkeypatch.setenv(NO_CACHE_ENV, "1")


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every test from an empty folder so no config file of the developer's leaks in."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))

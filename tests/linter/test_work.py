"""The unit of work: a worker validates with the plan's schema settings, never its own
environment's; the sidecar budget counts by the convention's size limit."""

from __future__ import annotations

import datetime as dt
import json
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from linter import validation
from linter.context import TargetInfo
from linter.conventions import load_convention
from linter.findings import Finding
from linter.metadata import policy
from linter.plan import CACHE_ENV, OFFLINE_ENV, RunPlan, SchemaSettings
from linter.registry import load_rules, select_rules
from linter.sources import Asset, ObjectInfo
from linter.sources.local import LocalSource
from linter.validation import envs, table
from linter.work import TargetJob, WorkItem, check_asset, sidecar_bytes
from tests.conftest import make_tree

RAW = "ecephys_123456_2022-02-21_16-30-01"
LAST_WORDS = "ImportError: the fake release of this cache"


@pytest.fixture
def caches(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """An empty cache, and one whose 0.3.7 'environment' is a Python that dies saying
    LAST_WORDS (prepared, as far as the marker says): which one judged a file shows in its M204."""
    empty, fake = tmp_path / "empty", tmp_path / "fake"
    empty.mkdir()
    env = fake / "envs" / "0.3.7"
    (env / "bin").mkdir(parents=True)
    python = env / "bin" / "python"
    python.write_text(f"#!/bin/sh\necho '{LAST_WORDS}' >&2\nexit 3\n")
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    marker = {"requirements": table().releases["0.3.7"].requirements()}
    (env / envs.MARKER).write_text(json.dumps(marker), encoding="utf-8")
    validation.reset()
    yield empty, fake
    validation.reset()


def _reasons(plan: RunPlan, bucket: Path) -> list[str]:
    """The M204 reasons of checking the bucket's one asset as a worker does (``check_asset``)."""
    source = LocalSource(bucket, plan.convention)
    names = list(source.asset_names())
    job = TargetJob(uuid.uuid4().hex, plan, TargetInfo(str(bucket), frozenset(names), plan.convention), source.reader())
    outcome = check_asset(job, WorkItem(source.load_asset(names[0])))
    found: list[Finding] = outcome.result.findings
    return [f.details["reason"] for f in found if f.rule == "M204"]


@pytest.mark.parametrize("plan_says", ["empty", "fake"])
def test_a_worker_validates_with_the_plans_schema_cache_whatever_its_environment_says(
    caches: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plan_says: str
) -> None:
    empty, fake = caches
    ours, theirs = (empty, fake) if plan_says == "empty" else (fake, empty)
    monkeypatch.setenv(CACHE_ENV, str(theirs))  # the worker's own environment says otherwise
    monkeypatch.setenv(OFFLINE_ENV, "0")
    doc = {"describedBy": f"work-{plan_says}", "schema_version": "0.0.1", "data_processes": []}
    bucket = make_tree(tmp_path / "bucket", {f"{RAW}/processing.json": json.dumps(doc)})
    rules = select_rules(load_rules(), ["M204"], [])
    plan = RunPlan(load_convention("aind-open-data"), rules, schemas=SchemaSettings(ours, offline=True))
    expected = {
        "empty": "aind-data-schema 0.3.7 is not prepared and cannot be offline "
        "(run `aind-bucket-lint schemas install 0.3.7` with network)",
        "fake": f"the validation worker of aind-data-schema 0.3.7 exited (code 3): {LAST_WORDS}",
    }
    assert _reasons(plan, bucket) == [expected[plan_says]]
    assert envs.prepared(SchemaSettings(empty)) == []  # offline: nothing was prepared in the empty cache


def test_the_sidecar_budget_counts_root_sidecars_up_to_the_conventions_limit() -> None:
    plan = RunPlan(load_convention("aind-open-data"), {})
    limit = policy(plan.convention).max_json_bytes
    assert limit == 32 * 1024 * 1024
    when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    asset = Asset(
        RAW,
        [
            ObjectInfo("subject.json", 1000, None, when),
            ObjectInfo("huge.json", limit + 5, None, when),  # never read past the limit
            ObjectInfo("ecephys/nested.json", 7, None, when),  # not a sidecar: below the root
            ObjectInfo("notes.txt", 9, None, when),
        ],
    )
    assert sidecar_bytes(asset, plan) == 1000 + limit

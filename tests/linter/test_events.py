"""The engine's typed stream (``linter.events``): what each target yields, in order, and the
facts a caller reads from it instead of from the engine."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from linter.conventions import load_convention
from linter.engine import Linter
from linter.events import AssetResult, TargetFinished, TargetStarted, root_uri
from linter.plan import RunPlan
from linter.registry import load_rules, select_rules
from tests.conftest import make_tree
from tests.linter.test_engine import MemorySource

RAW = "ecephys_123456_2022-12-12_05-06-07"
OTHER = "SmartSPIM_623711_2022-10-27_16-48-54"


def plan(*select: str, **fields: object) -> RunPlan:
    return RunPlan(load_convention("aind-open-data"), select_rules(load_rules(), list(select), []), **fields)  # type: ignore[arg-type]


def test_a_target_yields_its_start_its_results_and_its_end(tmp_path: Path) -> None:
    bucket = make_tree(tmp_path / "bucket", {f"{RAW}/a.txt": "a", f"{OTHER}/b.txt": "b", "notes.txt": "n"})
    with Linter(plan("N", "L", jobs=1)) as linter:
        started, *results, finished = linter.run_target(str(bucket))
        assert list(linter.lint_target(str(bucket))) == results
    assert started == TargetStarted(str(bucket), bucket.resolve().as_uri() + "/", str(bucket.resolve()), False, 2)
    assert started.local_base == bucket.resolve()
    assert [(r.name, r.objects, [f.rule for f in r.findings]) for r in results] == [
        (None, 1, ["L302"]),
        (OTHER, 1, []),
        (RAW, 1, []),
    ]
    assert all(isinstance(r, AssetResult) for r in results)
    assert finished == TargetFinished(str(bucket), complete=True, executor="threads")


def test_a_target_that_is_one_asset_has_its_parent_as_root(tmp_path: Path) -> None:
    bucket = make_tree(tmp_path / "bucket", {f"{RAW}/a.txt": "a", f"{OTHER}/b.txt": "b"})
    with Linter(plan("N")) as linter:
        started, *_ = linter.run_target(str(bucket / RAW))
        assert isinstance(started, TargetStarted)
        assert (started.root, started.single_asset, started.assets) == (root_uri(str(bucket.resolve())), True, 1)
        # the hook's entries: the others count as present, only these are checked
        started, *results, _ = linter.run_target(str(bucket), only=[OTHER])
    assert isinstance(started, TargetStarted) and started.assets == 1
    assert [r.name for r in results if isinstance(r, AssetResult)] == [None, OTHER]


class SlowListing(MemorySource):
    """A source whose listing takes longer than the run's --timeout."""

    def asset_names(self) -> Iterator[str]:
        time.sleep(2)
        yield from super().asset_names()


def test_a_listing_past_the_timeout_ends_the_target_incomplete() -> None:
    def open_slow(target: str, run_plan: RunPlan) -> SlowListing:
        return SlowListing(target, {RAW: {"a.txt": b"a"}}, {})

    with Linter(plan("N", timeout=0.2), open_source=open_slow) as linter:
        started, result, finished = linter.run_target("mem://slow")
    assert started == TargetStarted("mem://slow", "mem://slow/", "mem://slow", False, 0)
    assert isinstance(result, AssetResult) and result.complete is False
    assert [(f.rule, f.message) for f in result.findings] == [
        ("E901", "mem://slow: not audited: the audit's --timeout of 0.2 s ran out while listing it")
    ]
    assert finished == TargetFinished("mem://slow", complete=False, timed_out=True)


def test_where_a_target_that_could_not_be_opened_is(tmp_path: Path) -> None:
    """Reporters still need a base for it: the target itself."""
    missing = TargetStarted(str(tmp_path / "missing"))
    assert (missing.root, missing.base, missing.local_base) == (
        None,
        root_uri(str(tmp_path / "missing")),
        tmp_path / "missing",
    )
    remote = TargetStarted("s3://bucket/staging")
    assert (remote.base, remote.local_base) == ("s3://bucket/staging/", None)
    odd = TargetStarted("odd", root_uri(str(tmp_path / "a b%c")))
    assert (odd.root, odd.local_base) == ((tmp_path / "a b%c").as_uri() + "/", tmp_path / "a b%c")

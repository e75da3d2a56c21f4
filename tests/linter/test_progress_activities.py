"""The progress line says what holds the assets up: a release being prepared, its models imported."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from linter import validation
from linter.cli import main
from linter.plan import SchemaSettings
from linter.progress import ACTIVITIES, Activities, Progress
from linter.validation import envs, table
from tests.conftest import make_tree

RAW = "ecephys_123456_2022-02-21_16-30-01"
PROCESSING_0X = {"describedBy": "x", "schema_version": "0.0.1", "data_processes": []}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_line_leads_with_what_is_being_done_while_it_is_done() -> None:
    term, activities = Terminal(), Activities()
    progress = Progress(term, True, interval=60, width=lambda: 200, activities=activities)
    progress.watch()
    progress.listed(2)
    with activities.during("importing aind-data-schema 1.4.0 models"):
        with activities.during("preparing aind-data-schema 0.3.7"):
            assert activities.current() == "importing aind-data-schema 1.4.0 models…; preparing aind-data-schema 0.3.7…"
        progress.update(True, 3, 1)  # within the interval: not drawn
    drawn = term.getvalue().split("\r")
    assert drawn[1].startswith("  0% 0/2 assets, 0 objects/s, 0 findings, ")
    assert drawn[2].startswith("importing aind-data-schema 1.4.0 models… |   0% 0/2 assets, ")
    assert drawn[3].startswith(
        "importing aind-data-schema 1.4.0 models…; preparing aind-data-schema 0.3.7… |   0% 0/2 assets, "
    )
    assert drawn[4].startswith("importing aind-data-schema 1.4.0 models… |   0% 0/2 assets, ")
    assert drawn[5].startswith(" 50% 1/2 assets, ") and " objects/s, 1 finding, " in drawn[5]  # at once when it ends
    assert activities.current() is None
    progress.unwatch()
    with activities.during("importing aind-data-schema 2.9.2 models"):
        pass
    assert len(term.getvalue().split("\r")) == 6  # no longer drawn
    silent = Progress(Terminal(), False, activities=activities)
    silent.watch()  # not on a terminal (or --quiet): not even listening
    assert activities._listeners == []


def test_preparing_a_release_is_said_while_uv_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str | None] = []

    def run(command: list[str], settings: SchemaSettings) -> None:
        seen.append(ACTIVITIES.current())
        raise envs.PrepareError("no network here")

    monkeypatch.setattr(envs, "_uv", lambda: "uv")
    monkeypatch.setattr(envs, "_run", run)
    with pytest.raises(envs.PrepareError, match=r"cannot prepare aind-data-schema 0\.3\.7: no network here"):
        envs.prepare(table().releases["0.3.7"], SchemaSettings(tmp_path / "cache"))
    assert seen == ["preparing aind-data-schema 0.3.7…"]
    assert ACTIVITIES.current() is None


@pytest.fixture
def fresh_workers() -> Iterator[None]:
    validation.reset()
    yield
    validation.reset()


def test_a_check_on_a_terminal_says_when_a_release_imports_its_models(
    tmp_path: Path, fresh_workers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = SchemaSettings.resolve()
    if not envs.is_ready("0.3.7", settings):
        pytest.skip("aind-data-schema 0.3.7 is not prepared (python -m tests.prepare_schemas)")
    bucket = make_tree(tmp_path / "bucket", {f"{RAW}/processing.json": json.dumps(PROCESSING_0X)})
    seen: list[str] = []
    stop = ACTIVITIES.listen(lambda: seen.append(ACTIVITIES.current() or ""))
    err = Terminal()
    try:
        with redirect_stdout(io.StringIO()), redirect_stderr(err):
            main(["check", str(bucket), "--select", "M203", "--offline"])
    finally:
        stop()
    assert seen == ["importing aind-data-schema 0.3.7 models…", ""]
    assert "\rimporting aind-data-schema 0.3.7 models… |   0% 0/1 assets, " in err.getvalue()
    assert err.getvalue().endswith("\r")  # erased at the end
    assert ACTIVITIES._listeners == []  # the audit stopped listening

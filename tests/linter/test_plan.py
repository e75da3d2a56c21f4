"""The run plan: the schema settings are decided once, in the driver, and travel in the plan."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from linter.commands.common import AuditOptions, build_plan
from linter.config import Config
from linter.conventions import load_convention
from linter.plan import CACHE_ENV, NO_CACHE_ENV, OFFLINE_ENV, RunPlan, SchemaSettings
from linter.registry import load_rules


def test_the_cache_folder_is_the_option_else_the_environment_else_the_config_else_the_default(
    tmp_path: Path,
) -> None:
    env = {CACHE_ENV: str(tmp_path / "env"), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    config = str(tmp_path / "config")
    resolve = SchemaSettings.resolve
    assert resolve(tmp_path / "opt", config_cache=config, environ=env).cache == tmp_path / "opt"
    assert resolve(None, config_cache=config, environ=env).cache == tmp_path / "env"
    assert resolve(None, config_cache=config, environ={"XDG_CACHE_HOME": env["XDG_CACHE_HOME"]}).cache == Path(config)
    assert resolve(environ={"XDG_CACHE_HOME": env["XDG_CACHE_HOME"]}).cache == tmp_path / "xdg" / "aind-bucket-lint"
    assert resolve(environ={}).cache == Path.home() / ".cache" / "aind-bucket-lint"


def test_a_relative_cache_folder_is_made_absolute_in_the_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker runs elsewhere (another working directory, another machine): it gets a full path."""
    monkeypatch.chdir(tmp_path)
    assert SchemaSettings.resolve("rel/cache", environ={}).cache == tmp_path / "rel" / "cache"
    assert SchemaSettings.resolve("~/x", environ={}).cache == Path.home() / "x"


def test_offline_is_the_option_else_the_config_else_the_environment() -> None:
    resolve = SchemaSettings.resolve
    on, off = {OFFLINE_ENV: "yes"}, {OFFLINE_ENV: "0"}
    assert [resolve(offline=False, config_offline=True, environ=on).offline] == [False]
    assert [resolve(config_offline=False, environ=on).offline, resolve(config_offline=True, environ=off).offline] == [
        False,
        True,
    ]
    assert [resolve(environ=on).offline, resolve(environ=off).offline, resolve(environ={}).offline] == [
        True,
        False,
        False,
    ]


def test_the_verdict_cache_is_on_unless_the_option_or_the_environment_says_not() -> None:
    resolve = SchemaSettings.resolve
    on, off = {NO_CACHE_ENV: "0"}, {NO_CACHE_ENV: "1"}
    assert [resolve(environ={}).verdicts, resolve(environ=on).verdicts, resolve(environ=off).verdicts] == [
        True,
        True,
        False,
    ]
    assert [resolve(no_cache=True, environ=on).verdicts, resolve(no_cache=False, environ=off).verdicts] == [
        False,
        True,
    ]


def test_no_cache_on_the_command_line_goes_into_the_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(NO_CACHE_ENV, raising=False)
    convention = load_convention("aind-open-data")
    config = Config(None, {})
    assert build_plan(["bucket"], AuditOptions(), config, convention).schemas.verdicts is True
    plan = build_plan(["bucket"], AuditOptions(no_cache=True), config, convention)
    assert pickle.loads(pickle.dumps(plan)).schemas.verdicts is False


def test_the_command_line_and_config_fill_the_plan_and_it_pickles_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "driver-env"))
    monkeypatch.setenv(OFFLINE_ENV, "0")
    monkeypatch.delenv(NO_CACHE_ENV, raising=False)
    config = Config(tmp_path / ".aind-bucket-lint.yaml", {"schema-cache": "shared/cache", "offline": True})
    convention = load_convention("aind-open-data")
    plan = build_plan(["bucket"], AuditOptions(schema_cache=str(tmp_path / "opt")), config, convention)
    assert plan.schemas == SchemaSettings(tmp_path / "opt", offline=True)  # the config's offline
    plan = build_plan(["bucket"], AuditOptions(offline=False), config, convention)
    assert plan.schemas == SchemaSettings(tmp_path / "driver-env", offline=False)
    monkeypatch.delenv(CACHE_ENV)
    plan = build_plan(["bucket"], AuditOptions(), config, convention)
    assert plan.schemas == SchemaSettings(tmp_path / "shared" / "cache", offline=True)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "changed-later"))  # the plan was decided already
    again = pickle.loads(pickle.dumps(plan))
    assert again.schemas == SchemaSettings(tmp_path / "shared" / "cache", offline=True)


def test_a_plan_made_without_schema_settings_takes_the_environment_when_it_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "first"))
    monkeypatch.setenv(OFFLINE_ENV, "1")
    monkeypatch.delenv(NO_CACHE_ENV, raising=False)
    plan = RunPlan(load_convention("aind-open-data"), load_rules())
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "second"))
    monkeypatch.setenv(OFFLINE_ENV, "0")
    assert plan.schemas == SchemaSettings(tmp_path / "first", offline=True)
    assert pickle.loads(pickle.dumps(plan)).schemas == plan.schemas

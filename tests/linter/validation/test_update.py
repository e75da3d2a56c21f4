"""``schemas update`` and the refresh before an unknown version, against package indexes the tests
build (wheels of a fake aind-data-schema with new versions, served from a folder as a PEP 503
index over ``file://`` or a loopback http.server, or as PEP 691 JSON with upload times). Never
the network: uv runs offline here, so the fake release is never looked up on PyPI either.
"""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from linter import validation
from linter.plan import SchemaSettings
from linter.validation import envs, update
from linter.validation.index import INDEX_ENV, PackageIndex, index_url, pip_configured_index
from linter.validation.releases import CACHED_TABLE, packaged, table
from tests.conftest import lint_findings, make_tree, run_cli
from tests.package_index import fake_wheel, serve, write_index

RAW = "ecephys_123456_2022-02-21_16-30-01"


def subject_module(version: str) -> str:
    return (
        "from typing import Literal\n\nfrom pydantic import BaseModel\n\n\n"
        f"class Subject(BaseModel):\n    schema_version: Literal[{version!r}] = {version!r}\n    subject_id: str\n"
    )


def new_release(folder: Path, version: str, subject_version: str) -> Path:
    """A wheel of aind-data-schema ``version`` whose Subject declares ``subject_version``."""
    return fake_wheel(
        folder,
        "aind-data-schema",
        version,
        {"aind_data_schema/__init__.py": "", "aind_data_schema/core/subject.py": subject_module(subject_version)},
        requires=["pydantic>=2.10", "aind-data-schema-models>=6"],
    )


def make_index(root: Path, *releases: tuple[str, str]) -> Path:
    """An index listing every release the packaged table knows (by name) and the new ones (wheels),
    with pydantic and aind-data-schema-models releases to pin."""
    wheels = root / "wheels"
    known = [f"aind_data_schema-{v}-py3-none-any.whl" for v in packaged().known]
    new = [new_release(wheels, version, subject) for version, subject in releases]
    return write_index(
        root / "simple",
        {
            "aind-data-schema": [*known, *new],
            "pydantic": [f"pydantic-{v}-py3-none-any.whl" for v in ("1.10.27", "2.11.10", "2.12.0")],
            "aind-data-schema-models": [f"aind_data_schema_models-{v}-py3-none-any.whl" for v in ("6.3.1", "6.4.0")],
        },
    )


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh cache folder, online, uv offline (a release the test made is never looked up)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(envs.CACHE_ENV, str(folder))
    monkeypatch.setenv(envs.OFFLINE_ENV, "0")
    monkeypatch.setenv("UV_OFFLINE", "1")
    validation.reset()
    yield folder
    validation.reset()


def subject_file(version: str) -> str:
    return json.dumps({"schema_version": version, "subject_id": "123456"})


def test_schemas_update_adds_the_new_releases_from_a_file_index(cache: Path, tmp_path: Path) -> None:
    index = make_index(tmp_path / "index", ("9.0.0", "9.9.9"))
    url = index.as_uri() + "/"
    assert table().resolve("subject", "9.9.9").release is None
    result = run_cli("schemas", "update", "--index-url", url)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == f"added 1 release(s) from {url}: 9.0.0 (1 model version(s) no earlier release declared)"
    assert lines[1].startswith("release table: made ") and lines[1].endswith(f"({cache / CACHED_TABLE})")
    res = table().resolve("subject", "9.9.9")
    assert res.release is not None and res.release.version == "9.0.0"
    assert res.declared_by == ("9.0.0",)
    # the index gives no upload times: the newest versions the release's requirements allow
    assert res.release.pins == {"pydantic": "2.12.0", "aind-data-schema-models": "6.4.0"}
    assert res.release.requirements() == [
        "aind-data-schema==9.0.0",
        "aind-data-schema-models==6.4.0",
        "pydantic==2.12.0",
    ]
    assert res.classes == (("aind_data_schema.core.subject", "Subject"),)
    assert table().made > packaged().made and "9.0.0" in table().known
    # what the packaged table knew stays as it was
    assert table().resolve("subject", "2.3.3").release == packaged().resolve("subject", "2.3.3").release
    # again: nothing new
    again = run_cli("schemas", "update", "--index-url", url, "--format", "json")
    doc = json.loads(again.out)
    assert again.code == 0 and doc["added"] == [] and doc["index"] == url
    assert doc["table"]["source"] == str(cache / CACHED_TABLE)
    checked = json.loads((cache / update.CHECKED).read_text(encoding="utf-8"))
    assert list(checked) == [url] and checked[url]["ok"] is True and checked[url]["added"] == []


def test_schemas_update_honours_pip_index_url_over_http(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = make_index(tmp_path / "index", ("9.0.0", "9.9.9"), ("9.1.0", "9.9.10"))
    monkeypatch.delenv(INDEX_ENV, raising=False)
    with serve(index) as url:
        monkeypatch.setenv("PIP_INDEX_URL", url)
        result = run_cli("schemas", "update")
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == (
        f"added 2 release(s) from {url}: 9.0.0, 9.1.0 (2 model version(s) no earlier release declared)"
    )
    assert table().resolve("subject", "9.9.10").release.version == "9.1.0"  # type: ignore[union-attr]


def test_schemas_update_says_why_it_cannot(cache: Path, tmp_path: Path) -> None:
    empty = write_index(tmp_path / "empty", {"pydantic": ["pydantic-2.12.0-py3-none-any.whl"]})
    result = run_cli("schemas", "update", "--index-url", empty.as_uri())
    assert result.code == 2 and result.out == ""
    assert result.err.strip() == (
        f"aind-bucket-lint: cannot refresh the release table from {empty.as_uri()}/: {empty.as_uri()}/"
        f"aind-data-schema/: no such project on the index (no folder {empty / 'aind-data-schema'})"
    )
    assert not (cache / CACHED_TABLE).exists()


class _Pep691(http.server.SimpleHTTPRequestHandler):
    """Serves ``<project>/index.json`` as PEP 691 JSON to a client that accepts it."""

    def do_GET(self) -> None:
        page = Path(self.directory) / self.path.strip("/") / "index.json"
        if "application/vnd.pypi.simple.v1+json" in self.headers.get("Accept", "") and page.is_file():
            body = page.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve_pep691(root: Path) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Pep691, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _json_page(folder: Path, files: dict[str, str]) -> None:
    """A PEP 691 page: {file name: upload time}; a file present in ``folder`` is linked by name."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = [{"filename": n, "url": n, "hashes": {}, "upload-time": t} for n, t in files.items()]
    (folder / "index.json").write_text(json.dumps({"meta": {"api-version": "1.1"}, "files": entries}))


def test_era_pins_from_the_upload_times_of_a_pep691_index(cache: Path, tmp_path: Path) -> None:
    """Each new release is pinned to what was published before the next release came out."""
    root = tmp_path / "index"
    new_release(root / "aind-data-schema", "9.0.0", "9.9.9")
    new_release(root / "aind-data-schema", "9.1.0", "9.9.10")
    old = "2020-01-01T00:00:00Z"
    _json_page(
        root / "aind-data-schema",
        {
            **{f"aind_data_schema-{v}-py3-none-any.whl": old for v in packaged().known},
            "aind_data_schema-9.0.0-py3-none-any.whl": "2030-01-01T00:00:00Z",
            "aind_data_schema-9.1.0-py3-none-any.whl": "2030-03-01T00:00:00Z",
        },
    )
    _json_page(
        root / "pydantic",
        {"pydantic-2.11.10-py3-none-any.whl": old, "pydantic-2.12.0-py3-none-any.whl": "2030-04-01T00:00:00Z"},
    )
    _json_page(
        root / "aind-data-schema-models",
        {"aind_data_schema_models-6.3.1-py3-none-any.whl": old, "aind_data_schema_models-6.4.0-py3-none-any.whl": old},
    )
    with serve_pep691(root) as url:
        releases = PackageIndex(url).releases("aind-data-schema")
        assert releases[max(releases)] == dt.datetime(2030, 3, 1, tzinfo=dt.UTC)
        result = update.update(url)
    assert result is not None and result.added == ("9.0.0", "9.1.0")
    # 9.0.0's era ended when 9.1.0 came out, before pydantic 2.12.0; 9.1.0's has not ended
    assert table().releases["9.0.0"].pins == {"pydantic": "2.11.10", "aind-data-schema-models": "6.4.0"}
    assert table().releases["9.0.0"].published == "2030-01-01T00:00:00Z"
    assert table().releases["9.1.0"].pins == {"pydantic": "2.12.0", "aind-data-schema-models": "6.4.0"}


def test_an_online_run_refreshes_before_an_unknown_version_once_a_day(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = make_index(tmp_path / "index", ("9.0.0", "9.9.9"))
    url = index.as_uri() + "/"
    monkeypatch.setenv(INDEX_ENV, url)
    bucket = make_tree(tmp_path / "bucket", {f"{RAW}/subject.json": subject_file("9.9.9")})
    found = lint_findings(bucket, select=["M203", "M204"])
    # the table learnt 9.0.0 first; its environment cannot be made here (uv offline), and it says so
    assert [(f.rule, f.details["problem"], f.details["release"]) for f in found] == [("M204", "not-prepared", "9.0.0")]
    assert found[0].details["command"] == "aind-bucket-lint schemas install 9.0.0"
    checked = json.loads((cache / update.CHECKED).read_text(encoding="utf-8"))
    assert checked[url]["added"] == ["9.0.0"]

    # a release published later the same day: not asked for again before a day has passed
    index = make_index(tmp_path / "index", ("9.0.0", "9.9.9"), ("9.1.0", "9.9.10"))
    bucket = make_tree(tmp_path / "bucket2", {f"{RAW}/subject.json": subject_file("9.9.10")})
    validation.reset()
    update._done.clear()  # a new process
    found = lint_findings(bucket, select=["M204"])
    assert [(f.rule, f.details["problem"], f.details["nearest"]) for f in found] == [
        ("M204", "unknown-version", ["2.3.3", "9.9.9"])
    ]
    # a day later it is
    checked[url]["at"] = "2000-01-01T00:00:00Z"
    (cache / update.CHECKED).write_text(json.dumps(checked), encoding="utf-8")
    update._done.clear()
    validation.reset()
    found = lint_findings(bucket, select=["M204"])
    assert [(f.details["problem"], f.details.get("release")) for f in found] == [("not-prepared", "9.1.0")]


def test_offline_the_m204_names_the_table_date_and_the_command(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(envs.OFFLINE_ENV, "1")
    bucket = make_tree(tmp_path / "bucket", {f"{RAW}/subject.json": subject_file("9.9.9")})
    result = run_cli("check", str(bucket), "--select", "M204", "--offline", "--format", "json")
    assert result.code == 0
    (finding,) = result.json()["findings"]
    day = packaged().made[:10]
    assert finding["message"] == (
        "subject.json: no published aind-data-schema release declares subject schema_version 9.9.9; nearest "
        f"published versions: 2.3.2, 2.3.3; the release table is of {day} (offline): "
        "`aind-bucket-lint schemas update` adds newer releases; it cannot be validated"
    )
    assert finding["details"]["release_table"] == day
    assert finding["details"]["command"] == "aind-bucket-lint schemas update"
    assert not (cache / update.CHECKED).exists()  # nothing was asked
    # a version below the newest published one: no newer release will declare it, no hint
    bucket = make_tree(tmp_path / "bucket2", {f"{RAW}/subject.json": subject_file("2.0.99")})
    result = run_cli("check", str(bucket), "--select", "M204", "--offline", "--format", "json")
    (finding,) = result.json()["findings"]
    assert "schemas update" not in finding["message"] and "command" not in finding["details"]


def test_the_run_settings_not_the_environment_choose_the_table_the_refresh_and_offline(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker validates with the plan's cache folder and offline mode, whatever its own
    environment says (here: the fixture's cache folder, and offline)."""
    index = make_index(tmp_path / "index", ("9.0.0", "9.9.9"))
    url = index.as_uri() + "/"
    monkeypatch.setenv(INDEX_ENV, url)
    monkeypatch.setenv(envs.OFFLINE_ENV, "1")
    online = SchemaSettings(tmp_path / "online-cache", offline=False)
    verdict = validation.validate("subject", "9.9.9", subject_file("9.9.9"), settings=online)
    # refreshed into the run's cache folder: 9.0.0 declares it; uv (offline here) cannot prepare it
    assert (verdict.status, verdict.release) == ("unavailable", "9.0.0")
    assert json.loads((online.cache / update.CHECKED).read_text(encoding="utf-8"))[url]["added"] == ["9.0.0"]
    assert table(online).source == str(online.cache / CACHED_TABLE)
    assert not (cache / update.CHECKED).exists() and table() is packaged()
    assert table(online).resolve("subject", "9.9.9").release.version == "9.0.0"  # type: ignore[union-attr]

    monkeypatch.setenv(envs.OFFLINE_ENV, "0")
    offline = SchemaSettings(tmp_path / "offline-cache", offline=True)
    verdict = validation.validate("subject", "9.9.9", subject_file("9.9.9"), settings=offline)
    assert verdict.status == "unknown-version" and verdict.command == update.COMMAND and verdict.awaits_release
    assert verdict.message is not None and verdict.message.endswith(
        f"the release table is of {packaged().day} (offline): `aind-bucket-lint schemas update` adds newer releases"
    )
    assert not (offline.cache / update.CHECKED).exists() and not (cache / update.CHECKED).exists()


def test_the_index_comes_from_the_option_the_environment_or_pip(tmp_path: Path) -> None:
    config = tmp_path / "pip.conf"
    config.write_text("[global]\nindex-url = https://mirror.example/simple\n[download]\nindex-url = /srv/idx\n")
    assert pip_configured_index([config]) == "/srv/idx"
    environ = {"PIP_INDEX_URL": "https://pip.example/simple", INDEX_ENV: "https://ours.example/simple"}
    assert index_url("https://given.example/simple", environ) == "https://given.example/simple/"
    assert index_url(None, environ) == "https://ours.example/simple/"
    assert index_url(None, {"PIP_INDEX_URL": "https://pip.example/simple"}) == "https://pip.example/simple/"
    assert index_url(str(tmp_path), {}) == tmp_path.as_uri() + "/"

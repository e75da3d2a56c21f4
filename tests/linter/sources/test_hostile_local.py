"""A hostile bucket on a local disk, and hostile config, convention and ledger files: the linter
never crashes, never hangs, never passes in silence, and every report it writes is whole and
valid. Each test builds its own adversarial case."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from linter.sources import Asset
from linter.store.db import connect
from tests.conftest import REPO, REPORT_SCHEMA, CliResult, make_tree, run_cli, validate_jsonl
from tests.third_party import sarif_validator

RAW = "ecephys_123456_2022-12-12_05-06-07"
OTHER = "ecephys_123457_2022-12-12_05-06-07"
BAD_BYTES_NAME = b"ecephys_123458_2022-12-12_05-06-0\xff"  # not UTF-8


def sidecar(**fields: object) -> str:
    return json.dumps({"schema_version": "2.4.2", **fields})


def findings(result: CliResult) -> list[tuple[str, str | None, str]]:
    return [(f["rule"], f["path"], f["message"]) for f in result.json()["findings"]]


def linter_process(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[bytes]:
    """The real command line in its own process (its own stdout encoding; a hang is a failure)."""
    return subprocess.run(
        [sys.executable, "-m", "linter", *args],
        capture_output=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


# --- 1. text that cannot be encoded -----------------------------------------------------------


@pytest.fixture
def unencodable(tmp_path: Path) -> Path:
    """An asset folder and a file whose names are not UTF-8, and a sidecar holding a lone surrogate."""
    bucket = tmp_path / "bucket"
    make_tree(bucket, {f"{RAW}/data_description.json": '{"name": "\\ud800", "schema_version": "2.4.2"}'})
    folder = os.fsencode(bucket) + b"/" + BAD_BYTES_NAME
    os.mkdir(folder)
    with open(folder + b"/subject.json", "wb") as fh:
        fh.write(b"{}")
    with open(os.fsencode(bucket / RAW) + b"/raw-\xfe.bin", "wb") as fh:
        fh.write(b"x")
    return bucket


SHOWN = "ecephys_123458_2022-12-12_05-06-0\\xff"


def test_unencodable_text_in_every_report_format(unencodable: Path, tmp_path: Path) -> None:
    result = run_cli("check", str(unencodable), "--format", "json", "--select", "N101,M202,E9")
    assert result.code == 1, result.err
    assert findings(result) == [
        (
            "M202",
            f"{RAW}/data_description.json",
            'data_description.json is not valid JSON for AIND: the string "\\ud800" at $.name (line 1, column 10) '
            "holds a lone UTF-16 surrogate, which is not a character; aind-data-schema's model_validate_json "
            "rejects it",
        ),
        (
            "N101",
            SHOWN,
            f"{SHOWN!r} is not a raw or derived asset name: date '2022-12-12' is not followed by a time token HH-MM-SS",
        ),
    ]
    assert [a["name"] for a in result.json()["assets"]] == [RAW, SHOWN]
    jsonl = run_cli("check", str(unencodable), "--format", "jsonl", "--select", "N101,M202,E9")
    assert jsonl.code == 1 and [line["type"] for line in jsonl.lines()].count("finding") == 2
    for fmt in ("sarif", "github", "markdown", "text"):
        out = tmp_path / f"report.{fmt}"
        res = run_cli("check", str(unencodable), "--format", fmt, "--output", str(out), "--select", "N101,M202,E9")
        assert res.code == 1, (fmt, res.err)
        text = out.read_text(encoding="utf-8")  # strict UTF-8: it would raise on a lone surrogate
        assert SHOWN in text.replace("\\\\", "\\"), fmt
        if fmt == "sarif":
            doc = json.loads(text)
            assert doc["runs"][0]["results"][1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
                "ecephys_123458_2022-12-12_05-06-0%5Cxff"
            )
            sarif_validator().validate(doc)


@pytest.mark.parametrize("encoding", ["utf-8:strict", "ascii:strict"])
@pytest.mark.parametrize("fmt", ["json", "jsonl", "sarif", "text", "github", "markdown"])
def test_unencodable_text_on_a_strict_stdout(unencodable: Path, encoding: str, fmt: str) -> None:
    res = linter_process(
        "check", str(unencodable), "--format", fmt, "--select", "N101,M202,E9", env={"PYTHONIOENCODING": encoding}
    )
    assert res.returncode == 1, res.stderr.decode()
    assert b"Traceback" not in res.stderr
    text = res.stdout.decode("ascii" if encoding.startswith("ascii") else "utf-8")
    if fmt == "json":
        REPORT_SCHEMA.validate(json.loads(text))
    elif fmt == "jsonl":
        validate_jsonl([json.loads(line) for line in text.splitlines()])
    elif fmt == "sarif":
        doc = json.loads(text)
        sarif_validator().validate(doc)
        assert doc["runs"][0]["properties"]["complete"] is True
    else:
        assert "ecephys_123458_2022-12-12_05-06-0" in text


def test_unencodable_names_in_the_ledger_across_runs(unencodable: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.db"
    args = ("check", str(unencodable), "--ledger", str(ledger), "--select", "I4,E9", "--format", "json")
    first, second = run_cli(*args), run_cli(*args)
    assert (first.code, second.code) == (0, 0), (first.err, second.err)
    assert findings(second) == []  # the same keys both nights: nothing looks changed or deleted
    db = connect(ledger)
    keys = sorted(k for (k,) in db.execute("SELECT key FROM object_history WHERE asset = ?", (RAW,)))
    assert keys == ["data_description.json", "raw-\\xfe.bin"]


# --- 2. deep trees ------------------------------------------------------------------------------


def test_a_tree_deeper_than_the_recursion_limit() -> None:
    # outside pytest's own temporary folders: pytest removes old ones with a recursive rmtree,
    # which this tree would break for every later run if a run were killed before cleaning up
    tmp_path = Path(tempfile.mkdtemp(prefix="aind-bucket-lint-deep-"))
    asset = tmp_path / RAW
    make_tree(asset, {"data_description.json": sidecar(name=RAW)})
    depth = sys.getrecursionlimit() + 300
    fd = os.open(asset, os.O_RDONLY)
    try:
        for _ in range(depth):  # one folder inside the other, made relative to the last
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        with open(os.open("leaf.bin", os.O_WRONLY | os.O_CREAT, dir_fd=fd), "wb") as fh:
            fh.write(b"x")
    finally:
        os.close(fd)
    try:
        result = run_cli("check", str(tmp_path), "--format", "json", "--select", "L,E9")
        assert result.code == 0, result.err
        assert [(a["name"], a["objects"]) for a in result.json()["assets"]] == [(RAW, 2)]
    finally:
        remove_deep(asset / "d")
        shutil.rmtree(tmp_path)


def remove_deep(top: Path) -> None:
    """Remove a chain of nested folders deeper than shutil.rmtree's recursion can go."""
    spare = top.parent.parent / "spare"
    while (top / "d").exists():
        os.rename(top / "d", spare)  # lift the inner chain up one level, then drop the emptied folder
        shutil.rmtree(top)
        os.rename(spare, top)
    shutil.rmtree(top)


# --- 3. special files ---------------------------------------------------------------------------


def test_a_fifo_sidecar_is_reported_and_never_waited_on(tmp_path: Path) -> None:
    make_tree(tmp_path, {f"{RAW}/data_description.json": sidecar(name=RAW)})
    os.mkfifo(tmp_path / RAW / "subject.json")
    os.mkfifo(tmp_path / "notes.fifo")
    res = linter_process("check", str(tmp_path), "--format", "json", "--select", "M202,E9,L302", timeout=60)
    assert res.returncode == 2, res.stderr.decode()
    doc = json.loads(res.stdout)
    REPORT_SCHEMA.validate(doc)
    assert doc["complete"] is False
    assert [(f["rule"], f["path"], f["message"]) for f in doc["findings"]] == [
        ("E901", "notes.fifo", "cannot read notes.fifo: not a regular file (a FIFO); not read"),
        ("L302", "notes.fifo", "file 'notes.fifo' at the target root belongs to no asset"),
        (
            "E901",
            f"{RAW}/subject.json",
            f"cannot read {RAW}/subject.json: not a regular file (a FIFO); not read",
        ),
    ]


@pytest.mark.skipif(not hasattr(os, "mknod"), reason="no os.mknod on this platform")
def test_a_device_node_is_never_read(tmp_path: Path) -> None:
    make_tree(tmp_path, {f"{RAW}/data_description.json": sidecar(name=RAW)})
    try:
        os.mknod(tmp_path / RAW / "subject.json", stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD (root); the FIFO test covers special files")
    result = run_cli("check", str(tmp_path), "--format", "json", "--select", "M202,E9")
    assert result.code == 2
    assert findings(result) == [
        (
            "E901",
            f"{RAW}/subject.json",
            f"cannot read {RAW}/subject.json: not a regular file (a character device); not read",
        )
    ]


# --- 4. YAML alias bombs and 5. numbers without bounds ------------------------------------------

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(8)
)


def test_an_alias_bomb_in_a_config_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / ".aind-bucket-lint.yaml"
    config.write_text(BOMB + "select: *i\n", encoding="utf-8")
    (tmp_path / RAW).mkdir()
    result = run_cli("check", str(tmp_path), "--config", str(config))
    assert result.code == 2
    assert result.err == (
        f"aind-bucket-lint: {config}: line 2, column 8: YAML aliases (*a) are not allowed in this file; "
        "write the value out\n"
    )


def test_an_alias_bomb_in_a_convention_file_is_refused(tmp_path: Path) -> None:
    convention = tmp_path / "convention.yaml"
    convention.write_text("convention_version: 1\nname: bomb\n" + BOMB + "names: {modalities: *i}\n", encoding="utf-8")
    (tmp_path / RAW).mkdir()
    result = run_cli("check", str(tmp_path), "--convention", str(convention))
    assert result.code == 2
    assert result.err == (
        f"aind-bucket-lint: {convention}: line 4, column 8: YAML aliases (*a) are not allowed in this file; "
        "write the value out\n"
    )


def builtin_convention() -> dict[str, object]:
    import yaml

    text = (REPO / "linter" / "conventions" / "aind-open-data.yaml").read_text(encoding="utf-8")
    data: dict[str, object] = yaml.safe_load(text)
    return data


@pytest.mark.parametrize(
    ("section", "key", "value", "error"),
    [
        (
            "metadata",
            "max_json_bytes",
            10**30,
            "at metadata/max_json_bytes: 1000000000000000000000000000000 is greater than the maximum of 268435456",
        ),
        ("metadata", "max_errors_per_file", 0, "at metadata/max_errors_per_file: 0 is less than the minimum of 1"),
        (
            "immutability",
            "upload_window",
            "9" * 30 + "d",
            "at immutability/upload_window: '" + "9" * 30 + "d' does not match",
        ),
        (
            "immutability",
            "upload_window",
            "999999999d",
            "at immutability/upload_window: '999999999d' is out of range (0s to 36500d)",
        ),
    ],
)
def test_numbers_in_a_convention_have_a_range(
    tmp_path: Path, section: str, key: str, value: object, error: str
) -> None:
    import yaml

    data = builtin_convention()
    data[section][key] = value  # type: ignore[index]
    convention = tmp_path / "convention.yaml"
    convention.write_text(yaml.safe_dump(data), encoding="utf-8")
    (tmp_path / RAW).mkdir()
    result = run_cli("check", str(tmp_path), "--convention", str(convention))
    assert result.code == 2
    assert result.err.startswith(f"aind-bucket-lint: {convention}: invalid convention file:\n  {error}"), result.err


def test_a_huge_yaml_integer_in_a_config(tmp_path: Path) -> None:
    config = tmp_path / ".aind-bucket-lint.yaml"
    config.write_text("jobs: " + "9" * 5000 + "\n", encoding="utf-8")
    result = run_cli("check", str(tmp_path), "--config", str(config))
    assert result.code == 2
    assert result.err.startswith(f"aind-bucket-lint: {config}: not usable YAML: Exceeds the limit (4300 digits)")


# --- 10. sidecars that Python's json accepts and AIND's tools refuse ----------------------------


def test_bom_nan_infinity_duplicates_surrogates_and_huge_integers_are_m202(tmp_path: Path) -> None:
    files = {
        f"{RAW}/data_description.json": sidecar(name=RAW),  # a real M203: the model's fields are missing
        f"{RAW}/subject.json": "\ufeff" + json.dumps({"schema_version": "2.3.3"}),
        f"{RAW}/procedures.json": '{"schema_version": "2.2.3", "specimen_procedures": [{"x": NaN}]}',
        f"{RAW}/processing.json": '{"schema_version": "2.3.3",\n "notes": -Infinity}',
        f"{RAW}/instrument.json": '{"schema_version": "2.2.8", "a": {"b": 1, "b": 2}}',
        f"{RAW}/acquisition.json": '{"schema_version": "2.5.4", "n": ' + "9" * 5000 + "}",
    }
    make_tree(tmp_path, files)
    result = run_cli("check", str(tmp_path), "--format", "json", "--select", "M202,M203,M204,M206,M207,M208,M209,E9")
    assert result.code == 1, result.err
    got = findings(result)
    assert [f for f in got if f[0] == "M202"] == [
        (
            "M202",
            f"{RAW}/acquisition.json",
            "acquisition.json is not valid JSON for AIND: an integer of 5000 digits at $.n (line 1, column 34), beyond "
            "the 4300 digits a parser converts; aind-data-schema's model_validate_json rejects it as out of range",
        ),
        (
            "M202",
            f"{RAW}/instrument.json",
            "instrument.json is not valid JSON for AIND: key 'b' appears twice in the object at $.a "
            "(line 1, column 43); parsers disagree about which value counts",
        ),
        (
            "M202",
            f"{RAW}/procedures.json",
            "procedures.json is not valid JSON: NaN at $.specimen_procedures[0].x (line 1, column 59) is not a JSON "
            "number (RFC 8259)",
        ),
        (
            "M202",
            f"{RAW}/processing.json",
            "processing.json is not valid JSON: -Infinity at $.notes (line 2, column 11) is not a JSON number "
            "(RFC 8259)",
        ),
        (
            "M202",
            f"{RAW}/subject.json",
            "subject.json is not valid JSON: it starts with a UTF-8 byte order mark (U+FEFF), which aind-data-schema's "
            "model_validate_json rejects (expected value at line 1, column 1); save it as UTF-8 without BOM",
        ),
    ]
    # the huge integer hides nothing: the other file's schema errors are still there, and nothing crashed
    assert {r for r, _, _ in got} == {"M202", "M203"}
    assert {p for r, p, _ in got if r == "M203"} == {f"{RAW}/data_description.json"}


# --- 11. names that would inject into a line-based report --------------------------------------

INJECTED = "x\n::error file=README.md::pwned \u202egnp.exe"


def test_text_and_github_reports_escape_controls_bidi_and_zero_width(tmp_path: Path) -> None:
    (tmp_path / INJECTED).mkdir()
    (tmp_path / "ecephys_1234\u200b56_2022-12-12_05-06-07").mkdir()
    for fmt in ("text", "github"):
        result = run_cli("check", str(tmp_path), "--format", fmt, "--select", "N101,N104")
        assert result.code == 1
        lines = result.out.splitlines()
        assert not [line for line in lines if line.startswith("::error file=README.md")], fmt
        assert all("\u202e" not in line and "\u200b" not in line for line in lines), fmt
        # four findings, one line each: none of the data's own lines, no workflow command of its own
        assert not [line for line in lines if line.startswith("::") and "title=N10" not in line], (fmt, lines)
        assert len([line for line in lines if "N10" in line and "pwned" in line]) == 3, (fmt, lines)
    text = run_cli("check", str(tmp_path), "--format", "text", "--select", "N104").out.splitlines()
    assert text[0] == (
        "ecephys_1234\\u200b56_2022-12-12_05-06-07: N104 [error] the name holds invisible character(s) "
        "U+200B ZERO WIDTH SPACE; it shows as 'ecephys_123456_2022-12-12_05-06-07' but is another name"
    )


def test_a_zero_width_character_in_a_name_is_n104(tmp_path: Path) -> None:
    name = "ecephys_1234\u200b56_2022-12-12_05-06-07"
    (tmp_path / name).mkdir()
    result = run_cli("check", str(tmp_path), "--format", "json", "--select", "N")
    assert result.code == 1
    assert findings(result) == [
        (
            "N104",
            name,
            "the name holds invisible character(s) U+200B ZERO WIDTH SPACE; it shows as "
            "'ecephys_123456_2022-12-12_05-06-07' but is another name",
        )
    ]


# --- 7. the ledger --------------------------------------------------------------------------------


def two_asset_bucket(root: Path) -> Path:
    files: dict[str, str | bytes] = {}
    for name in (RAW, OTHER):
        files[f"{name}/data_description.json"] = sidecar(name=name)
        for i in range(40):
            files[f"{name}/ecephys/chunk_{i:04d}.bin"] = f"{name}:{i}" * 20
    return make_tree(root, files)


def test_a_damaged_ledger_is_a_clear_error(tmp_path: Path) -> None:
    bucket = two_asset_bucket(tmp_path / "bucket")
    ledger = tmp_path / "ledger.db"
    assert run_cli("check", str(bucket), "--ledger", str(ledger), "--select", "I4").code == 0
    db = sqlite3.connect(ledger)
    (root_page,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'asset_objects'").fetchone()
    (page_size,) = db.execute("PRAGMA page_size").fetchone()
    db.close()
    with open(ledger, "r+b") as fh:  # the object records' page: what the next run reads
        fh.seek(page_size * (root_page - 1))
        fh.write(b"\xff" * page_size)
    out = tmp_path / "report.json"
    result = run_cli(
        "check", str(bucket), "--ledger", str(ledger), "--select", "I4", "--format", "json", "-o", str(out)
    )
    assert result.code == 2
    assert result.err.splitlines()[-1] == (
        f"aind-bucket-lint: {ledger}: the file is damaged; restore it from a backup or give a new --ledger "
        "(SQLite: database disk image is malformed)"
    )
    assert "Traceback" not in result.err


def test_a_read_only_ledger_is_a_clear_error(tmp_path: Path) -> None:
    bucket = two_asset_bucket(tmp_path / "bucket")
    ledger = tmp_path / "ledger.db"
    assert run_cli("check", str(bucket), "--ledger", str(ledger), "--select", "I4").code == 0
    ledger.chmod(0o444)
    command = ["check", str(bucket), "--ledger", str(ledger), "--select", "I4"]
    if os.geteuid() == 0:  # root writes whatever the mode: run without the capability that allows it
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: a read-only file cannot be made")
        drop = "-dac_override,-dac_read_search"
        res = subprocess.run(
            [setpriv, "--bounding-set", drop, "--inh-caps", drop, sys.executable, "-m", "linter", *command],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        code, err = res.returncode, res.stderr
    else:
        result = run_cli(*command)
        code, err = result.code, result.err
    assert code == 2
    assert err.splitlines()[-1] == (
        f"aind-bucket-lint: {ledger}: the ledger is read-only; give a writable --ledger "
        "(SQLite: attempt to write a readonly database)"
    )


# --- an exception escaping the engine -------------------------------------------------------------


@pytest.fixture
def exploding_source() -> Iterator[str]:
    """A third-party source whose listing of one asset raises: an exception out of the engine."""
    from linter.sources import register_source, unregister_source
    from tests.linter.test_engine import MemorySource

    class Exploding(MemorySource):
        def load_asset(self, name: str) -> Asset:
            if name == OTHER:
                raise RuntimeError("the plugin's backend went away")
            return super().load_asset(name)

    store = {RAW: {"data_description.json": b"{}"}, OTHER: {"data_description.json": b"{}"}}
    register_source("boom://", lambda target, plan: Exploding(target, store, {}))
    try:
        yield "boom://lab"
    finally:
        unregister_source("boom://")


def test_an_exception_out_of_the_engine_exits_2_and_the_stream_says_incomplete(exploding_source: str) -> None:
    result = run_cli("check", exploding_source, "--format", "jsonl", "--select", "N,E9", "--jobs", "1")
    assert result.code == 2
    [line] = result.err.splitlines()
    assert line.startswith(
        "aind-bucket-lint: internal error, the run is incomplete: RuntimeError: the plugin's backend went away at "
    )
    lines = result.lines()  # header, no finding, and the summary line
    assert lines[-1]["type"] == "summary" and lines[-1]["complete"] is False


def test_an_exception_out_of_the_engine_leaves_a_whole_report_file(exploding_source: str, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    out.write_text("yesterday's report\n", encoding="utf-8")
    result = run_cli("check", exploding_source, "--format", "json", "--select", "N,E9", "--jobs", "1", "-o", str(out))
    assert result.code == 2
    doc = json.loads(out.read_text(encoding="utf-8"))
    REPORT_SCHEMA.validate(doc)
    assert doc["complete"] is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]  # no temporary file left behind


# --- unknown rule codes under severity -----------------------------------------------------------


def test_an_unknown_rule_code_under_severity_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / ".aind-bucket-lint.yaml"
    config.write_text("severity: {M201: warning, M299: info, X123: error}\n", encoding="utf-8")
    (tmp_path / RAW).mkdir()
    result = run_cli("check", str(tmp_path), "--config", str(config))
    assert result.code == 2
    assert result.err == (
        f"aind-bucket-lint: {config} severity: unknown rule codes M299, X123 (see `aind-bucket-lint rules`)\n"
    )


def test_an_unknown_rule_code_under_a_conventions_severity_is_an_error(tmp_path: Path) -> None:
    import yaml

    data = builtin_convention()
    data["severity"] = {"N109": "info"}
    convention = tmp_path / "convention.yaml"
    convention.write_text(yaml.safe_dump(data), encoding="utf-8")
    (tmp_path / RAW).mkdir()
    result = run_cli("check", str(tmp_path), "--convention", str(convention))
    assert result.code == 2
    assert result.err == (
        f"aind-bucket-lint: {convention} severity: unknown rule code N109 (see `aind-bucket-lint rules`)\n"
    )


# --- 6. inventory rows and manifests -------------------------------------------------------------


def inventory(tmp_path: Path, manifest: object | bytes, rows: list[list[str]] | None = None) -> Path:
    """A local S3 Inventory report (CSV.gz) of bucket ``b``: the manifest as given, and one data file."""
    import csv
    import gzip
    import io

    folder = tmp_path / "inv"
    (folder / "data").mkdir(parents=True)
    text = io.StringIO()
    csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows or [])
    (folder / "data" / "part-0.csv.gz").write_bytes(gzip.compress(text.getvalue().encode()))
    path = folder / "manifest.json"
    path.write_bytes(manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode())
    return path


def manifest(files: object = None) -> dict[str, object]:
    return {
        "sourceBucket": "b",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, Size, LastModifiedDate, ETag",
        "files": [{"key": "data/part-0.csv.gz"}] if files is None else files,
    }


GOOD_ROW = ["b", f"{RAW}/data_description.json", "120", "2024-01-01T00:00:00.000Z", "abc"]


@pytest.mark.parametrize(
    ("report", "rows", "message"),
    [
        (b"{not json", None, "{path}: the inventory manifest is not valid JSON: Expecting property name enclosed in "
         "double quotes at line 1, column 2"),
        (b'{"files": [1, 2]}', None, "{path}: files[0] is not an inventory file entry (an object with a 'key'): 1"),
        (manifest([{"size": 3}]), None, "{path}: files[0] is not an inventory file entry (an object with a 'key'): "
         "{'size': 3}"),
        (manifest(), [GOOD_ROW, ["b", f"{RAW}/x.bin", "twelve", "2024-01-01T00:00:00.000Z", "e"]],
         "inventory file data/part-0.csv.gz, row 2: Size 'twelve' is not a number of bytes"),
        (manifest(), [["b", f"{RAW}/x.bin", "9" * 40, "2024-01-01T00:00:00.000Z", "e"]],
         "inventory file data/part-0.csv.gz, row 1: Size '" + "9" * 40 + "' is not a number of bytes"),
        (manifest(), [["b", f"{RAW}/x.bin", "1", "last tuesday", "e"]],
         "inventory file data/part-0.csv.gz, row 1: LastModifiedDate 'last tuesday' is not a date and time"),
    ],
)  # fmt: skip
def test_a_malformed_inventory_is_a_clear_error(
    tmp_path: Path, report: object, rows: list[list[str]] | None, message: str
) -> None:
    path = inventory(tmp_path, report, rows)
    result = run_cli("check", "s3://b", "--inventory", str(path), "--select", "N,L", "--format", "json")
    assert result.code == 2
    expected = message.replace("{path}", str(path))
    assert result.err == f"aind-bucket-lint: {expected}\n"
    assert findings(result) == [("E901", None, expected)]


# --- 12. the sidecar byte budget -----------------------------------------------------------------


def test_the_sidecar_budget_bounds_what_is_validated_at_once(tmp_path: Path) -> None:
    """Eight workers over twelve assets of ~40 KB of sidecars each, with a budget of 100 KB: at
    most two assets' sidecars are judged at once (a content rule that lingers counts them), the
    bytes held never pass the budget, and the findings are those of an unbounded run."""
    import threading
    import time

    from linter.conventions import load_convention
    from linter.engine import Linter
    from linter.findings import Severity, Violation
    from linter.plan import RunPlan
    from linter.registry import Rule, load_rules, select_rules
    from linter.work import sidecar_budget

    files: dict[str, str | bytes] = {}
    for i in range(12):
        name = f"ecephys_{100000 + i}_2022-12-12_05-06-07"
        files[f"{name}/data_description.json"] = sidecar(name=name, notes="n" * 20_000)
        files[f"{name}/subject.json"] = json.dumps({"schema_version": "2.3.3", "notes": "s" * 20_000})
    make_tree(tmp_path, files)
    convention = load_convention("aind-open-data")
    lock = threading.Lock()
    running = [0, 0]  # now, most at once

    def lingering(ctx: object) -> Iterator[Violation]:
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return iter(())

    slow = Rule("X901", "slow-reader", Severity.INFO, "Takes its time.", lingering, "asset", "tests", True)
    rules = {**select_rules(load_rules(), ["M2", "E9"], []), "X901": slow}

    def run(budget: int) -> tuple[list[object], int, int, int]:
        running[:] = [0, 0]
        plan = RunPlan(convention, rules, jobs=8, executor="threads", sidecar_budget=budget)
        with Linter(plan) as linter:
            found = [(f.rule, f.path, f.message) for r in linter.lint_target(str(tmp_path)) for f in r.findings]
        spent = sidecar_budget(budget)
        return found, spent.peak, spent.held, running[1]

    bounded, peak, held, at_once = run(100_001)  # a capacity of this test's own: budgets are per process
    unbounded, _, _, free_at_once = run((1 << 40) + 1)
    assert bounded == unbounded and len(bounded) > 12
    assert 40_000 < peak <= 100_001 and held == 0
    assert at_once <= 2 < free_at_once

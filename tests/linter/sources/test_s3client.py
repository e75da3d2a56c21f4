"""What the live S3 source and the inventory share, and that neither imports the other."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

from linter.conventions import load_convention
from linter.plan import S3Settings
from linter.sources.s3client import S3Connection, S3Prefix, S3Reader, S3SourceError
from linter.sources.s3client import parse_s3_url as parse

CONVENTION = load_convention("aind-open-data")
RAW = "ecephys_123456_2022-12-12_05-06-07"


def test_urls() -> None:
    assert parse("s3://bucket") == ("bucket", "")
    assert parse("s3://bucket/a/b") == ("bucket", "a/b/")
    assert parse("s3://bucket//a/") == ("bucket", "a/")
    with pytest.raises(S3SourceError, match=r"^gs://x: not an s3:// URL \(expected s3://BUCKET\[/PREFIX/\]\)$"):
        parse("gs://x")


def test_a_prefix_named_like_an_asset_is_that_asset() -> None:
    whole = S3Prefix.of("s3://open", CONVENTION)
    assert (whole.root, whole.leaf, whole.url, whole.last_part) == ("", None, "s3://open/", None)
    staging = S3Prefix.of("s3://open/staging", CONVENTION)
    assert (staging.root, staging.leaf, staging.single_asset) == ("staging/", None, False)
    one = S3Prefix.of(f"s3://open/staging/{RAW}", CONVENTION)
    assert (one.given, one.root, one.leaf, one.url) == (f"staging/{RAW}/", "staging/", RAW, "s3://open/staging/")


def test_a_prefix_holding_a_description_and_no_folders_is_one_asset_once_listed() -> None:
    lab = S3Prefix.of("s3://open/lab/misnamed", CONVENTION)
    assert not lab.single_asset
    assert lab.holds_one_asset([], {"data_description.json", "a.txt"}, CONVENTION)
    assert not lab.holds_one_asset(["child"], {"data_description.json"}, CONVENTION)  # a folder of assets
    assert not lab.holds_one_asset([], {"a.txt"}, CONVENTION)
    assert not S3Prefix.of("s3://open", CONVENTION).holds_one_asset([], {"data_description.json"}, CONVENTION)
    one = lab.as_asset()
    assert (one.root, one.leaf, one.given) == ("lab/", "misnamed", "lab/misnamed/")


def test_a_reader_pickles_without_its_connection() -> None:
    settings = S3Settings(endpoint_url="http://127.0.0.1:1", region="us-west-2")
    connection = S3Connection("open", settings, 12)
    reader = connection.reader("staging/")
    assert reader.client() is connection.client
    again = pickle.loads(pickle.dumps(reader))
    assert isinstance(again, S3Reader) and again._owner is None
    assert (again.bucket, again.root_prefix, again.settings, again.pool) == ("open", "staging/", settings, 12)


@pytest.mark.parametrize(("module", "other"), [("s3", "inventory"), ("inventory", "s3")])
def test_the_live_source_and_the_inventory_do_not_import_each_other(module: str, other: str) -> None:
    code = (
        "import sys\n"
        f"import linter.sources.{module}\n"
        f"assert 'linter.sources.{other}' not in sys.modules\n"
        "assert 'linter.sources.s3client' in sys.modules\n"
        "print('ok')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert (res.returncode, res.stdout, res.stderr) == (0, "ok\n", "")

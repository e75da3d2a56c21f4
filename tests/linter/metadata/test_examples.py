"""The example bucket shows every M2xx code (and L304), and holds assets with no finding at all;
the same bucket in a real S3 server (SeaweedFS) gives the same metadata findings. The committed
folder is exactly what the fixture builder makes (scripts/make_example_bucket.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import fixtures
from tests.conftest import REPO, lint_findings
from tests.s3_audit_helpers import aws_env, findings_of, make_linter, put_files, run_linter
from tests.s3_fixtures import BucketHandle
from tests.s3server import SeaweedServer

__all__ = ["aws_env"]  # a fixture, used by name

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning:aind_data_schema"),
]

BUCKET = REPO / "examples" / "bucket"
VALID_1X = fixtures.EXAMPLE_VALID_1X
VALID_2X = fixtures.EXAMPLE_VALID_2X
BAD = fixtures.EXAMPLE_BAD
DUPLICATE = fixtures.EXAMPLE_DUPLICATE
DERIVED = fixtures.EXAMPLE_DERIVED
LEGACY = fixtures.EXAMPLE_LEGACY

FUSION = "exaSPIM_674191_2023-09-12_12-37-37_flatfield-correction_2023-11-17_00-21-42_fusion_2023-12-02_23-56-00"
CRASH = "M203"  # upstream's validate_instrument_acquisition_compatibility crashes on an ExternalDataStream

EXPECTED = [
    ("M205", f"{BAD}/acquisition.json"),
    ("M209", f"{BAD}/data_description.json"),
    ("M202", f"{BAD}/quality_control.json"),
    ("M203", f"{BAD}/subject.json"),
    ("M203", f"{BAD}/subject.json"),
    ("L304", f"{DERIVED}/data_description.json"),
    ("M203", f"{DERIVED}/data_description.json"),
    ("M207", f"{DERIVED}/data_description.json"),
    ("M210", f"{DERIVED}/results/processing.json"),
    ("M213", f"{DERIVED}/subject.json"),
    ("M206", f"{DUPLICATE}/data_description.json"),
    ("M209", f"{DUPLICATE}/data_description.json"),
    ("M208", f"{DUPLICATE}/subject.json"),
    ("M212", f"{DUPLICATE}/subject.json"),
    (CRASH, "HCR_703179_2024-03-24_00-00-00/acquisition.json"),
    (CRASH, "SmartSPIM_623711_2022-10-27_16-48-54/acquisition.json"),
    ("M214", LEGACY),  # 0.13.1 has no Metadata
    # a 0.x file, validated by the 0.x release that declares its version (0.4.0: 0.13.1)
    ("M203", f"{LEGACY}/data_description.json"),
    ("M203", f"{LEGACY}/data_description.json"),
    ("M201", f"{LEGACY}/procedures.json"),
    ("M201", f"{LEGACY}/processing.json"),
    ("M201", f"{LEGACY}/rig.json"),
    ("M201", f"{LEGACY}/session.json"),
    ("M204", f"{LEGACY}/subject.json"),
    (CRASH, f"{FUSION}/acquisition.json"),
    ("M211", f"{FUSION}/data_description.json"),  # a warning: the name's time against the acquisition's end
    (CRASH, "smartspim_653158_2023-02-29_10-00-00/acquisition.json"),
    ("M211", "smartspim_653158_2023-02-29_10-00-00/data_description.json"),  # the name's day does not exist
]


def test_committed_example_bucket_is_what_the_builder_makes() -> None:
    """Every file of examples/bucket/ byte for byte, and no other file: regenerate it with
    ``python scripts/make_example_bucket.py`` after changing tests/fixtures.py."""
    expected = {
        rel: body.encode() if isinstance(body, str) else body for rel, body in fixtures.example_bucket_files().items()
    }
    committed = {p.relative_to(BUCKET).as_posix(): p.read_bytes() for p in BUCKET.rglob("*") if p.is_file()}
    assert sorted(committed) == sorted(expected)
    assert [rel for rel in expected if committed[rel] != expected[rel]] == []


def test_example_bucket_metadata_findings() -> None:
    found = [(f.rule, f.path) for f in lint_findings(BUCKET, select=["M", "L304"])]
    assert found == EXPECTED
    assert {rule for rule, _ in found} == {f"M2{n:02d}" for n in range(1, 15)} | {"L304"}


def test_example_bucket_has_valid_assets_of_both_generations(tmp_path: Path) -> None:
    findings = lint_findings(BUCKET)
    assets_with_findings = {f.asset for f in findings}
    assert VALID_1X not in assets_with_findings and VALID_2X not in assets_with_findings
    assert '"schema_version": "1.0.4"' in (BUCKET / VALID_1X / "data_description.json").read_text(encoding="utf-8")
    assert '"schema_version": "2.4.2"' in (BUCKET / VALID_2X / "data_description.json").read_text(encoding="utf-8")


def test_example_bucket_metadata_findings_over_s3(aws_env: SeaweedServer, s3_bucket: BucketHandle) -> None:
    client, bucket = s3_bucket
    put_files(
        client, bucket, {p.relative_to(BUCKET).as_posix(): p.read_bytes() for p in BUCKET.rglob("*") if p.is_file()}
    )
    linter = make_linter(aws_env, ["M", "L304"])
    found = [(f.rule, f.path) for f in findings_of(run_linter(linter, f"s3://{bucket}/"))]
    assert found == EXPECTED

"""Z5xx on real stores written by the real libraries (tests/store_writers.py), valid and with
planted defects, in a local folder; the judging's GETs per store; the example builder's stores."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from linter.stores import StoreListing, find_stores
from linter.stores.judge import Limits, judge_store
from linter.stores.ome import validate_ome
from tests.conftest import REPO, lint_findings, run_cli
from tests.fixtures import write_files
from tests.store_fixtures import nwb_zarr, ome_zarr_v04
from tests.store_writers import real_stores

ASSET = "SPIM_700000_2024-01-01_10-00-00"
OME4 = f"{ASSET}/SPIM/image.ome.zarr"
OME5 = f"{ASSET}/SPIM/image-v3.ome.zarr"
NWBZ = f"{ASSET}/ecephys/session.nwb.zarr"
NWBH = f"{ASSET}/ecephys/session.nwb"
VOLTAGE = ("acquisition/voltage", "acquisition/voltage/data")


@pytest.fixture(scope="session")
def stores() -> dict[str, Path]:
    return real_stores()


@pytest.fixture
def bucket(tmp_path: Path, stores: dict[str, Path]) -> Path:
    """A bucket of one SPIM asset holding every real store (copies: the tests break them)."""
    root = tmp_path / "bucket"
    places = {"ome-0.4": OME4, "ome-0.5": OME5, "nwb-zarr": NWBZ, "nwb-hdf5": NWBH}
    for what, rel in places.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if stores[what].is_dir():
            shutil.copytree(stores[what], target)
        else:
            shutil.copyfile(stores[what], target)
    return root


def z_findings(root: Path) -> list[tuple[str, str | None, str]]:
    return [(f.rule, f.path, f.message) for f in lint_findings(root, select=["Z"])]


def edit_json(path: Path, change: Callable[[dict], None]) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=4))


def test_stores_written_by_the_real_libraries_are_clean(bucket: Path) -> None:
    assert z_findings(bucket) == []


def test_a_missing_resolution_level(bucket: Path) -> None:
    shutil.rmtree(bucket / OME4 / "2")
    assert z_findings(bucket) == [
        (
            "Z506",
            f"{OME4}/2/.zarray",
            "SPIM/image.ome.zarr/.zattrs: multiscales[0].datasets[2].path '2' is not an array of the store "
            "(a missing resolution level)",
        )
    ]


def test_five_axes_for_a_three_dimensional_image(bucket: Path) -> None:
    def five_axes(doc: dict) -> None:
        doc["multiscales"][0]["axes"][:0] = [{"name": "t", "type": "time"}, {"name": "c", "type": "channel"}]

    edit_json(bucket / OME4 / ".zattrs", five_axes)
    found = z_findings(bucket)
    assert [(rule, path) for rule, path, _ in found] == [("Z506", f"{OME4}/.zattrs"), ("Z506", f"{OME4}/.zattrs")]
    assert found[0][2] == (
        "SPIM/image.ome.zarr/.zattrs: multiscales[0] names 5 axes (t, c, z, y, x) but levels '0', '1', '2' "
        "have 3 dimensions"
    )
    assert found[1][2].startswith(
        "SPIM/image.ome.zarr/.zattrs: multiscales[0] names 5 axes but datasets[0].coordinateTransformations[0] "
        "(scale) has 3, "
    )


def test_a_level_larger_than_the_one_before(bucket: Path) -> None:
    def grown(doc: dict) -> None:
        doc["shape"] = [4, 32, 32]

    edit_json(bucket / OME5 / "s2" / "zarr.json", grown)
    assert z_findings(bucket) == [
        (
            "Z506",
            f"{OME5}/s2/zarr.json",
            "SPIM/image-v3.ome.zarr/zarr.json: level 's2' (shape [4, 32, 32]) is larger than the level before it, "
            "'s1' (shape [4, 16, 16]), along y, x: levels go from the highest resolution down",
        )
    ]


def test_an_nwb_zarr_upload_cut_off_partway(bucket: Path) -> None:
    """Uploaded in key order and cut off: every key from specifications/hdmf-experimental on is missing."""
    store = bucket / NWBZ
    for path in sorted(store.rglob("*")):
        if path.is_file() and path.relative_to(store).as_posix() >= "specifications/hdmf-experimental":
            path.unlink()
    found = z_findings(bucket)
    missing = [
        ("group", "specifications/hdmf-experimental", ".zgroup"),
        ("group", "specifications/hdmf-experimental/0.6.0", ".zgroup"),
        ("array", "specifications/hdmf-experimental/0.6.0/experimental", ".zarray"),
        ("array", "specifications/hdmf-experimental/0.6.0/namespace", ".zarray"),
        ("group", "stimulus", ".zgroup"),
        ("group", "stimulus/presentation", ".zgroup"),
        ("group", "stimulus/templates", ".zgroup"),
        ("array", "timestamps_reference_time", ".zarray"),
    ]
    assert [(rule, path) for rule, path, _ in found] == sorted(
        ("Z502", f"{NWBZ}/{node}/{doc}") for _, node, doc in missing
    )
    assert (
        "Z502",
        f"{NWBZ}/stimulus/.zgroup",
        (
            "ecephys/session.nwb.zarr/.zmetadata lists group 'stimulus' but the store does not hold its .zgroup "
            "(an upload cut off?)"
        ),
    ) in found


def test_a_chunk_outside_the_grid(bucket: Path) -> None:
    (bucket / OME4 / "0" / "2" / "0").mkdir(parents=True)
    (bucket / OME4 / "0" / "2" / "0" / "0").write_bytes(b"\0" * 16)
    assert z_findings(bucket) == [
        (
            "Z503",
            f"{OME4}/0/2/0/0",
            "chunk SPIM/image.ome.zarr/0/2/0/0 lies outside the chunk grid of array '0' (index [2, 0, 0], "
            "grid [2, 2, 2] for shape [4, 32, 32]): left from a write with another shape?",
        )
    ]


def test_an_nwb_file_without_the_hdf5_signature(bucket: Path) -> None:
    path = bucket / NWBH
    path.write_bytes(b"PK\x03\x04" + path.read_bytes()[4:])
    found = z_findings(bucket)
    assert [(rule, path) for rule, path, _ in found] == [("Z508", NWBH)]
    assert "its first bytes are b'PK\\x03\\x04\\r\\n\\x1a\\n'" in found[0][2]


def test_an_unparsable_zattrs(bucket: Path) -> None:
    path = bucket / OME4 / ".zattrs"
    path.write_text(path.read_text()[:40])
    found = z_findings(bucket)
    assert [(rule, path) for rule, path, _ in found] == [("Z501", f"{OME4}/.zattrs")]
    assert found[0][2].startswith("SPIM/image.ome.zarr/.zattrs is not JSON: ")


def test_the_ome_models_judge_the_metadata(bucket: Path) -> None:
    def bad_axis(doc: dict) -> None:
        doc["attributes"]["ome"]["multiscales"][0]["axes"][0]["type"] = "space"
        doc["attributes"]["ome"]["multiscales"][0]["axes"][0]["name"] = "y"  # two axes named y

    edit_json(bucket / OME5 / "zarr.json", bad_axis)
    found = z_findings(bucket)
    assert [(rule, path) for rule, path, _ in found] == [
        *[("Z506", f"{OME5}/{level}/zarr.json") for level in ("s0", "s1", "s2")],
        ("Z504", f"{OME5}/zarr.json"),
    ]
    assert found[0][2] == (
        "SPIM/image-v3.ome.zarr/s0/zarr.json: dimension_names ['z', 'y', 'x'] differ from the axes of "
        "multiscales[0] (['y', 'y', 'x'])"
    )
    assert found[3][2] == (
        "SPIM/image-v3.ome.zarr/zarr.json: multiscales.0.axes: Value error, Axis names must be unique. "
        "Got ['y', 'y', 'x']"
    )


def test_models_alone_accept_what_the_writers_wrote(stores: dict[str, Path]) -> None:
    v4 = json.loads((stores["ome-0.4"] / ".zattrs").read_text())
    v5 = json.loads((stores["ome-0.5"] / "zarr.json").read_text())["attributes"]["ome"]
    assert validate_ome("0.4", "image", v4) == []
    assert validate_ome("0.5", "image", v5) == []


def counted_fetch(root: Path, asset: str) -> tuple[Callable[[str], bytes], list[str]]:
    fetched: list[str] = []

    def fetch(key: str) -> bytes:
        fetched.append(key)
        return (root / asset / key).read_bytes()

    return fetch, fetched


def _listing(root: Path, asset: str) -> dict[str, StoreListing]:
    keys = [p.relative_to(root / asset).as_posix() for p in (root / asset).rglob("*") if p.is_file()]
    stores, nwb = find_stores(keys)
    assert nwb == ["ecephys/session.nwb"]
    return {s.prefix: s for s in stores}


def test_metadata_gets_per_store(bucket: Path) -> None:
    """At most 2 + arrays GETs per store (1 with consolidated metadata); chunks never."""
    listings = _listing(bucket, ASSET)
    fetch, fetched = counted_fetch(bucket, ASSET)
    verdict = judge_store(listings["SPIM/image.ome.zarr"], fetch, Limits(), validate_ome)
    assert (verdict.problems, verdict.gets, verdict.kind) == ([], 5, "ome-zarr")  # .zgroup, .zattrs, 3 levels
    assert sorted(k.rpartition("/")[2] for k in fetched) == [".zarray"] * 3 + [".zattrs", ".zgroup"]
    fetched.clear()
    verdict = judge_store(listings["SPIM/image-v3.ome.zarr"], fetch, Limits(), validate_ome)
    assert (verdict.problems, verdict.gets, verdict.kind) == ([], 4, "ome-zarr")  # root and 3 levels
    fetched.clear()
    verdict = judge_store(listings["ecephys/session.nwb.zarr"], fetch, Limits(), validate_ome)
    assert (verdict.problems, verdict.gets, verdict.kind) == ([], 1, "nwb-zarr")
    assert fetched == ["ecephys/session.nwb.zarr/.zmetadata"]


def test_a_store_of_many_arrays_without_consolidated_metadata_is_sampled(bucket: Path) -> None:
    """The NWB-Zarr store without .zmetadata: its root documents and a sample of 5 arrays."""
    (bucket / NWBZ / ".zmetadata").unlink()
    listing = _listing(bucket, ASSET)["ecephys/session.nwb.zarr"]
    fetch, _ = counted_fetch(bucket, ASSET)
    verdict = judge_store(listing, fetch, Limits(max_arrays_read=5), validate_ome)
    assert verdict.gets == 2 + 5 and verdict.sampled
    assert [(p.code, p.key) for p in verdict.problems] == [
        ("Z510", "ecephys/session.nwb.zarr"),
        ("Z507", "ecephys/session.nwb.zarr/.zmetadata"),
    ]
    assert verdict.problems[0].message.startswith("store ecephys/session.nwb.zarr has 28 arrays and no consolidated")


def test_the_example_builders_stores_are_judged_as_the_real_ones(tmp_path: Path, bucket: Path) -> None:
    """The example bucket's stand-ins (tests/store_fixtures.py) and the libraries' stores: both
    clean, and the same defect (a level never written; an NWB TimeSeries never written) gives the
    same findings on each."""
    builder = tmp_path / "builder"
    write_files(
        builder,
        {
            **{f"{ASSET}/SPIM/image.ome.zarr/{k}": v for k, v in ome_zarr_v04("").items()},
            **{f"{ASSET}/ecephys/session.nwb.zarr/{k}": v for k, v in nwb_zarr("").items()},
        },
    )
    assert z_findings(builder) == []
    shutil.rmtree(builder / OME4)
    shutil.rmtree(builder / NWBZ)
    write_files(
        builder,
        {
            **{f"{OME4}/{k}": v for k, v in ome_zarr_v04("", drop_level=2).items()},
            **{f"{NWBZ}/{k}": v for k, v in nwb_zarr("", never_written=VOLTAGE).items()},
        },
    )
    shutil.rmtree(bucket / OME4 / "2")
    for node in VOLTAGE:
        for path in (bucket / NWBZ / node).iterdir():
            if path.is_file():
                path.unlink()
    real = [(f.rule, f.details.get("node") or f.details.get("level")) for f in lint_findings(bucket, select=["Z"])]
    made = [(f.rule, f.details.get("node") or f.details.get("level")) for f in lint_findings(builder, select=["Z"])]
    assert real == made == [("Z506", "2"), ("Z502", "acquisition/voltage"), ("Z502", "acquisition/voltage/data")]


def test_a_data_folder_without_the_expected_cloud_format(tmp_path: Path) -> None:
    """Z509 follows the convention's stores.expected (none by default)."""
    base = (Path(__file__).resolve().parents[2] / "linter/conventions/aind-open-data.yaml").read_text()
    convention = tmp_path / "ours.yaml"
    convention.write_text(
        base.replace("  expected: []", "  expected:\n    - {folder: SPIM, formats: [ome-zarr], severity: warning}")
    )
    bucket = write_files(tmp_path / "bucket", {f"{ASSET}/SPIM/tile_000.tif": b"II*\0", f"{ASSET}/other/x.txt": "x"})
    assert z_findings(bucket) == []
    result = run_cli("check", str(bucket), "--select", "Z", "--convention", str(convention), "--format", "json")
    assert [(f["rule"], f["severity"], f["path"], f["message"]) for f in result.json()["findings"]] == [
        (
            "Z509",
            "warning",
            f"{ASSET}/SPIM/",
            "SPIM/ holds 1 object and no OME-Zarr: the convention expects OME-Zarr there",
        )
    ]


BLOCK_OME_MODELS = """
import sys

class _NoOmeModels:
    '''ome-zarr-models not installed (the zarr extra left out): its import fails as it would.'''

    def find_spec(self, name, path=None, target=None):
        if name == "ome_zarr_models" or name.startswith("ome_zarr_models."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, _NoOmeModels())
from linter.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_without_the_zarr_extra_an_ome_store_is_not_judged_and_says_so(tmp_path: Path) -> None:
    """No ome-zarr-models: the OME store is an E901 naming the extra (exit 2), never a clean pass;
    the NWB-Zarr beside it is still judged (its rules read the JSON themselves)."""
    write_files(
        tmp_path,
        {
            **{f"{ASSET}/SPIM/image.ome.zarr/{k}": v for k, v in ome_zarr_v04("").items()},
            **{f"{ASSET}/ecephys/session.nwb.zarr/{k}": v for k, v in nwb_zarr("", never_written=VOLTAGE).items()},
        },
    )
    cmd = [sys.executable, "-c", BLOCK_OME_MODELS, "check", str(tmp_path), "--select", "Z", "--format", "json"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=REPO)
    assert done.returncode == 2, done.stderr
    found = [(f["rule"], f["path"], f["message"]) for f in json.loads(done.stdout)["findings"]]
    assert [f[0] for f in found] == ["E901", "Z502", "Z502"]
    store = f"{ASSET}/SPIM/image.ome.zarr"
    assert found[0] == (
        "E901",
        store,
        f"cannot read {store}: OME metadata not judged: ome-zarr-models cannot be imported (No module named "
        "'ome_zarr_models'); pip install 'aind-bucket-lint[zarr]'",
    )

"""The release table per 0.x class, and the table in use (packaged or refreshed in the cache)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from linter.plan import SchemaSettings
from linter.validation import envs
from linter.validation.releases import CACHED_TABLE, ReleaseTable, forget, packaged, read_table, table


def test_a_0x_file_is_resolved_by_its_own_class() -> None:
    """EphysSession and MriSession both numbered a 0.3.0; by file name alone the newest release
    declaring any session 0.3.0 (MriSession's 0.27.1) would judge an EphysSession file."""
    by_file = table().resolve("session", "0.3.0")
    assert by_file.release is not None and by_file.release.version == "0.27.1"
    ephys = table().resolve("session", "0.3.0", ["EphysSession"])
    assert ephys.release is not None and ephys.release.version == "0.9.6"
    assert ephys.declared_by[0] == "0.6.0" and ephys.declared_by[-1] == "0.9.6" and "0.27.1" not in ephys.declared_by
    assert ephys.classes == (("aind_data_schema.ephys.ephys_session", "EphysSession"),)
    assert ephys.named == ("EphysSession",)
    mri = table().resolve("session", "0.3.0", ["MriSession"])
    assert mri.release is not None and mri.release.version == "0.27.1"
    assert mri.classes == (("aind_data_schema.core.mri_session", "MriSession"),)


def test_a_class_version_no_release_declares_names_that_class_s_neighbours() -> None:
    res = table().resolve("rig", "0.5.0", ["Rig"])
    assert res.release is None and res.named == ("Rig",)
    assert res.nearest == ("0.4.3", "0.4.4", "0.5.1", "0.5.2")
    # EphysRig did declare a 0.5.0: a file of that class is judged
    assert table().resolve("rig", "0.5.0", ["EphysRig"]).release.version == "0.7.2"  # type: ignore[union-attr]


def test_unknown_classes_fall_back_to_the_file() -> None:
    assert table().resolve("session", "0.3.0", ["NoSuchSession"]) == table().resolve("session", "0.3.0")


def test_describedby_modules_name_their_classes() -> None:
    assert table().described("session", "aind_data_schema.ophys.ophys_session") == (
        "FiberPhotometrySession",
        "OphysSession",
        "TwoPhotonOphysSession",
    )
    # MriSession moved from imaging/ to core/; both name it
    assert table().described("session", "aind_data_schema.imaging.mri_session") == ("MriSession",)
    assert table().described("session", "aind_data_schema.core.mri_session") == ("MriSession",)
    assert table().described("rig", "aind_data_schema.core.session") == ()


def test_every_release_a_class_slot_names_is_in_the_table() -> None:
    for stem, classes in packaged().classes.items():
        for cls, versions in classes.items():
            for version, slot in versions.items():
                release = packaged().releases[slot["release"]]
                assert release.classes(stem, version, [cls]), (stem, cls, version)
    assert set(packaged().needed_releases()) == set(packaged().releases)
    assert len(packaged().known) >= 380


def test_beyond_is_newer_than_every_published_version() -> None:
    assert table().beyond("subject", "9.0.0") and not table().beyond("subject", "2.0.99")
    assert table().versions("session", ["EphysSession"])[-1] == "0.4.14"
    assert table().beyond("session", "0.4.15", ["EphysSession"])
    assert not table().beyond("session", "0.4.15")  # other session classes went further


def test_the_newer_of_the_packaged_and_the_cached_table_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(envs.CACHE_ENV, str(tmp_path))
    forget()
    assert table() is packaged()
    data = json.loads(_packaged_path().read_text(encoding="utf-8"))
    older = dict(data, made="2000-01-01T00:00:00Z")
    (tmp_path / CACHED_TABLE).write_text(json.dumps(older), encoding="utf-8")
    forget()
    assert table() is packaged()
    newer = dict(data, made="2999-01-01T00:00:00Z")
    (tmp_path / CACHED_TABLE).write_text(json.dumps(newer), encoding="utf-8")
    forget()
    assert table().source == str(tmp_path / CACHED_TABLE) and table().made == "2999-01-01T00:00:00Z"
    assert table().digest == packaged().digest  # same content, same verdicts
    (tmp_path / CACHED_TABLE).write_text("{not json", encoding="utf-8")
    assert read_table(tmp_path / CACHED_TABLE) is None
    forget()
    assert table() is packaged()
    forget()


def test_the_table_is_the_one_of_the_given_cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each run's settings name the cache folder whose table is used; the environment only
    stands in when no settings are given."""
    data = json.loads(_packaged_path().read_text(encoding="utf-8"))
    refreshed = tmp_path / "refreshed"
    refreshed.mkdir()
    (refreshed / CACHED_TABLE).write_text(json.dumps(dict(data, made="2999-01-01T00:00:00Z")), encoding="utf-8")
    monkeypatch.setenv(envs.CACHE_ENV, str(tmp_path / "own"))
    forget()
    assert table(SchemaSettings(refreshed)).source == str(refreshed / CACHED_TABLE)
    assert table(SchemaSettings(tmp_path / "other")) is packaged()
    assert table() is packaged()
    monkeypatch.setenv(envs.CACHE_ENV, str(refreshed))
    assert table().source == str(refreshed / CACHED_TABLE)
    forget()


def _packaged_path() -> Path:
    from importlib import resources

    return Path(str(resources.files("linter").joinpath("data/releases.json")))


def test_a_table_without_class_slots_still_reads() -> None:
    """A table of the first format (no classes, modules or known): resolution by file."""
    data = json.loads(_packaged_path().read_text(encoding="utf-8"))
    old = {k: v for k, v in data.items() if k not in ("classes", "modules", "known")}
    t = ReleaseTable(old)
    assert t.resolve("session", "0.3.0", ["EphysSession"]).release.version == "0.27.1"  # type: ignore[union-attr]

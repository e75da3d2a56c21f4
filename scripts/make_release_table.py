"""Make ``linter/data/releases.json``: which aind-data-schema release declares which core model version.

For every published aind-data-schema release (PyPI), the script downloads its wheel with
``pip download --no-deps`` (kept in ``--wheels``, so a re-run downloads only new releases) and
reads its source statically (``ast``, nothing is imported or installed): each class whose
``schema_version`` field has a version default is a core model declaring that version. Classes
that inherit their ``schema_version`` (1.x ``DerivedDataDescription``) declare their base's.

Each release gets era-compatible pins of pydantic and aind-data-schema-models: the newest
version that satisfies the release's own requirement and was published before the next aind-
data-schema release (PyPI upload times): what a file written while that release was current was
validated with, never a later pydantic or models the release never met. Releases of the pydantic
1 era get the last pydantic 1.10 (the one that runs on current Pythons). For each (model,
schema_version) the table names the newest release declaring it (fewest environments, latest
fixes) and every release that declares it.

Usage: ``python scripts/make_release_table.py [--wheels DIR] [--jobs N]``
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "linter" / "data" / "releases.json"
VERSION = re.compile(r"^\d+\.\d+\.\d+$")

# File stem -> how the core model class of that file is named (0.x had several per stem).
STEM_CLASSES: dict[str, re.Pattern[str]] = {
    "data_description": re.compile(r"^(Derived|Raw)?DataDescription$"),
    "subject": re.compile(r"^Subject$"),
    "procedures": re.compile(r"^Procedures$"),
    "processing": re.compile(r"^Processing$"),
    "acquisition": re.compile(r"^Acquisition$"),
    "instrument": re.compile(r"^Instrument$"),
    "rig": re.compile(r"^[A-Z][A-Za-z]*Rig$|^Rig$"),
    "session": re.compile(r"^[A-Z][A-Za-z]*Session$|^Session$"),
    "quality_control": re.compile(r"^QualityControl$"),
    "model": re.compile(r"^Model$"),
    "metadata": re.compile(r"^Metadata$"),
}


def pypi_json(name: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"https://pypi.org/pypi/{name}/json", timeout=60) as response:
        data: dict[str, Any] = json.load(response)
    return data


def upload_times(name: str) -> dict[Version, dt.datetime]:
    """Each non-yanked final release of ``name`` with its first upload time."""
    out: dict[Version, dt.datetime] = {}
    for text, files in pypi_json(name)["releases"].items():
        try:
            version = Version(text)
        except InvalidVersion:
            continue
        if version.is_prerelease or not files or all(f.get("yanked") for f in files):
            continue
        out[version] = min(dt.datetime.fromisoformat(f["upload_time_iso_8601"].replace("Z", "+00:00")) for f in files)
    return out


def download(version: str, wheels: Path) -> Path | None:
    found = list(wheels.glob(f"aind_data_schema-{version}-*.whl"))
    if found:
        return found[0]
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary",
                ":all:",
                "-d",
                tmp,
                f"aind-data-schema=={version}",
            ],
            capture_output=True,
            text=True,
        )
        got = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not got:
            print(f"  {version}: no wheel ({proc.stderr.strip().splitlines()[-1:] or '?'})", file=sys.stderr)
            return None
        target = wheels / got[0].name
        got[0].replace(target)
        return target


def _version_of(node: ast.expr | None) -> str | None:
    """The version string a ``schema_version`` default or ``Literal[...]`` annotation holds."""
    if node is None:
        return None
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and VERSION.match(sub.value):
            return sub.value
    return None


def _assigns_version(node: ast.Assign) -> bool:
    return any(getattr(t, "id", None) == "schema_version" for t in node.targets)


def declarations(wheel: Path) -> tuple[list[dict[str, str]], list[str]]:
    """The core models a wheel declares (stem, module, class, version) and its requirements."""
    classes: dict[str, tuple[str, list[str], str | None]] = {}  # name -> (module, bases, version)
    requires: list[str] = []
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if name.endswith(".dist-info/METADATA"):
                for line in zf.read(name).decode("utf-8", "replace").splitlines():
                    if line.startswith("Requires-Dist:"):
                        requires.append(line.split(":", 1)[1].strip())
            if not (name.startswith("aind_data_schema/") and name.endswith(".py")):
                continue
            module = name[:-3].replace("/", ".").removesuffix(".__init__")
            try:
                tree = ast.parse(zf.read(name))
            except SyntaxError:
                continue
            for node in tree.body:
                if not isinstance(node, ast.ClassDef):
                    continue
                version = None
                for item in node.body:
                    if isinstance(item, ast.AnnAssign) and getattr(item.target, "id", None) == "schema_version":
                        version = _version_of(item.value) or _version_of(item.annotation)
                    elif isinstance(item, ast.Assign) and _assigns_version(item):
                        version = _version_of(item.value)
                bases = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]
                classes.setdefault(node.name, (module, bases, version))
                if version is not None:
                    classes[node.name] = (module, bases, version)

    def resolved(name: str, seen: frozenset[str] = frozenset()) -> str | None:
        if name not in classes or name in seen:
            return None
        _module, bases, version = classes[name]
        if version is not None:
            return version
        for base in bases:
            found = resolved(base, seen | {name})
            if found is not None:
                return found
        return None

    out = []
    for name, (module, _bases, _v) in sorted(classes.items()):
        version = resolved(name)
        if version is None:
            continue
        for stem, pattern in STEM_CLASSES.items():
            if pattern.match(name):
                out.append({"stem": stem, "module": module, "class": name, "version": version})
    return out, requires


def import_problem(version: str, pins: dict[str, str], modules: list[str]) -> str | None:
    """Install the release with these pins in a scratch environment (uv) and import its models."""
    import uv

    uv_bin = str(uv.find_uv_bin())
    env = dict(os.environ, UV_CACHE_DIR=str(Path.home() / ".cache" / "aind-bucket-lint" / "uv"))
    with tempfile.TemporaryDirectory() as tmp:
        python = Path(tmp) / "bin" / "python"
        reqs = [f"aind-data-schema=={version}", *(f"{k}=={v}" for k, v in sorted(pins.items()))]
        for cmd in (
            [uv_bin, "venv", "--quiet", "--python", sys.executable, tmp],
            [uv_bin, "pip", "install", "--quiet", "--python", str(python), *reqs],
        ):
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                return "cannot install: " + " ".join(proc.stderr.split())[-200:]
        code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\n"
        proc = subprocess.run([str(python), "-c", code, *modules], capture_output=True, text=True)
        if proc.returncode != 0:
            return "import fails: " + (proc.stderr.strip().splitlines() or ["?"])[-1][:200]
    return None


def pin(
    name: str, requires: list[str], when: dt.datetime, times: dict[Version, dt.datetime], v1: bool = False
) -> str | None:
    spec = SpecifierSet()
    mentioned = False
    for text in requires:
        req = Requirement(text)
        if req.name.lower().replace("_", "-") == name and (req.marker is None or req.marker.evaluate({"extra": ""})):
            spec &= req.specifier
            mentioned = True
    if not mentioned:
        return None
    allowed = sorted(v for v in times if spec.contains(v, prereleases=False))
    if v1:
        ones = [v for v in allowed if v.major == 1]
        if ones:
            return str(ones[-1])
    before = [v for v in allowed if times[v] <= when]
    chosen = before[-1] if before else (allowed[0] if allowed else None)
    return str(chosen) if chosen is not None else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, default=Path.home() / ".cache" / "aind-bucket-lint" / "wheels")
    parser.add_argument("--jobs", type=int, default=6)
    args = parser.parse_args(argv)
    args.wheels.mkdir(parents=True, exist_ok=True)

    ads = upload_times("aind-data-schema")
    models_times = upload_times("aind-data-schema-models")
    pydantic_times = upload_times("pydantic")
    pydantic2 = min(v for v in pydantic_times if v.major == 2 and not v.is_prerelease)
    pydantic2_time = pydantic_times[pydantic2]
    print(f"{len(ads)} releases of aind-data-schema", file=sys.stderr)

    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        wheels = dict(zip(ads, pool.map(lambda v: download(str(v), args.wheels), ads), strict=True))

    releases: dict[str, dict[str, Any]] = {}
    models: dict[str, dict[str, dict[str, Any]]] = {}
    for version in sorted(ads):
        wheel = wheels[version]
        if wheel is None:
            continue
        declared, requires = declarations(wheel)
        if not declared:
            continue
        # The release's era: until the next release came out (files were written with it then).
        later = [ads[v] for v in ads if v > version]
        when = min(later) if later else dt.datetime.now(dt.UTC)
        pyd_spec = [r for r in requires if Requirement(r).name.lower() == "pydantic"]
        is_v1 = ads[version] < pydantic2_time or any(
            s.operator in ("<", "<=") and Version(s.version).major <= 2
            for r in pyd_spec
            for s in Requirement(r).specifier
            if s.operator in ("<", "<=") and Version(s.version) <= Version("2.0")
        )
        era_pins = {}
        for moment, out in ((when, era_pins), (ads[version], at_release := {})):
            out["pydantic"] = pin("pydantic", requires or ["pydantic"], moment, pydantic_times, v1=is_v1) or str(
                max(pydantic_times)
            )
            models_pin = pin("aind-data-schema-models", requires, moment, models_times)
            if models_pin is not None:
                out["aind-data-schema-models"] = models_pin
        key = str(version)
        releases[key] = {
            "published": ads[version].strftime("%Y-%m-%dT%H:%M:%SZ"),
            "pins": era_pins,
            "pins_at_release": at_release,
            "models": {},
        }
        for entry in declared:
            releases[key]["models"].setdefault(entry["stem"], []).append(
                {"module": entry["module"], "class": entry["class"], "version": entry["version"]}
            )
            slot = models.setdefault(entry["stem"], {}).setdefault(entry["version"], {"declared_by": []})
            if key not in slot["declared_by"]:
                slot["declared_by"].append(key)
    for versions in models.values():
        for slot in versions.values():
            slot["release"] = max(slot["declared_by"], key=Version)
    # Only the releases some (model, version) is validated with need their details.
    chosen = {slot["release"] for versions in models.values() for slot in versions.values()}
    releases = {version: entry for version, entry in releases.items() if version in chosen}
    # Later models sometimes break a release (1.0.0 with models 0.5: a model fails to build), so
    # pins newer than those of the release's own day are kept only when its models import.
    for version, entry in releases.items():
        if entry["pins"] != entry["pins_at_release"] and "aind-data-schema-models" in entry["pins"]:
            modules = sorted({e["module"] for es in entry["models"].values() for e in es})
            problem = import_problem(version, entry["pins"], modules)
            if problem:
                print(
                    f"  {version} with {entry['pins']}: {problem}; keeping {entry['pins_at_release']}", file=sys.stderr
                )
                entry["pins"] = entry["pins_at_release"]
        entry["pydantic_major"] = Version(entry["pins"]["pydantic"]).major
        del entry["pins_at_release"]
    table = {
        "about": "Made by scripts/make_release_table.py from the aind-data-schema releases on PyPI; do not edit.",
        "made": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "releases": releases,
        "models": {stem: dict(sorted(v.items(), key=lambda kv: Version(kv[0]))) for stem, v in sorted(models.items())},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(table, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(
        f"wrote {OUT.relative_to(ROOT)}: {len(releases)} releases, "
        f"{sum(len(v) for v in models.values())} (model, version) pairs",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

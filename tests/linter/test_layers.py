"""The layers of the code, held by import-linter's contracts in pyproject.toml: commands above
the audit, above the engine, above executors and work, above rules, above context, above
sources, store and reports, above findings and the plan; no reporter imports a source; the rule
families import none of each other. Lazy imports (inside functions) count."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    if LINT_IMPORTS is None:
        pytest.fail("lint-imports is not installed (it comes with the test extra: pip install -e '.[test]')")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [LINT_IMPORTS, str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def copy_tree(dest: Path) -> Path:
    for name in ("linter", "rules"):
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", dest / "pyproject.toml")
    return dest


def test_the_contracts_are_kept() -> None:
    res = lint_imports(REPO)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Contracts: 3 kept, 0 broken." in res.stdout


def test_a_lazy_import_of_a_higher_layer_breaks_the_layers(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    json_report = root / "linter" / "reports" / "json.py"
    json_report.write_text(
        json_report.read_text(encoding="utf-8") + "\n\ndef _engine():\n    from linter.engine import Linter\n\n"
        "    return Linter\n",
        encoding="utf-8",
    )
    res = lint_imports(root)
    assert res.returncode == 1
    # the layers, and through the engine the reporters' ban on sources too
    assert "Contracts: 1 kept, 2 broken." in res.stdout
    assert "findings and the plan BROKEN" in " ".join(res.stdout.split())  # the name wraps
    assert "linter.reports.json -> linter.engine (l." in res.stdout


def test_a_reporter_importing_a_source_is_refused(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    sarif = root / "linter" / "reports" / "sarif.py"
    sarif.write_text(
        sarif.read_text(encoding="utf-8") + "\n\ndef _root():\n    from linter.sources.local import LocalSource\n\n"
        "    return LocalSource\n",
        encoding="utf-8",
    )
    res = lint_imports(root)
    assert res.returncode == 1
    assert "Contracts: 2 kept, 1 broken." in res.stdout
    assert "no reporter imports a source BROKEN" in res.stdout
    assert "linter.reports.sarif -> linter.sources.local" in res.stdout

"""A package index the tests make: PEP 503 folders of wheels they build, read from ``file://`` or
served over a loopback ``http.server``. Never the network.

As a pytest plugin (``pytest_plugins`` in conftest) it also points every test run's release-table
refresh at such an index listing exactly the releases the packaged table knows: an online test
that meets a version newer than the table's runs the real refresh, which finds nothing new, so
the figures stay those of the packaged table whatever PyPI publishes meanwhile.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import http.server
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from linter.validation.index import INDEX_ENV, normalize
from linter.validation.releases import packaged


def fake_wheel(
    folder: Path, project: str, version: str, files: Mapping[str, str], requires: Sequence[str] = ()
) -> Path:
    """A pure-Python wheel of ``project`` holding ``files`` ({path in the wheel: source})."""
    dist = project.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    contents = {
        **files,
        f"{info}/METADATA": metadata,
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in contents.items():
            zf.writestr(name, text)
        zf.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return path


def write_index(root: Path, projects: Mapping[str, Sequence[Path | str]]) -> Path:
    """A PEP 503 simple index under ``root``: for each project a folder with an ``index.html``
    linking its files (a Path is copied in beside it and linked with its sha256; a str is a file
    name listed only). Returns ``root``."""
    for project, files in projects.items():
        folder = root / normalize(project)
        folder.mkdir(parents=True, exist_ok=True)
        links = []
        for item in files:
            if isinstance(item, Path):
                target = folder / item.name
                if item.resolve() != target.resolve():
                    shutil.copyfile(item, target)
                digest = hashlib.sha256(target.read_bytes()).hexdigest()
                links.append(f'<a href="{html.escape(item.name)}#sha256={digest}">{html.escape(item.name)}</a>')
            else:
                links.append(f'<a href="{html.escape(item)}">{html.escape(item)}</a>')
        page = "<!DOCTYPE html>\n<html><body>\n" + "<br>\n".join(links) + "\n</body></html>\n"
        (folder / "index.html").write_text(page, encoding="utf-8")
    return root


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve ``root`` over HTTP on a loopback port; yields the base URL (ends with ``/``)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def mirror_of_the_table(root: Path) -> Path:
    """An index listing (by name only) every aind-data-schema release the packaged table knows."""
    known = sorted(packaged().known)
    return write_index(root, {"aind-data-schema": [f"aind_data_schema-{v}-py3-none-any.whl" for v in known]})


@pytest.fixture(autouse=True, scope="session")
def _release_index_of_the_tests() -> Iterator[str]:
    """Every test's release-table refresh reads a mirror of the packaged table's releases (one
    folder per table, so the attempts the cache folder remembers do not pile up)."""
    folder = Path(tempfile.gettempdir()) / f"aind-bucket-lint-tests-index-{packaged().digest}"
    if not (folder / "aind-data-schema" / "index.html").is_file():
        staging = Path(tempfile.mkdtemp(prefix=folder.name + "."))
        mirror_of_the_table(staging)
        try:
            staging.rename(folder)
        except OSError:  # another test process made it meanwhile
            shutil.rmtree(staging, ignore_errors=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(INDEX_ENV, folder.as_uri() + "/")
        yield folder.as_uri() + "/"

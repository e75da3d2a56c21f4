"""A Python package index, read through its simple API (PEP 503 HTML, PEP 691 JSON).

The release table is refreshed from the index pip is configured with: ``--index-url`` first, then
``$AIND_BUCKET_LINT_INDEX_URL`` (an index for the linter alone), ``$PIP_INDEX_URL``, the
``index-url`` of pip's configuration files, and PyPI. ``http(s)://`` and ``file://`` indexes
both work: a ``file://`` index is a folder with one folder per project holding an ``index.html``
(or just the files). Where the index serves PEP 691 JSON (PyPI does), the files carry their
upload times (PEP 700); over plain HTML they are unknown.
"""

from __future__ import annotations

import configparser
import datetime as dt
import hashlib
import html.parser
import json
import os
import re
import shutil
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

DEFAULT_INDEX = "https://pypi.org/simple/"
INDEX_ENV = "AIND_BUCKET_LINT_INDEX_URL"
TIMEOUT = 60.0
_JSON = "application/vnd.pypi.simple.v1+json"
_ACCEPT = f"{_JSON}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"


class IndexReadError(Exception):
    """The index could not be read; the message names the URL and what went wrong."""


@dataclass(frozen=True, slots=True)
class IndexFile:
    """One distribution file a project page lists."""

    filename: str
    url: str
    version: Version | None
    upload_time: dt.datetime | None
    yanked: bool
    sha256: str | None

    @property
    def wheel(self) -> bool:
        return self.filename.endswith(".whl")


def normalize(project: str) -> str:
    """PEP 503's normalized project name (``aind_data_schema`` -> ``aind-data-schema``)."""
    return re.sub(r"[-_.]+", "-", project).lower()


def _file_version(filename: str) -> Version | None:
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        return parse_sdist_filename(filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename, ValueError):
        return None


def _time(text: object) -> dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def pip_config_files() -> list[Path]:
    """pip's configuration files in the order pip reads them (a later one overrides): global,
    user, site, then ``$PIP_CONFIG_FILE``."""
    explicit = os.environ.get("PIP_CONFIG_FILE")
    if explicit == os.devnull:
        return []
    dirs = os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    files = [Path(d) / "pip" / "pip.conf" for d in dirs.split(os.pathsep) if d]
    files.append(Path("/etc/pip.conf"))
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    files += [Path.home() / ".pip" / "pip.conf", config_home / "pip" / "pip.conf"]
    files.append(Path(sys.prefix) / "pip.conf")
    if explicit:
        files.append(Path(explicit))
    return files


def pip_configured_index(files: list[Path] | None = None) -> str | None:
    """The ``index-url`` pip's configuration files set (``[download]`` over ``[global]``), if any."""
    found = None
    for path in pip_config_files() if files is None else files:
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue
        for section in ("global", "download"):
            for key in ("index-url", "index_url"):
                if parser.has_option(section, key):
                    found = parser.get(section, key).strip() or found
    return found


def index_url(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The index to read: ``explicit``, ``$AIND_BUCKET_LINT_INDEX_URL``, ``$PIP_INDEX_URL``, pip's
    configuration, PyPI (in that order). Always ends with ``/``."""
    env = os.environ if environ is None else environ
    url = explicit or env.get(INDEX_ENV) or env.get("PIP_INDEX_URL") or pip_configured_index() or DEFAULT_INDEX
    url = url.strip()
    if "://" not in url:  # a plain folder, as pip accepts it
        url = Path(url).expanduser().resolve().as_uri()
    return url if url.endswith("/") else url + "/"


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, dict[str, str | None]]] = []
        self._current: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._current = dict(attrs)
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._current is not None:
            self.links.append(("".join(self._text).strip(), self._current))
            self._current = None


def _sha256(url: str) -> str | None:
    fragment = urllib.parse.urlsplit(url).fragment
    return fragment.split("=", 1)[1] if fragment.startswith("sha256=") else None


class PackageIndex:
    """The simple API of one index (its URL ends with ``/``)."""

    def __init__(self, url: str, timeout: float = TIMEOUT) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.timeout = timeout
        self._files: dict[str, list[IndexFile]] = {}

    def _open(self, url: str, accept: str | None = None) -> tuple[bytes, str]:
        request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.read(), response.headers.get("Content-Type", "") or ""
        except urllib.error.HTTPError as exc:
            raise IndexReadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise IndexReadError(f"{url}: {reason}") from None

    def _page(self, project: str) -> tuple[str, bytes, str]:
        """The project page: (its URL, its bytes, its content type)."""
        url = urllib.parse.urljoin(self.url, normalize(project) + "/")
        if url.startswith("file:"):
            folder = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
            page = folder / "index.html"
            if page.is_file():
                return page.as_uri(), page.read_bytes(), "text/html"
            if folder.is_dir():  # a folder of files: each is a link
                names = sorted(p.name for p in folder.iterdir() if p.is_file())
                body = "".join(f'<a href="{urllib.parse.quote(n)}">{n}</a>\n' for n in names)
                return folder.as_uri() + "/", body.encode(), "text/html"
            raise IndexReadError(f"{url}: no such project on the index (no folder {folder})")
        body, content_type = self._open(url, _ACCEPT)
        return url, body, content_type

    def files(self, project: str) -> list[IndexFile]:
        """Every file the project's page lists (read once per instance)."""
        key = normalize(project)
        if key not in self._files:
            self._files[key] = self._read_files(project)
        return self._files[key]

    def _read_files(self, project: str) -> list[IndexFile]:
        url, body, content_type = self._page(project)
        if _JSON in content_type:
            try:
                data = json.loads(body)
                entries = data["files"]
            except (ValueError, KeyError, TypeError):
                raise IndexReadError(f"{url}: not a PEP 691 project page") from None
            out = []
            for entry in entries:
                name = str(entry.get("filename", ""))
                href = urllib.parse.urljoin(url, str(entry.get("url", "")))
                hashes = entry.get("hashes") or {}
                out.append(
                    IndexFile(
                        name,
                        href,
                        _file_version(name),
                        _time(entry.get("upload-time")),
                        bool(entry.get("yanked")),
                        hashes.get("sha256") if isinstance(hashes, dict) else None,
                    )
                )
            return out
        parser = _Links()
        try:
            parser.feed(body.decode("utf-8", "replace"))
        except (ValueError, AssertionError) as exc:
            raise IndexReadError(f"{url}: not a PEP 503 project page ({exc})") from None
        out = []
        for text, attrs in parser.links:
            href = urllib.parse.urljoin(url, attrs.get("href") or "")
            name = text or urllib.parse.unquote(urllib.parse.urlsplit(href).path.rsplit("/", 1)[-1])
            out.append(IndexFile(name, href, _file_version(name), None, "data-yanked" in attrs, _sha256(href)))
        return out

    def releases(self, project: str) -> dict[Version, dt.datetime | None]:
        """Each final, not yanked release with its first upload time (None when the index does
        not say)."""
        out: dict[Version, dt.datetime | None] = {}
        yanked: dict[Version, bool] = {}
        for file in self.files(project):
            version = file.version
            if version is None or version.is_prerelease or version.is_devrelease:
                continue
            yanked[version] = yanked.get(version, True) and file.yanked
            if file.yanked:
                out.setdefault(version, None)
                continue
            earlier = out.get(version)
            if file.upload_time is not None and (earlier is None or file.upload_time < earlier):
                out[version] = file.upload_time
            else:
                out.setdefault(version, earlier)
        return {v: t for v, t in out.items() if not yanked[v]}

    def wheel(self, project: str, version: Version | str, folder: Path) -> Path | None:
        """The release's pure-Python wheel, downloaded into ``folder`` (kept there: a file already
        present is not downloaded again). None when the release has no wheel."""
        want = Version(str(version))
        candidates = [f for f in self.files(project) if f.wheel and f.version == want and not f.yanked]
        candidates.sort(key=lambda f: (not f.filename.endswith("-py3-none-any.whl"), f.filename))
        if not candidates:
            return None
        chosen = candidates[0]
        target = folder / chosen.filename
        if target.is_file():
            return target
        folder.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        href = urllib.parse.urlsplit(chosen.url)._replace(fragment="").geturl()
        body, _type = self._open(href)
        if chosen.sha256 is not None and hashlib.sha256(body).hexdigest() != chosen.sha256:
            raise IndexReadError(f"{href}: the file's sha256 differs from the index's")
        partial.write_bytes(body)
        shutil.move(partial, target)
        return target

"""``aind-bucket-lint schemas list | install | prune | update``: the cached environments of
aind-data-schema releases, and the release table that says which release validates which file."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from linter.plan import SchemaSettings
from linter.validation import envs, installed_release, update
from linter.validation.index import INDEX_ENV
from linter.validation.releases import Release, table, version_key

EXIT_OK, EXIT_ERROR = 0, 2


def add_parser(sub: Any) -> None:
    schemas = sub.add_parser(
        "schemas",
        help="list, prepare or prune the environments of aind-data-schema releases used for validation; "
        "update the release table",
    )
    verbs = schemas.add_subparsers(dest="schemas_command", metavar="ACTION", required=True)
    listing = verbs.add_parser("list", help="the prepared releases (with --all, every release the linter may use)")
    listing.add_argument("--all", action="store_true", help="also the releases not prepared")
    listing.add_argument("--format", choices=("text", "json"), default="text")
    install = verbs.add_parser("install", help="prepare releases now (so that later runs can be --offline)")
    install.add_argument("releases", nargs="*", metavar="RELEASE", help="aind-data-schema releases, e.g. 1.1.1")
    install.add_argument("--all", action="store_true", help="every release the linter may use (about 215)")
    install.add_argument(
        "--for",
        dest="targets",
        action="append",
        default=[],
        metavar="TARGET",
        help="the releases the sidecars of this target declare (a folder or s3://BUCKET/PREFIX; repeatable)",
    )
    install.add_argument("--offline", action="store_true", help="use only what the cache already holds")
    install.add_argument("--jobs", "-j", type=int, default=4, metavar="N", help="releases prepared at once (4)")
    install.add_argument("--convention", metavar="NAME|FILE", help="convention naming the core files (with --for)")
    s3 = install.add_argument_group("S3 (with --for s3://...)")
    s3.add_argument("--endpoint-url", metavar="URL")
    s3.add_argument("--region", metavar="REGION")
    s3.add_argument("--profile", metavar="NAME")
    s3.add_argument("--no-sign-request", action="store_true")
    prune = verbs.add_parser("prune", help="remove unfinished environments and those the linter no longer uses")
    prune.add_argument("--all", action="store_true", help="remove every environment and uv's cache")
    refresh = verbs.add_parser(
        "update",
        help="add the aind-data-schema releases published since the release table was made (from the package index)",
    )
    refresh.add_argument(
        "--index-url",
        metavar="URL",
        help=f"the package index (default ${INDEX_ENV}, $PIP_INDEX_URL, pip's configured index-url, else PyPI)",
    )
    refresh.add_argument("--format", choices=("text", "json"), default="text")
    for p in (listing, install, prune, refresh):
        p.add_argument("--schema-cache", metavar="DIR", help=f"cache folder (default ${envs.CACHE_ENV} or config)")
        p.add_argument("--config", metavar="FILE", help="config file (default: nearest .aind-bucket-lint.yaml)")


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def run(args: argparse.Namespace) -> int:
    """``schemas list|install|prune|update``, with the cache folder from ``--schema-cache``, the environment
    or the config's ``schema-cache``."""
    from linter.commands.common import AuditOptions, config_schema_cache, load_config

    config = load_config(AuditOptions(config=args.config))
    # the config's offline is an audit's: preparing releases is what needs the network
    offline = True if getattr(args, "offline", False) else None
    settings = SchemaSettings.resolve(args.schema_cache, offline, config_cache=config_schema_cache(config))
    if args.schemas_command == "list":
        return _list(args, settings)
    if args.schemas_command == "install":
        return _install(args, settings)
    if args.schemas_command == "update":
        return _update(args, settings)
    removed = envs.prune(everything=args.all, settings=settings)
    for path in removed:
        print(f"removed {path}")
    print(f"{len(removed)} removed from {settings.cache}")
    return EXIT_OK


def _list(args: argparse.Namespace, settings: SchemaSettings) -> int:
    found = {info.release: info for info in envs.prepared(settings)}
    installed = installed_release()
    current = table(settings)
    rows = []
    releases = current.needed_releases() if args.all else sorted(found, key=version_key)
    for release in releases:
        info = found.get(release)
        if release == installed and release in current.releases:
            status = "installed"
        elif info is None:
            status = "not prepared"
        else:
            status = "prepared" if info.ready else "unfinished"
        rel = current.releases.get(release)
        rows.append(
            {
                "release": release,
                "status": status,
                "path": str(info.path) if info else None,
                "requirements": rel.requirements() if rel else None,
                "prepare_seconds": info.details.get("prepare_seconds") if info else None,
                "size_bytes": info.size_bytes if info else None,
            }
        )
    if args.format == "json":
        print(json.dumps({"cache": str(settings.cache), "releases": rows}, indent=2))
        return EXIT_OK
    print(f"cache: {settings.cache}")
    if installed:
        print(f"installed: aind-data-schema {installed} (validates the versions it declares in-process)")
    for row in rows:
        extra = ""
        if row["size_bytes"] is not None:
            extra = f"  {_size(row['size_bytes'])} own files"
        pins = ", ".join(row["requirements"][1:]) if row["requirements"] else "not in the release table"
        print(f"{row['release']:>8}  {row['status']:<12}  {pins}{extra}")
    ready = sum(1 for r in rows if r["status"] == "prepared")
    print(f"{ready} prepared of {len(current.needed_releases())} releases the linter may use")
    return EXIT_OK


def _releases_for(targets: Iterable[str], args: argparse.Namespace, schemas: SchemaSettings) -> tuple[set[str], int]:
    """The releases the core sidecars of the targets need (besides the installed one), by the
    release table of the ``schemas`` cache folder."""
    from linter.conventions import load_convention
    from linter.metadata import declared_version, policy, sidecar_model
    from linter.plan import RunPlan, S3Settings
    from linter.sources import ReadError, SourceError, TooLarge, open_source

    convention = load_convention(args.convention or "aind-open-data")
    pol = policy(convention)
    settings = S3Settings(
        endpoint_url=args.endpoint_url, region=args.region, profile=args.profile, no_sign_request=args.no_sign_request
    )
    plan = RunPlan(convention=convention, rules={}, s3=settings, schemas=schemas)
    current = table(schemas)
    installed = installed_release()
    needed: set[str] = set()
    problems = 0
    for target in targets:
        try:
            source = open_source(target, plan)
            names = list(source.asset_names())
        except SourceError as exc:
            print(f"aind-bucket-lint: {target}: {exc}", file=sys.stderr)
            problems += 1
            continue
        for name in names:
            asset = source.load_asset(name)
            for obj in asset.objects:
                if obj.key not in pol.core_names:
                    continue
                try:
                    data = json.loads(source.read(name, obj.key, pol.max_json_bytes))
                except (ReadError, TooLarge, ValueError, UnicodeDecodeError):
                    continue
                if not isinstance(data, dict) or declared_version(obj.key, data).problem is not None:
                    continue
                model = sidecar_model(obj.key, data, pol, schemas)
                res = current.resolve(model.stem, data["schema_version"], model.classes)
                if res.release is not None and installed not in res.declared_by:
                    needed.add(res.release.version)
    return needed, problems


def _install(args: argparse.Namespace, settings: SchemaSettings) -> int:
    wanted: set[str] = set(args.releases)
    problems = 0
    current = table(settings)
    if args.all:
        wanted.update(current.needed_releases())
    if args.targets:
        found, problems = _releases_for(args.targets, args, settings)
        wanted.update(found)
        print(f"{len(found)} release(s) needed by {', '.join(args.targets)}")
    if not wanted and not args.targets:
        print("aind-bucket-lint: name releases, --all or --for TARGET", file=sys.stderr)
        return EXIT_ERROR
    todo = []
    for release in sorted(wanted, key=version_key):
        rel = current.releases.get(release)
        if rel is None:
            known = current.needed_releases()
            print(
                f"aind-bucket-lint: {release}: not a release the linter validates with "
                f"(known: {known[0]} ... {known[-1]}; see `schemas list --all`)",
                file=sys.stderr,
            )
            problems += 1
        elif envs.is_ready(release, settings):
            print(f"{release}: already prepared")
        else:
            todo.append(rel)

    def prepare(rel: Release) -> str:
        started = time.perf_counter()
        path = envs.prepare(rel, settings)
        return f"{rel.version}: prepared in {time.perf_counter() - started:.1f} s ({Path(path).parent.parent})"

    # a few at once: mostly downloads and waiting on uv
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        for future in [pool.submit(prepare, rel) for rel in todo]:
            try:
                print(future.result())
            except envs.PrepareError as exc:
                print(f"aind-bucket-lint: {exc}", file=sys.stderr)
                problems += 1
    return EXIT_ERROR if problems else EXIT_OK


def _update(args: argparse.Namespace, settings: SchemaSettings) -> int:
    """``schemas update``: the releases the index lists and the table does not know, added to
    the table of the settings' cache folder."""
    before = table(settings)
    try:
        result = update.update(args.index_url, settings=settings)
    except update.UpdateError as exc:
        print(f"aind-bucket-lint: {exc}", file=sys.stderr)
        return EXIT_ERROR
    assert result is not None  # always runs without unless_within
    after = result.table
    if args.format == "json":
        doc = {
            "index": result.index,
            "added": list(result.added),
            "new_model_versions": result.pairs,
            "table": {"made": after.made, "source": after.source, "releases_known": len(after.known)},
            "previous": {"made": before.made, "source": before.source},
        }
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    if result.added:
        print(
            f"added {len(result.added)} release(s) from {result.index}: {', '.join(result.added)} "
            f"({result.pairs} model version(s) no earlier release declared)"
        )
        print(f"release table: made {after.made}, {len(after.known)} releases ({after.source})")
    else:
        print(f"no release on {result.index} is new to the release table of {after.day} ({len(after.known)} releases)")
    return EXIT_OK

"""L3xx: where assets and objects sit in the bucket."""

from __future__ import annotations

from collections.abc import Iterator

from linter.context import AssetContext, TargetContext
from linter.findings import Violation
from linter.names import ASSET_MARKER, is_asset_folder, parse_name
from linter.registry import rule


@rule("L301", "nested-asset", "error", "An asset lies inside another asset.", clears="NOT nested_hint")
def nested_asset(ctx: AssetContext) -> Iterator[Violation]:
    """Every asset is a top-level prefix: derived assets live beside their sources, never inside
    them. A folder below an asset's root whose name parses as an asset name, or that holds a
    ``data_description.json``, is an asset stored in the wrong place. Only the outermost such
    folder is reported.
    """
    flagged: list[str] = []
    for folder in sorted(ctx.folders):
        if any(folder.startswith(f + "/") for f in flagged):
            continue
        leaf = folder.rsplit("/", 1)[-1]
        if not is_asset_folder(leaf, ctx.convention, ctx.holder(folder)):
            continue
        flagged.append(folder)
        parsed = parse_name(leaf, ctx.convention)
        why = f"its name is a {parsed.level} asset name" if parsed.is_asset_name else f"it holds {ASSET_MARKER}"
        yield Violation(
            f"folder {folder!r} is an asset inside asset {ctx.name!r} ({why}); move it to the top level",
            ctx.path(folder + "/"),
            {"folder": folder, "level": parsed.level if parsed.is_asset_name else None},
        )


@rule("L302", "orphan-object", "warning", "A file at the target root belongs to no asset.", scope="target")
def orphan_object(ctx: TargetContext) -> Iterator[Violation]:
    """The bucket is a flat list of assets: every object belongs under an asset's prefix. A file
    directly at the root of the target belongs to none and is invisible to every asset-based tool.
    """
    for obj in ctx.root_objects:
        yield Violation(f"file {obj.key!r} at the target root belongs to no asset", obj.key, {"size": obj.size})


@rule(
    "L303",
    "missing-source",
    "warning",
    "A derived asset's source asset is not in the target.",
    clears="name_form = 'raw' OR (name_form = 'derived' AND source_listed)",
)
def missing_source(ctx: AssetContext) -> Iterator[Violation]:
    """A derived asset is named after its source asset, which should exist beside it. When the
    target holds no asset of that name the derived asset's provenance cannot be followed (or the
    name's source part is misspelled).
    """
    parsed = ctx.parsed
    if parsed.level == "derived" and parsed.source not in ctx.target.asset_names:
        yield Violation(
            f"source asset {parsed.source!r} of derived asset {ctx.name!r} is not in the target",
            ctx.name,
            {"source": parsed.source},
        )

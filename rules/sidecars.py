"""What the M family's two modules share: the policy, each sidecar's validation (computed once
per asset and per content), M203's findings on a validated file, and the asset judged as a whole
(upstream's ``Metadata``, computed once per asset) with its record ``metadata.nd.json``.

``rules.metadata`` (M201-M210, the files one by one) and ``rules.asset`` (M211-M214, the asset as
a whole) both read these; neither imports the other, and this module holds no rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from linter.context import AssetContext
from linter.findings import Violation
from linter.metadata import MetadataPolicy, Validation, declared_version, policy, stem, validate_sidecar
from linter.metadata.versions import VERSION_RE
from linter.validation import table as release_table
from linter.validation import validate
from linter.validation.asset_verdict import AssetVerdict, Document, ValidatorAnswer, validate_asset

RECORD_FILE = "metadata.nd.json"


def _validation_kind(ctx: AssetContext, key: str) -> str:
    """What a validation kept by content is keyed by besides the bytes: the file, the release
    table's content (a table that gained releases may judge them by another release) and the
    schema settings it was reached under (the cache folder, offline: a process that runs several
    audits, a service or a test worker, keeps verdicts by content across them, and a release
    prepared in one cache folder may be missing from another's)."""
    schemas = ctx.schemas
    where = f"{schemas.cache}:{int(schemas.offline)}" if schemas is not None else "-"
    return f"metadata.validation:{key}:{release_table(ctx.schemas).digest}:{where}"


def policy_of(ctx: AssetContext) -> MetadataPolicy:
    """The convention's metadata policy (core files, required sets, limits)."""
    return policy(ctx.convention)


def validation(ctx: AssetContext, key: str) -> Validation | None:
    """The sidecar's validation by the release declaring its version, computed once per asset."""
    doc = ctx.json(key)
    if doc is None or doc.data is None:
        return None
    data, text = doc.data, doc.text
    # the same bytes validate the same way whichever asset holds them: once per content (under
    # _validation_kind's key); a verdict that could not be reached (release not prepared) is not kept
    kind = _validation_kind(ctx, key)
    pol = policy_of(ctx)
    return ctx.by_content(key, kind, lambda: validate_sidecar(key, data, text, ctx.schemas, pol))


def schema_errors(ctx: AssetContext, key: str, result: Validation | None) -> Iterator[Violation]:
    """M203's findings on one validated file."""
    cap = policy_of(ctx).max_errors_per_file
    if result is not None and not result.skipped and result.errors:
        declared = result.version.declared
        for error in result.errors[:cap]:
            details: dict[str, Any] = {
                "json_path": error.json_path,
                "error": error.kind,
                "schema": result.schema,
                "schema_version": declared,
            }
            if error.value is not None:
                details["value"] = error.value
            yield Violation(f"{error.json_path}: {error.message}", ctx.path(key), details)
        rest = len(result.errors) - cap
        if rest > 0:
            yield Violation(
                f"and {rest} more schema error{'s' if rest != 1 else ''} in {key} "
                f"(only the first {cap} are listed; see metadata.max_errors_per_file)",
                ctx.path(key),
                {"more": rest, "total": len(result.errors), "schema": result.schema, "schema_version": declared},
            )


def record_file(ctx: AssetContext) -> str:
    """The record's key at the asset root (the convention's ``metadata.record_file``)."""
    return str(ctx.convention.section("metadata").get("record_file", RECORD_FILE))


def asset_verdict(ctx: AssetContext) -> AssetVerdict | None:
    """The asset judged as a whole (computed once per asset); None when it has no core file."""
    return ctx.memo(("asset-verdict",), lambda: _judge(ctx))


def _judge(ctx: AssetContext) -> AssetVerdict | None:
    if ctx.asset.partial:  # a core file the listing lacks may exist: the whole cannot be judged (E901 says why)
        return None
    documents = []
    for key in policy_of(ctx).core_files:
        if not ctx.has(key):
            continue
        doc = ctx.json(key)
        if doc is None or doc.data is None or doc.text is None:
            # unreadable (E901) or not a JSON object (M202): that error already fails the asset
            # and says why it cannot be judged as a whole; an M214 would say it twice
            return None
        version = doc.data.get("schema_version")
        well_formed = isinstance(version, str) and VERSION_RE.match(version) is not None
        documents.append(Document(key, stem(key), version if well_formed else None, doc.text))
    if not documents:
        return None
    return validate_asset(ctx.name, f"{ctx.target.label.rstrip('/')}/{ctx.name}", documents, ctx.schemas)


def forgiven(verdict: AssetVerdict, answer: ValidatorAnswer) -> bool:
    """A crash caused by a file that entered unvalidated: that file's own finding says it."""
    bad = verdict.unvalidated
    return answer.crash_in in bad if answer.crash_in is not None else bool(bad & set(answer.files))


def record_validation(ctx: AssetContext) -> Validation | None:
    """``metadata.nd.json`` validated by the ``Metadata`` of the version it declares (once per
    content); None when absent or not a JSON object."""
    key = record_file(ctx)
    doc = ctx.json(key) if ctx.has(key) else None
    if doc is None or doc.data is None:
        return None
    data, text = doc.data, doc.text
    version = declared_version(key, data)
    if version.problem is not None:
        return Validation(key, version, None)
    kind = _validation_kind(ctx, key)
    return ctx.by_content(
        key,
        kind,
        lambda: Validation(key, version, validate("metadata", version.declared, text or "", data, ctx.schemas)),
    )


def asset_schema_violations(ctx: AssetContext) -> Iterator[Violation]:
    """M203's asset-level part: ``metadata.nd.json`` reported as a sidecar is, and each
    ``Metadata`` validator that crashed on valid files."""
    record = record_validation(ctx)
    if record is not None:
        yield from schema_errors(ctx, record.key, record)
    verdict = asset_verdict(ctx)
    if verdict is None or not verdict.judged:
        return
    for answer in verdict.validators:
        if answer.outcome != "crashed" or forgiven(verdict, answer):
            continue
        key = answer.crash_in or (answer.files[0] if answer.files else None)
        files = ", ".join(answer.files) or "no core file"
        yield Violation(
            f"$: {answer.name} of {verdict.schema} raised {answer.message} on files that are valid [files: {files}]",
            ctx.path(key) if key else ctx.name,
            {
                "json_path": "$",
                "error": "validator_error",
                "schema": verdict.schema,
                "validator": answer.name,
                "files": list(answer.files),
                "basis": verdict.basis,
            },
        )

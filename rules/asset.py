"""M211-M214: the asset as a whole, as upstream's own ``Metadata`` judges it, and its record
``metadata.nd.json`` held against the root sidecars.

The asset-level verdict (``linter.validation.asset_verdict``) is computed once per asset and
shared by these rules and M203, which reports there what is a file's own failure (a ``Metadata``
validator crashing on valid files; ``metadata.nd.json`` failing its own ``Metadata``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

from linter.context import AssetContext
from linter.findings import Severity, Violation
from linter.metadata import stem
from linter.registry import rule
from linter.sidecar_json import json_path
from linter.validation.asset_verdict import AssetVerdict
from rules.sidecars import asset_verdict, policy_of, record_file, record_validation, validation

DATA_DESCRIPTION = "data_description.json"
MAX_DIFFERENCES = 5


def _alone(ctx: AssetContext, key: str) -> str:
    """How the file fares alone: 'invalid' (M203 says why), 'valid', or why it was not judged."""
    result = validation(ctx, key)
    if result is None or result.verdict is None:
        return "its schema_version cannot be looked up (M204)"
    if result.verdict.status == "invalid":
        return "invalid"
    if result.verdict.status == "valid":
        return f"valid alone by {result.verdict.schema}"
    if result.verdict.status == "unknown-version":
        return f"no release declares its schema_version {result.version.declared} (M204)"
    return f"its own release could not be used (M204): {result.verdict.message}"


def _where(ctx: AssetContext, files: tuple[str, ...]) -> str:
    return ctx.path(files[0]) if files else ctx.name


# what 1.x Metadata's expected-files validators raise: "Missing some metadata for Ecephys. Requires
# subject, ..." (1.0-1.1), "SPIM metadata missing required file: procedures" (1.2-1.4)
_MISSING_FILES_1X = re.compile(r"^Missing some metadata for .+\. Requires |^\S+ metadata missing required file: ")


def _derived_1x(verdict: AssetVerdict) -> bool:
    """A 1.x asset whose data_description entered ``Metadata`` as ``DerivedDataDescription``,
    where upstream's own field type (``DataDescription``) rejects it."""
    entry = verdict.file(DATA_DESCRIPTION)
    return (
        (verdict.release or "").startswith("1.")
        and entry is not None
        and (entry.schema or "").endswith(" DerivedDataDescription")
    )


@rule(
    "M211",
    "asset-validation",
    "error",
    "Upstream's Metadata rejects the asset (or warns about it): a cross-file validator failed.",
    reads_content=True,
    judges_absence=True,
)
def asset_validation(ctx: AssetContext) -> Iterator[Violation]:
    """aind-data-schema's answer to "is this asset's metadata valid" is its ``Metadata`` model,
    built from every core file, whose validators check the files against each other: in 2.x the
    required file sets, ``subject_details`` of in-vivo acquisitions, injection materials, the
    instrument and acquisition agreeing (``instrument_id``), active devices and connections
    existing in the instrument or the procedures, time constraints against the acquisition
    window, and, as warnings, expected files, calibration tags, training protocol references and
    the name's time against ``acquisition_end_time``; in 1.x expected files by modality, injection
    materials and the rig and session agreeing.

    The asset is judged by one release (M214 says when it cannot be): the newest that declares
    every core file's version, else the release of ``data_description.json``'s version, else the
    newest declaring the most files; each finding names it and why. Each file enters as that
    release validates it; a file that fails (M203, or M213 when only this release rejects it)
    enters as upstream builds it, unvalidated, so that the validators still run. Each validator
    is called on its own, so each failing one is a finding: an error where upstream raises, a
    warning for each warning it gives, naming the files it reads. A validator that crashes is
    M203's (on valid files) or not reported (on a file that failed, whose finding says so).

    One upstream quirk is not followed: 1.x ``Metadata`` types ``data_description`` as
    ``DataDescription``, which rejects the fields of 1.x's own ``DerivedDataDescription``; a
    derived 1.x asset is judged with the class that accepts its file. Upstream's validators
    therefore never judged a derived 1.x asset's files by modality (its ``Metadata`` failed
    before them): where they find a file missing in one, the finding is a warning, and whether
    the file is required is M201's (the convention's file sets).
    """
    verdict = asset_verdict(ctx)
    if verdict is None or not verdict.judged:
        return
    ctx.judged["metadata"] = verdict.schema
    derived_1x = _derived_1x(verdict)
    for answer in verdict.validators:
        details: dict[str, Any] = {
            "validator": answer.name,
            "schema": verdict.schema,
            "release": verdict.release,
            "basis": verdict.basis,
            "files": list(answer.files),
        }
        unvalidated = sorted(verdict.unvalidated & set(answer.files))
        if unvalidated:
            details["unvalidated"] = unvalidated
        files = ", ".join(answer.files) or "no core file"
        if answer.outcome == "raised" and derived_1x and _MISSING_FILES_1X.match(answer.message or ""):
            yield Violation(
                f"{answer.name} ({verdict.schema}) would reject the asset: {answer.message} [files: {files}]; "
                "upstream's 1.x Metadata never reached this check for derived data (its DataDescription "
                "field rejects DerivedDataDescription), so which files a derived asset needs is M201's",
                _where(ctx, answer.files),
                {**details, "outcome": "raised", "error": answer.message, "derived_1x": True},
                Severity.WARNING,
            )
        elif answer.outcome == "raised":
            yield Violation(
                f"{answer.name} ({verdict.schema}) rejects the asset: {answer.message} [files: {files}]",
                _where(ctx, answer.files),
                {**details, "outcome": "raised", "error": answer.message},
            )
        for warning in answer.warnings:
            yield Violation(
                f"{answer.name} ({verdict.schema}) warns: {warning} [files: {files}]",
                _where(ctx, answer.files),
                {**details, "outcome": "warned", "warning": warning},
                Severity.WARNING,
            )


@rule(
    "M213",
    "release-mix",
    "error",
    "A core file fails validation by the release the asset's Metadata is built with.",
    reads_content=True,
    judges_absence=True,
)
def release_mix(ctx: AssetContext) -> Iterator[Violation]:
    """An asset's files are judged together by one release's ``Metadata`` (see M211). A file that
    this release rejects, although it is valid alone by the release declaring its version (or
    could not be judged alone), mixes versions that upstream's ``Metadata`` cannot hold together
    (a 0.x ``subject.json`` beside a 2.x ``data_description.json``). The finding names the release,
    why it was chosen, and its first errors. A file that is invalid alone is M203's.
    """
    verdict = asset_verdict(ctx)
    if verdict is None or not verdict.judged:
        return
    for entry in verdict.files:
        if entry.status != "invalid":
            continue
        alone = _alone(ctx, entry.key)
        if alone == "invalid":
            continue
        first = f"; first: {entry.first[0]}" if entry.first else ""
        if entry.crash and not entry.first:
            first = f"; {entry.crash}"
        count = f"{entry.errors} error{'s' if entry.errors != 1 else ''}" if entry.errors else "it cannot be built"
        yield Violation(
            f"{entry.key} fails validation by {verdict.schema}'s release, which judges the asset "
            f"({verdict.basis}): {count}{first} ({alone})",
            ctx.path(entry.key),
            {
                "release": verdict.release,
                "basis": verdict.basis,
                "errors": entry.errors,
                "first_errors": list(entry.first),
                "alone": alone,
            },
        )


@rule(
    "M214",
    "asset-not-validated",
    "warning",
    "The asset could not be validated as a whole by upstream's Metadata.",
    reads_content=True,
    judges_absence=True,
)
def asset_not_validated(ctx: AssetContext) -> Iterator[Violation]:
    """Said whenever an asset with core files is not judged as a whole (M211), never passed
    silently: the release chosen for it has no ``Metadata`` (before late 0.x) or a pydantic 1 one
    (0.14-0.18), no file declares a version any release declares, a file is not JSON, or the
    release cannot be prepared (the finding gives the command that prepares it). Also when
    ``metadata.nd.json`` declares no version a release declares, so that it cannot be validated.
    """
    verdict = asset_verdict(ctx)
    if verdict is not None and not verdict.judged:
        details: dict[str, Any] = {"release": verdict.release, "basis": verdict.basis, "reason": verdict.message}
        release = f" (aind-data-schema {verdict.release}: {verdict.basis})" if verdict.release else ""
        how = f"; prepare it with `{verdict.command}`" if verdict.command else ""
        if verdict.command:
            details["command"] = verdict.command
        yield Violation(
            f"the asset is not validated as a whole{release}: {verdict.message}{how}; "
            "its files are validated one by one",
            ctx.name,
            details,
        )
    record = record_validation(ctx)
    if record is not None and (record.verdict is None or not record.verdict.judged):
        why = record.version.message if record.verdict is None else record.verdict.message
        yield Violation(
            f"{record.key} is not validated: {why}",
            ctx.path(record.key),
            {"problem": record.version.problem or (record.verdict.status if record.verdict else None)},
        )


@rule(
    "M212",
    "record-mismatch",
    "error",
    "metadata.nd.json disagrees with a root sidecar, or is missing where the convention expects it.",
    reads_content=True,
    judges_absence=True,
)
def record_mismatch(ctx: AssetContext) -> Iterator[Violation]:
    """AIND's indexer writes the asset's whole record (from its database, DocDB) to
    ``metadata.nd.json`` at the asset root, and treats the database as the truth: it rewrites each
    root sidecar from the record's field of that name, deletes a root sidecar whose field is
    null, and keeps the replaced files under ``original_metadata/``. Each core field of the record
    is held against the root sidecar of that name: one finding per field that is null or absent
    where the sidecar exists, present where it does not, or holds another object (the finding
    names the first differing JSON paths). A sidecar whose ETag (S3) or content hash (a folder)
    equals that of the field written as the indexer writes it (``json.dumps(..., indent=3,
    ensure_ascii=False, sort_keys=True)``) agrees without being read.

    With ``metadata.record_expected: true`` in the convention, an asset without the record (the
    convention's ``metadata.record_file``, default ``metadata.nd.json``) is a finding too.
    """
    key = record_file(ctx)
    if not ctx.has(key):
        if ctx.convention.section("metadata").get("record_expected", False):
            yield Violation(
                f"{key} is missing; the convention expects the asset's record at its root",
                ctx.path(key),
                {"file": key},
            )
        return
    doc = ctx.json(key)
    record = doc.data if doc is not None else None
    if record is None:
        return  # unreadable or not a JSON object: M202's
    for sidecar in policy_of(ctx).core_files:
        field = stem(sidecar)
        if field not in record:
            continue  # the record's Metadata has no such field (a 2.x record has no rig)
        value = record[field]
        if value is None:
            if ctx.has(sidecar):
                yield Violation(
                    f"{key} holds no {field} (null), but {sidecar} is at the root (the indexer would delete it)",
                    ctx.path(sidecar),
                    {"field": field, "record": key, "sidecar": sidecar, "problem": "null-in-record"},
                )
            continue
        if not ctx.has(sidecar):
            yield Violation(
                f"{key} holds a {field}, but {sidecar} is not at the root",
                ctx.path(sidecar),
                {"field": field, "record": key, "sidecar": sidecar, "problem": "missing-sidecar"},
            )
            continue
        if _fingerprint_agrees(ctx, sidecar, value):
            continue
        side = ctx.json(sidecar)
        if side is None or side.data is None:
            continue  # M202's
        differences = list(_differences(value, side.data))
        if differences:
            shown = ", ".join(differences[:MAX_DIFFERENCES])
            more = f" and {len(differences) - MAX_DIFFERENCES} more" if len(differences) > MAX_DIFFERENCES else ""
            yield Violation(
                f"{key}'s {field} differs from {sidecar} at {shown}{more} (the indexer would rewrite {sidecar} "
                "from the record)",
                ctx.path(sidecar),
                {
                    "field": field,
                    "record": key,
                    "sidecar": sidecar,
                    "problem": "differs",
                    "differences": differences[:MAX_DIFFERENCES],
                    "count": len(differences),
                },
            )


def canonical(value: Any) -> bytes:
    """A core field as AIND's indexer writes it (and fingerprints it)."""
    return json.dumps(value, indent=3, ensure_ascii=False, sort_keys=True).encode("utf-8")


def _fingerprint_agrees(ctx: AssetContext, key: str, value: Any) -> bool:
    """The listing proves the object holds ``value`` written canonically: its ETag is the MD5 of
    those bytes (a single-part upload), or its content hash their SHA-256."""
    obj = ctx.objects_by_key[key]
    if obj.etag is None and obj.content_hash is None:
        return False
    body = canonical(value)
    if obj.etag is not None and obj.etag.strip('"') == hashlib.md5(body, usedforsecurity=False).hexdigest():
        return True
    return obj.content_hash is not None and obj.content_hash == "sha256:" + hashlib.sha256(body).hexdigest()


def _differences(left: Any, right: Any, path: tuple[str | int, ...] = ()) -> Iterator[str]:
    """The JSON paths where two JSON values differ (a list of another length is one difference)."""
    if isinstance(left, dict) and isinstance(right, dict):
        for name in sorted(set(left) | set(right)):
            if name not in left or name not in right:
                yield json_path([*path, name])
            else:
                yield from _differences(left[name], right[name], (*path, name))
    elif isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        for i, (a, b) in enumerate(zip(left, right, strict=True)):
            yield from _differences(a, b, (*path, i))
    elif (type(left) is not type(right) or left != right) and not _same_number(left, right):
        yield json_path(list(path))


def _same_number(left: Any, right: Any) -> bool:
    """1 and 1.0 are one JSON number (True is not 1)."""
    numbers = (int, float)
    plain = not isinstance(left, bool) and not isinstance(right, bool)
    return plain and isinstance(left, numbers) and isinstance(right, numbers) and left == right

"""M2xx: the sidecar metadata files beside each asset's data (and L304, which needs them).

The policy (core file names, required sets, exclusive pairs, limits) comes from the convention's
``metadata`` section; reading lives in ``linter.metadata``, validation in ``linter.validation``. Rules that read a
sidecar's bytes declare ``reads_content=True`` and read it only through ``ctx.json``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from linter.context import AssetContext, JsonDocument
from linter.findings import Severity, Violation
from linter.metadata import (
    Validation,
    creation_moment,
    data_level,
    declared_version,
    modalities,
    source_names,
)
from linter.names import is_asset_folder
from linter.registry import rule
from linter.validation import table as release_table
from rules.sidecars import asset_schema_violations, policy_of, schema_errors, validation

DATA_DESCRIPTION = "data_description.json"


def _object(ctx: AssetContext, key: str) -> dict[str, Any] | None:
    """The sidecar's JSON object, or None when absent, unreadable or not a JSON object (M202)."""
    doc = ctx.json(key)
    return doc.data if doc is not None else None


def _present_documents(ctx: AssetContext) -> Iterator[tuple[str, JsonDocument]]:
    for key in policy_of(ctx).sidecar_files:
        if ctx.has(key):
            doc = ctx.json(key)
            if doc is not None:
                yield key, doc


def _level(ctx: AssetContext) -> str:
    level = ctx.parsed.level
    if level in ("raw", "derived"):
        return level
    description = _object(ctx, DATA_DESCRIPTION)
    return (data_level(description) if description else None) or "unknown"


def _modalities(ctx: AssetContext) -> frozenset[str]:
    description = _object(ctx, DATA_DESCRIPTION)
    found = modalities(description) if description else frozenset()
    if not found and ctx.parsed.modality:
        found = frozenset({ctx.parsed.modality})
    return found


@rule(
    "M201",
    "missing-sidecar",
    "error",
    "A sidecar file the convention requires is missing.",
    reads_content=True,
    judges_absence=True,
)
def missing_sidecar(ctx: AssetContext) -> Iterator[Violation]:
    """Each asset carries its metadata as sidecar JSON files at its root. Which files are
    required is the convention's choice (``metadata.required_set`` names one of
    ``metadata.required_sets``). The default, ``published``, follows AIND's Data Access page:
    raw and derived assets carry ``data_description``, ``subject``, ``procedures`` and
    ``processing``, plus one of ``rig``/``instrument`` and one of ``session``/``acquisition``.
    The convention also ships the aind-data-schema 2.x sets (``aind-data-schema-2``), the 1.x
    per-modality sets (``aind-data-schema-1``, which reads the modalities from
    ``data_description.json``) and AIND's upload check (``aind-upload``).

    A file stored under another name the convention lists (``metadata.aliases``: the 0.x line
    wrote ``ephys_rig.json``, ``ophys_session.json``, ``mri_session.json``, ...) counts as the
    file it stands for.

    One finding per missing file, or per group of which none is present.
    """
    pol = policy_of(ctx)
    required = pol.required
    if required is None:
        return
    present = {pol.stands_for(key) for key in ctx.objects_by_key if "/" not in key}
    level = _level(ctx)
    asset_modalities = _modalities(ctx) if required.uses_modalities else None
    reported: set[str] = set()
    for clause in required.clauses:
        if not clause.applies(level, asset_modalities, present):
            continue
        why = f"set {required.name!r}" + (f", {clause.why()}" if clause.why() else "")
        for key in clause.require:
            if key not in present and key not in reported:
                reported.add(key)
                yield Violation(
                    f"required sidecar {key} is missing ({why})",
                    ctx.path(key),
                    {"file": key, "required_set": required.name},
                )
        for group in clause.one_of:
            label = " or ".join(group)
            if not any(key in present for key in group) and label not in reported:
                reported.add(label)
                yield Violation(
                    f"none of {', '.join(group)} is present; one is required ({why})",
                    ctx.path(group[0]),
                    {"one_of": list(group), "required_set": required.name},
                )


@rule(
    "M202", "invalid-json", "error", "A sidecar is not a UTF-8 JSON object within the size limit.", reads_content=True
)
def invalid_json(ctx: AssetContext) -> Iterator[Violation]:
    """A core sidecar must be UTF-8 text holding one JSON object, no larger than
    ``metadata.max_json_bytes`` (default 32 MiB; a larger file is never read past the limit).
    The JSON is read as strictly as aind-data-schema's ``model_validate_json`` and AIND's other
    tools read it: a UTF-8 byte order mark, ``NaN``/``Infinity``, a key given twice in one
    object, a string holding a lone UTF-16 surrogate (``"\\ud800"``) and an integer of more
    digits than a parser converts are errors too.
    The finding says what is wrong: the offset of a byte that is not UTF-8, the line and column
    where parsing failed (and the JSON path of a problem inside the document), the type of a
    top level that is not an object, or the size.
    """
    for key, doc in _present_documents(ctx):
        if doc.error is not None:
            yield Violation(f"{key} is {doc.error}", ctx.path(key), dict(doc.details))


@rule(
    "M203",
    "schema-violation",
    "error",
    "A sidecar fails validation by the aind-data-schema release that declares its version.",
    reads_content=True,
)
def schema_violation(ctx: AssetContext) -> Iterator[Violation]:
    """Each sidecar is validated by the real pydantic models of the aind-data-schema release that
    declares its (model, ``schema_version``), with that release's own pre-validators, exactly as
    upstream validates it: never by another release's models. The installed release validates
    the versions it declares in-process; every other release runs in its own environment,
    prepared on first need and cached (see ``aind-bucket-lint schemas``).

    The 0.x line had several classes per file, each numbering its versions apart (``EphysRig``
    and ``OphysRig``; ``EphysSession``, ``OphysSession``, ``MriSession`` and ``Session``): the
    file's class comes from its ``describedBy`` (which names the class's source file), else from
    its name (``ephys_session.json``, see ``metadata.aliases``), and only a release where *that*
    class declares the version judges it, with that class. Where a release has several models
    for one file and the file names none (1.x ``DataDescription`` and
    ``DerivedDataDescription``) the file is valid when one accepts it.

    One finding per error, with its JSON path (``$.subject_details.sex``) and the model's
    message, up to ``metadata.max_errors_per_file`` (default 20) per file; one more finding
    counts the rest. Files that could not be judged are left to M204.

    The asset's record ``metadata.nd.json`` is validated the same way, by the ``Metadata`` model
    of the version it declares; and a validator of upstream's ``Metadata`` that crashes on valid
    files when the asset is judged as a whole (M211) is an error at ``$``, naming it.
    """
    for key, doc in _present_documents(ctx):
        result = validation(ctx, key)
        _note_judged(ctx, key, doc, result)
        yield from schema_errors(ctx, key, result)
    yield from asset_schema_violations(ctx)


def _note_judged(ctx: AssetContext, key: str, doc: JsonDocument, result: Validation | None) -> None:
    """What the ``status`` report needs that no finding says of a valid file: what judged it and
    its top-level fields (``set``, or ``empty``: null, "", [] or {})."""
    if doc.data is None:
        return
    fields = {name: "empty" if value in (None, "", [], {}) else "set" for name, value in doc.data.items()}
    ctx.judged[key] = {"schema": result.schema if result is not None else None, "fields": fields}


@rule(
    "M204",
    "schema-version",
    "error",
    "A sidecar's schema_version is missing, malformed, unknown, or its release cannot be prepared.",
    reads_content=True,
)
def schema_version(ctx: AssetContext) -> Iterator[Violation]:
    """Every sidecar declares the aind-data-schema version that wrote it in ``schema_version``
    (``MAJOR.MINOR.PATCH``). The linter reads that field itself: the pydantic models silently
    replace a missing or wrong value with their own. A missing or malformed value is an error
    (the file cannot be validated). A warning, when the file could not be judged:

    - no published release declares that version of that model (a pre-release such as
      2.0.25, or a model the generation does not have, such as a 2.x ``rig.json``; for a 0.x
      file, of its own class): the finding names the nearest published versions. A version
      newer than every published one may come from a release published after the release
      table was made: an online run first refreshes the table from the package index (at most
      once a day; ``aind-bucket-lint schemas update`` does it at once), and offline the finding
      names the table's date and that command;
    - the release that declares it is not prepared and cannot be (``--offline``, or its
      installation failed): the finding names the release, the reason and the command that
      prepares it (``aind-bucket-lint schemas install RELEASE``).
    """
    for key, doc in _present_documents(ctx):
        if doc.data is None:
            continue
        verdict = declared_version(key, doc.data)
        if verdict.problem is not None:
            yield Violation(
                verdict.message or key,
                ctx.path(key),
                {
                    "problem": verdict.problem,
                    "schema_version": verdict.declared if verdict.problem != "missing" else None,
                    "generation": verdict.generation,
                },
            )
            continue
        result = validation(ctx, key)
        outcome = result.verdict if result is not None else None
        if outcome is None or outcome.judged:
            continue
        if outcome.status == "unknown-version":
            details: dict[str, Any] = {
                "problem": "unknown-version",
                "schema_version": verdict.declared,
                "generation": verdict.generation,
                "nearest": list(outcome.nearest),
            }
            if outcome.command is not None:
                details |= {"release_table": release_table(ctx.schemas).day, "command": outcome.command}
            yield Violation(
                f"{key}: {outcome.message}; it cannot be validated", ctx.path(key), details, Severity.WARNING
            )
        else:
            yield Violation(
                f"{key} declares schema_version {verdict.declared} of aind-data-schema {outcome.release}, "
                f"which could not be used: {outcome.message}; prepare it with `{outcome.command}`",
                ctx.path(key),
                {
                    "problem": "not-prepared",
                    "schema_version": verdict.declared,
                    "generation": verdict.generation,
                    "release": outcome.release,
                    "command": outcome.command,
                    "reason": outcome.message,
                },
                Severity.WARNING,
            )


@rule("M205", "conflicting-sidecars", "error", "Both files of a mutually exclusive pair are present.")
def conflicting_sidecars(ctx: AssetContext) -> Iterator[Violation]:
    """aind-data-schema 2.x replaced ``rig.json`` by ``instrument.json`` and ``session.json`` by
    ``acquisition.json``; an asset carries one file of each pair, never both (the pairs are the
    convention's ``metadata.exclusive_pairs``; a 0.x name such as ``ephys_rig.json`` counts as
    the file it stands for). Both present means two descriptions of the same thing that tools
    will read differently.
    """
    pol = policy_of(ctx)
    root = [key for key in ctx.objects_by_key if "/" not in key]
    for first, second in pol.exclusive_pairs:
        one, other = pol.stored_as(first, root), pol.stored_as(second, root)
        if one is not None and other is not None:
            yield Violation(
                f"{one} and {other} are both present; an asset carries one or the other",
                ctx.path(other),
                {"files": [one, other]},
            )


@rule("M206", "name-mismatch", "error", "data_description.name differs from the folder name.", reads_content=True)
def name_mismatch(ctx: AssetContext) -> Iterator[Violation]:
    """``data_description.json`` names its asset; the name must be the asset's folder (prefix)
    name. A difference usually means the sidecar was copied from another asset, or the asset
    was uploaded twice under names a second apart.
    """
    description = _object(ctx, DATA_DESCRIPTION)
    name = description.get("name") if description else None
    if isinstance(name, str) and name != ctx.name:
        yield Violation(
            f"data_description.json name {name!r} differs from the folder name {ctx.name!r}",
            ctx.path(DATA_DESCRIPTION),
            {"declared": name, "folder": ctx.name},
        )


@rule("M207", "level-mismatch", "error", "data_level contradicts the asset name.", reads_content=True)
def level_mismatch(ctx: AssetContext) -> Iterator[Violation]:
    """A raw name (``<modality>_<subject>_<date>_<time>``) belongs to ``data_level: raw``, a
    derived name (``<raw-name>_<label>_<date>_<time>``) to ``data_level: derived``. A derived
    asset still saying ``raw`` usually carries its source's data_description unchanged.
    Legacy values ``raw data`` and ``derived data`` count as ``raw`` and ``derived``.
    """
    level = ctx.parsed.level
    description = _object(ctx, DATA_DESCRIPTION)
    if level not in ("raw", "derived") or not description:
        return
    declared = data_level(description)
    if declared is not None and declared != level:
        yield Violation(
            f"data_description.json data_level {description.get('data_level')!r} contradicts the name, "
            f"which is a {level} asset name",
            ctx.path(DATA_DESCRIPTION),
            {"data_level": description.get("data_level"), "name_level": level},
        )


def _subject_id(data: dict[str, Any]) -> str | None:
    value = data.get("subject_id")
    if isinstance(value, bool) or value is None:
        return None
    return str(value) if isinstance(value, str | int) else None


@rule(
    "M208",
    "subject-mismatch",
    "error",
    "A sidecar's subject_id differs from the name's subject id.",
    reads_content=True,
)
def subject_mismatch(ctx: AssetContext) -> Iterator[Violation]:
    """The subject id in the asset's name must equal ``subject_id`` in ``data_description.json``
    and ``subject.json`` (the files are the convention's ``metadata.subject_id_files``). When the
    name has no subject id (it does not parse), those files must at least agree with each other.
    """
    subject = ctx.parsed.subject
    seen: list[tuple[str, str]] = []
    for key in policy_of(ctx).subject_id_files:
        data = _object(ctx, key)
        value = _subject_id(data) if data else None
        if value is None:
            continue
        if subject is not None and value != subject:
            yield Violation(
                f"{key} subject_id {value!r} differs from the name's subject id {subject!r}",
                ctx.path(key),
                {"subject_id": value, "name_subject": subject},
            )
        seen.append((key, value))
    if subject is None and len({value for _, value in seen}) > 1:
        (first, first_value), *others = seen
        for key, value in others:
            if value != first_value:
                yield Violation(
                    f"{key} subject_id {value!r} differs from {first} subject_id {first_value!r}",
                    ctx.path(key),
                    {"subject_id": value, "other": first, "other_subject_id": first_value},
                )


def _span(seconds: int) -> str:
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size} {unit}")
            seconds %= size
    return " ".join(parts) or "0 s"


@rule("M209", "time-mismatch", "warning", "The name's timestamp differs from creation_time.", reads_content=True)
def time_mismatch(ctx: AssetContext) -> Iterator[Violation]:
    """The last timestamp of the name (the acquisition time of a raw asset, the processing time
    of a derived one) should be ``data_description.creation_time``, compared to the second as
    wall-clock time (the name carries no time zone). Sources disagree on whether a raw name
    records the start or the end of an acquisition, and some writers stored UTC, so this is a
    warning that gives both values and the difference.
    """
    stamps = ctx.parsed.stamps
    description = _object(ctx, DATA_DESCRIPTION)
    if not stamps or not description:
        return
    named = stamps[-1].value()
    created = creation_moment(description)
    if named is None or created is None or named == created:
        return
    delta = int(abs((created - named).total_seconds()))
    direction = "later" if created > named else "earlier"
    raw = description.get("creation_time")
    yield Violation(
        f"the name's timestamp {stamps[-1]} differs from data_description.json creation_time {raw!r} "
        f"({_span(delta)} {direction})",
        ctx.path(DATA_DESCRIPTION),
        {"name_time": str(stamps[-1]), "creation_time": raw, "difference_seconds": delta},
    )


@rule("M210", "misplaced-sidecar", "warning", "A core sidecar file sits below the asset root.")
def misplaced_sidecar(ctx: AssetContext) -> Iterator[Violation]:
    """Sidecars sit at the asset root, beside the data; tools look for them nowhere else. A core
    sidecar name (``subject.json``, ``processing.json``, ...) found in a folder below the root is
    reported, except where the convention expects copies (``metadata.misplaced_ignore``, by
    default ``original_metadata/``, where AIND's indexer keeps the files it replaced) and in
    folders that are themselves assets stored inside this one (that is L301's finding).
    """
    pol = policy_of(ctx)
    candidates = []
    for key in sorted(ctx.objects_by_key):
        if "/" in key:
            folder, base = key.rsplit("/", 1)
            if base in pol.core_names and not pol.ignored_below_root(key):
                candidates.append((key, folder, base))
    for key, folder, base in candidates:
        if _inside_nested_asset(ctx, folder):
            continue
        yield Violation(
            f"{base} is in {folder}/ below the asset root; sidecars belong at the root, beside the data",
            ctx.path(key),
            {"file": base, "folder": folder},
        )


def _inside_nested_asset(ctx: AssetContext, folder: str) -> bool:
    """True when ``folder`` or a folder above it is one L301 reports as an asset inside this
    asset: named like an asset, or holding data_description.json."""
    parts = folder.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        if is_asset_folder(parts[i - 1], ctx.convention, ctx.holder(prefix)):
            return True
    return False


@rule(
    "L304",
    "source-mismatch",
    "error",
    "A derived asset's data_description does not name the source in its name.",
    reads_content=True,
)
def source_mismatch(ctx: AssetContext) -> Iterator[Violation]:
    """A derived asset's name begins with the name of the asset it was made from, and its
    ``data_description.json`` must say the same: ``source_data`` (2.x, a list of asset names)
    or ``input_data_name`` (1.x and earlier) must include that source. Entries given as
    ``s3://`` URLs or paths are compared by their last part.
    """
    parsed = ctx.parsed
    description = _object(ctx, DATA_DESCRIPTION)
    if parsed.level != "derived" or parsed.source is None or not description:
        return
    sources = source_names(description)
    if sources is None:
        yield Violation(
            f"data_description.json of derived asset names no source (source_data); expected {parsed.source!r}",
            ctx.path(DATA_DESCRIPTION),
            {"expected": parsed.source, "source_data": None},
        )
    elif parsed.source not in sources:
        yield Violation(
            f"data_description.json source_data {sources} does not include {parsed.source!r}, "
            "the source named in the asset's name",
            ctx.path(DATA_DESCRIPTION),
            {"expected": parsed.source, "source_data": sources},
        )

"""``status``: field-level states in AIND's own vocabulary, one JSON object a line.

aind-metadata-validator (what fills the ``metadata_status`` table AIND's portal reads) judges a
record at three depths, keyed ``metadata``, ``<file>`` and ``<file>.<field>``, each with a
``MetadataState``: ``VALID`` (2), ``PRESENT`` (1), ``OPTIONAL`` (0), ``MISSING`` (-1), ``CORRUPT``
(-3). This format writes the same keys and states per asset, judged from the asset's sidecars
as the linter judged them, each with the release that judged it. The states are derived from
the findings (M201 missing sidecar, M202 not JSON, M203 schema violations at their
``json_path``, M204 version not judged, M211/M213/M214 the asset as a whole) and from what the
run recorded of each asset (:attr:`~linter.findings.AssetResult.judged`: which core sidecars are
at its root, what judged each and its top-level fields), so ``aind-bucket-lint report`` renders
it from a saved ``json``/``jsonl`` report of a run that wrote ``status`` too. The README's
"Field-level status" section tells how each state is derived.

Where the linter did not reach a verdict (M204, M214, a release not prepared) the state is
``null`` with a ``reason``: AIND's vocabulary has no state for "not judged", and none is guessed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import IO, Any

from linter.conventions import DEFAULT_CORE_FILES, load_convention
from linter.findings import AssetResult, Finding, Severity
from linter.reports import BaseReporter, ReportOptions, RunFooter, writes_utf8
from linter.safetext import scrub_obj

STATES = {"VALID": 2, "PRESENT": 1, "OPTIONAL": 0, "MISSING": -1, "CORRUPT": -3}
"""aind-metadata-validator's ``MetadataState`` (``utils.py``), by name."""

EXTRA_FIELDS = (
    "describedBy",
    "schema_version",
    "creation_time",
    "_DESCRIBED_BY_URL",
    "_described_by_url",
    "object_type",
)
"""The fields aind-metadata-validator leaves out (``mappings.EXTRA_FIELDS``; a field whose name
contains one of them)."""

ORDER = ("asset", "location", "key", "file", "field", "state", "value", "release", "rules")
"""The fields of a line, in order (``reason`` last, where ``state`` is null)."""
UNRECORDED = "the report did not record the asset's sidecars (a run with a status report does)"
FILE_RULES = frozenset({"M202", "M203", "M204"})
_FIELD = re.compile(r"^\$(?:\.([^.\[]+)|\['((?:[^'\\]|\\.)*)'\])")


def _field_of(json_path: Any) -> str | None:
    """The top-level field a JSON path is at: ``$.subject_details.sex`` -> ``subject_details``."""
    if not isinstance(json_path, str):
        return None
    match = _FIELD.match(json_path)
    if match is None:
        return None
    return match.group(1) if match.group(1) is not None else re.sub(r"\\(.)", r"\1", match.group(2))


def _ignored(field: str) -> bool:
    return any(extra in field for extra in EXTRA_FIELDS)


def _metadata_schema(finding: Finding) -> str | None:
    schema = finding.details.get("schema")
    if isinstance(schema, str):
        return schema
    release = finding.details.get("release")
    return f"aind-data-schema {release} Metadata" if isinstance(release, str) else None


def _codes(findings: Iterable[Finding]) -> list[str]:
    return sorted({f.rule for f in findings})


class StatusReporter(BaseReporter):
    """One line per asset and key: ``metadata``, each core file (``subject``), each top-level field
    of a present file (``subject.subject_id``)."""

    records_judged = True
    """The run must record :attr:`AssetResult.judged` (``RunPlan.record_judged``)."""

    def __init__(self, out: IO[str], options: ReportOptions) -> None:
        super().__init__(out, options)
        self.ascii = not writes_utf8(out)
        self._files: tuple[tuple[str, tuple[str, ...]], ...] | None = None

    @property
    def core_files(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Each core file of the convention (its ``metadata`` section, as the M rules read it) with
        the names it may be stored under, itself first."""
        if self._files is None:
            convention = self.options.convention or load_convention("aind-open-data")
            section = convention.section("metadata")
            aliases = section.get("aliases") or {}
            self._files = tuple(
                (core, (core, *(name for name, raw in aliases.items() if raw.get("stands_for") == core)))
                for core in section.get("core_files", DEFAULT_CORE_FILES)
            )
        return self._files

    def _line(self, **fields: Any) -> None:
        state = fields.get("state")
        record = {name: fields.get(name) for name in ORDER}
        record["value"] = STATES.get(state) if state is not None else None
        if state is None:
            record["reason"] = fields.get("reason")
        self.out.write(json.dumps(scrub_obj(record), ensure_ascii=self.ascii, separators=(",", ":")) + "\n")

    def asset(self, result: AssetResult) -> None:
        if result.name is None:
            return
        for line in self.states(result):
            self._line(**line)
        self.out.flush()

    def finish(self, footer: RunFooter) -> None:
        self.out.flush()

    # --- the states ---------------------------------------------------------------------------

    def states(self, result: AssetResult) -> list[dict[str, Any]]:
        """Every line of one asset, ``metadata`` first, then each core file and its fields."""
        name = result.name or ""
        location = self.target().base + name
        judged = result.judged
        recorded: dict[str, Any] | None = judged.get("files") if judged is not None else None
        by_path: dict[str, list[Finding]] = {}
        for f in result.findings:
            if f.path is not None:
                by_path.setdefault(f.path, []).append(f)

        def at(key: str) -> list[Finding]:
            return by_path.get(f"{name}/{key}", [])

        missing: dict[str, list[Finding]] = {}
        for f in result.findings:
            if f.rule != "M201":
                continue
            keys = f.details.get("one_of") or [f.details.get("file")]
            for key in keys:
                if isinstance(key, str):
                    missing.setdefault(key, []).append(f)

        def base(key: str, field: str | None = None) -> dict[str, Any]:
            stem = key.removesuffix(".json")
            return {
                "asset": name,
                "location": location,
                "key": stem if field is None else f"{stem}.{field}",
                "file": key,
                "field": field,
            }

        files: list[dict[str, Any]] = []
        fields: list[dict[str, Any]] = []
        file_states: list[Any] = []
        for core, names in self.core_files:
            present = [k for k in names if self._present(k, recorded, at)]
            if not present:
                line = base(core)
                if core in missing:
                    line.update(state="MISSING", release=None, rules=_codes(missing[core]))
                elif recorded is not None:
                    line.update(state="OPTIONAL", release=None, rules=[])
                else:
                    line.update(
                        state=None,
                        release=None,
                        rules=[],
                        reason=UNRECORDED,
                    )
                files.append(line)
                file_states.append(line["state"])
                continue
            key = present[0]
            own = [f for f in at(key) if f.rule in FILE_RULES and "validator" not in f.details]
            shape = recorded.get(key) if recorded is not None else None
            line = {**base(key), "key": core.removesuffix(".json")}
            m202 = [f for f in own if f.rule == "M202"]
            m203 = [f for f in own if f.rule == "M203"]
            m204 = [f for f in own if f.rule == "M204"]
            if m202:
                line.update(state="CORRUPT", release=None, rules=_codes(m202))
            elif m204:
                line.update(state=None, release=None, rules=_codes(m204), reason=m204[0].message)
            elif m203:
                schema = next((f.details["schema"] for f in m203 if isinstance(f.details.get("schema"), str)), None)
                line.update(state="PRESENT", release=schema, rules=_codes(m203))
            elif shape is not None and shape.get("schema"):
                line.update(state="VALID", release=shape["schema"], rules=[])
            else:
                why = "not judged in this run" if recorded is not None else "the report did not record it"
                line.update(state=None, release=None, rules=[], reason=f"{key}: {why}")
            files.append(line)
            file_states.append(line["state"])
            if line["state"] != "CORRUPT":
                fields.extend(self._fields(line, shape, m203, base))
        return [self._metadata(result, location, file_states, recorded), *files, *fields]

    @staticmethod
    def _present(key: str, recorded: dict[str, Any] | None, at: Any) -> bool:
        if recorded is not None:
            return key in recorded
        return any(f.rule != "M201" for f in at(key))

    @staticmethod
    def _fields(file_line: dict[str, Any], shape: dict[str, Any] | None, m203: list[Finding], base: Any) -> list[dict]:
        """Each top-level field of a present file: those it holds, and those M203 finds missing."""
        stem = file_line["key"]
        held: dict[str, str] = dict(shape.get("fields") or {}) if shape is not None else {}
        errors: dict[str, list[Finding]] = {}
        for f in m203:
            field = _field_of(f.details.get("json_path"))
            if field is not None:
                errors.setdefault(field, []).append(f)
        out = []
        for field in [*held, *(f for f in errors if f not in held)]:
            if _ignored(field):
                continue
            line = {**base(file_line["file"], field), "key": f"{stem}.{field}", "release": file_line["release"]}
            found = errors.get(field, [])
            if file_line["state"] is None:
                line.update(state=None, rules=[], reason=file_line.get("reason"))
            elif found:
                if field in held:
                    absent = held[field] == "empty"
                else:  # absent where the record says which fields the file holds; else as the error says
                    absent = shape is not None or any(f.details.get("error") == "missing" for f in found)
                line.update(state="MISSING" if absent else "PRESENT", rules=_codes(found))
            else:
                line.update(state="OPTIONAL" if held[field] == "empty" else "VALID", rules=[])
            out.append(line)
        return out

    def _metadata(
        self, result: AssetResult, location: str, file_states: list[Any], recorded: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The asset as a whole: what upstream's ``Metadata`` made of its files (M211, M213, M203's
        crashing validators, M214), and PRESENT whenever a file is not VALID/OPTIONAL."""
        name = result.name or ""
        whole = [
            f
            for f in result.findings
            if (f.rule == "M211" and f.severity is Severity.ERROR)
            or f.rule == "M213"
            or (f.rule == "M203" and "validator" in f.details)
        ]
        not_judged = [f for f in result.findings if f.rule == "M214" and f.path == name]
        judged = result.judged.get("metadata") if result.judged is not None else None
        release = judged or next((s for s in map(_metadata_schema, [*whole, *not_judged]) if s), None)
        line: dict[str, Any] = {"asset": name, "location": location, "key": "metadata", "file": None, "field": None}
        bad = [s for s in file_states if s in ("PRESENT", "CORRUPT", "MISSING")]
        if whole or bad:
            file_rules = [
                f for f in result.findings if f.rule in ("M201", *FILE_RULES) and "validator" not in f.details
            ]
            line.update(state="PRESENT", release=release, rules=_codes([*whole, *file_rules]))
        elif not_judged:
            line.update(state=None, release=release, rules=["M214"], reason=not_judged[0].message)
        elif recorded is None:
            line.update(state=None, release=release, rules=[], reason=UNRECORDED)
        elif None in file_states:
            line.update(state=None, release=release, rules=[], reason="a core file was not judged")
        elif judged:
            line.update(state="VALID", release=judged, rules=[])
        elif recorded is not None and not recorded:
            line.update(state=None, release=None, rules=[], reason="no core sidecar at the asset root")
        else:
            line.update(state=None, release=release, rules=[], reason="the asset was not judged as a whole")
        return line

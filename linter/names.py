"""The asset-name grammar: parse a name into its raw/derived parts.

raw:      [<modality>_]<subject-id>_<YYYY-MM-DD>_<HH-MM-SS>
derived:  <source-name>_<label>_<YYYY-MM-DD>_<HH-MM-SS>
analysis: <project>_<analysis>_<YYYY-MM-DD>_<HH-MM-SS>   (1.x AnalysisDescription; only when the
          convention's ``names.analysis_form`` allows it and <project> is no modality)

Tokens are separated by ``_``. A derived label is everything between its source name and the
final ``<date>_<time>``, so it may hold ``_`` (``..._spike_sorting_2022-10-12_23-23-11`` is a derived
name of source ``..._16-30-01`` and label ``spike_sorting``, as aind-data-schema 2.x builds it; rule
N108 reports the ``_``, which the 1.x docs forbid). Parsing is structural and lenient about token
*content* (an unknown modality or an impossible date still parses), so that each rule can report
its own problem; ``grammar_error`` is set only when the structure itself fails.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from linter.conventions import Convention

DATE_SHAPE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
TIME_SHAPE = re.compile(r"^[0-9]{2}-[0-9]{2}-[0-9]{2}$")

Level = Literal["raw", "derived", "unknown"]


@dataclass(frozen=True, slots=True)
class Stamp:
    """A ``<date>_<time>`` pair of tokens, shaped right but not necessarily real."""

    date: str
    time: str

    def __str__(self) -> str:
        return f"{self.date}_{self.time}"

    @property
    def date_valid(self) -> bool:
        try:
            dt.date.fromisoformat(self.date)
        except ValueError:
            return False
        return True

    @property
    def time_valid(self) -> bool:
        hh, mm, ss = (int(part) for part in self.time.split("-"))
        return hh < 24 and mm < 60 and ss < 60

    def value(self) -> dt.datetime | None:
        """The moment named, or None when the date or the time does not exist."""
        if not (self.date_valid and self.time_valid):
            return None
        hh, mm, ss = (int(part) for part in self.time.split("-"))
        return dt.datetime.combine(dt.date.fromisoformat(self.date), dt.time(hh, mm, ss))


@dataclass(frozen=True, slots=True)
class ParsedName:
    name: str
    tokens: tuple[str, ...]
    level: Level
    modality: str | None = None
    subject: str | None = None
    stamps: tuple[Stamp, ...] = ()
    labels: tuple[str, ...] = ()
    source: str | None = None
    raw_name: str | None = None
    grammar_error: str | None = None
    project: str | None = None
    """The project of a 1.x analysis name (``analysis`` is then its first label)."""

    @property
    def is_asset_name(self) -> bool:
        return self.grammar_error is None


def _pairs(tokens: tuple[str, ...]) -> list[int]:
    found, i = [], 0
    while i < len(tokens) - 1:
        if DATE_SHAPE.match(tokens[i]) and TIME_SHAPE.match(tokens[i + 1]):
            found.append(i)
            i += 2
        else:
            i += 1
    return found


ASSET_MARKER = "data_description.json"
"""The file whose presence makes a folder an asset, whatever the folder's name."""


def is_asset_folder(name: str, convention: Convention, holds: Callable[[str], bool] | None = None) -> bool:
    """Whether a folder is an asset: its name parses as an asset name, or it holds
    ``data_description.json``. ``holds(key)``: whether the folder holds the file ``key`` (asked
    only when the name does not decide); None where its files are not known (yet): then the name
    alone decides. Every source, the pre-commit hook and the rules about nested assets decide it
    here."""
    return parse_name(name, convention).is_asset_name or (holds is not None and holds(ASSET_MARKER))


def parse_name(name: str, convention: Convention) -> ParsedName:
    return _parse_cached(name, convention.modality_optional, convention.modalities, convention.analysis_form)


@lru_cache(maxsize=65536)
def _parse_cached(name: str, modality_optional: bool, modalities: frozenset[str], analysis_form: bool) -> ParsedName:
    tokens = tuple(name.split("_"))
    pairs = _pairs(tokens)

    def fail(message: str) -> ParsedName:
        return ParsedName(name, tokens, "unknown", grammar_error=message)

    if not pairs:
        dates = [t for t in tokens if DATE_SHAPE.match(t)]
        if dates:
            return fail(f"date {dates[0]!r} is not followed by a time token HH-MM-SS")
        return fail("no '_<YYYY-MM-DD>_<HH-MM-SS>' timestamp in the name")

    head = tokens[: pairs[0]]
    modality: str | None
    if "" in head:
        return fail(f"{'_'.join(head)!r} before the first timestamp has an empty token")
    if len(head) == 2:
        modality, subject = head
    elif len(head) == 1:
        modality, subject = None, head[0]
        if not modality_optional:
            return fail(f"no modality before subject id {subject!r}: expected <modality>_<subject-id>_<date>_<time>")
    elif not head:
        return fail("the name starts with a timestamp: a subject id must come first")
    else:
        joined = "_".join(head)
        lone_dates = [t for t in head if DATE_SHAPE.match(t)]
        if lone_dates:
            return fail(f"date {lone_dates[0]!r} in {joined!r} is not followed by a time token HH-MM-SS")
        return fail(
            f"{joined!r} before the first timestamp has {len(head)} tokens; expected "
            "[<modality>_]<subject-id> (a token never contains '_')"
        )

    labels: list[str] = []
    for k, start in enumerate(pairs[1:], start=1):
        segment = tokens[pairs[k - 1] + 2 : start]
        if not segment:
            return fail(f"two timestamps in a row at {tokens[start]}_{tokens[start + 1]}: a label must come between")
        if "" in segment:
            return fail(f"label {'_'.join(segment)!r} has an empty part")
        labels.append("_".join(segment))

    trailing = tokens[pairs[-1] + 2 :]
    if trailing:
        text = "_".join(trailing)
        if len(trailing) == 2 and DATE_SHAPE.match(trailing[1]):
            return fail(f"derived suffix {text!r} has a date but no time: expected _<label>_<YYYY-MM-DD>_<HH-MM-SS>")
        return fail(f"{text!r} after the last timestamp is not _<label>_<YYYY-MM-DD>_<HH-MM-SS>")

    stamps = tuple(Stamp(tokens[i], tokens[i + 1]) for i in pairs)
    raw_name = "_".join(tokens[: pairs[0] + 2])
    if len(stamps) == 1:
        if analysis_form and modality is not None and modality not in modalities:
            # <project>_<analysis>_<date>_<time>: no modality and no subject to check
            return ParsedName(name, tokens, "raw", None, None, stamps, (subject,), None, raw_name, None, modality)
        return ParsedName(name, tokens, "raw", modality, subject, stamps, (), None, raw_name)
    last_label_tokens = len(labels[-1].split("_"))
    source = "_".join(tokens[: pairs[-1] - last_label_tokens])
    return ParsedName(name, tokens, "derived", modality, subject, stamps, tuple(labels), source, raw_name)


_NAME_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-")


@lru_cache(maxsize=16)
def _strict_pattern(modalities: frozenset[str], optional: bool, forbidden: frozenset[str]) -> str | None:
    allowed = _NAME_CHARACTERS - forbidden
    if not set("0123456789-") <= allowed:
        return None  # every timestamp holds a character the convention forbids
    cls = "[" + "".join(re.escape(c) for c in sorted(allowed)) + "]+"
    listed = sorted(m for m in modalities if m and set(m) <= allowed)
    if not listed and not optional:
        return None
    date = "([1-9][0-9]{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01]))"
    time = "((?:[01][0-9]|2[0-3])-[0-5][0-9]-[0-5][0-9])"
    modality = "(" + "|".join(re.escape(m) for m in listed) + ")_" if listed else "()"
    head = f"(?:{modality})?" if optional else modality
    return f"^{head}({cls})_{date}_{time}(?:_({cls})_{date}_{time})?$"


def strict_name_pattern(convention: Convention) -> str | None:
    """A regular expression, in the syntax Python's ``re`` and RE2 (DuckDB) share, that matches
    only names the N1xx rules certainly accept, whole (raw, or derived from a raw name with a
    label free of ``_``), so that a columnar listing can clear them without parsing each in
    Python; its dates are shaped right but may not exist (check them apart). Groups: 1 modality,
    2 subject, 3 date, 4 time, then for a derived name 5 label, 6 date, 7 time. None when the
    convention admits no such name (it forbids a character every timestamp holds).

    It is stricter than the grammar (ASCII letters, digits, ``.`` and ``-`` only, a modality of
    the vocabulary or none): a name it does not match is parsed and judged in Python as always.
    """
    return _strict_pattern(convention.modalities, convention.modality_optional, convention.forbidden_characters)

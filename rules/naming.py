"""N1xx: asset names follow the raw/derived grammar of the convention."""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Iterator

from linter.context import AssetContext
from linter.conventions import Convention
from linter.findings import Violation
from linter.registry import rule
from linter.safetext import invisible_characters, printable

STRICT_NAME = "name_form IS NOT NULL"
"""The listing summary's clearance of a name rule: the name is of the strict form (see
:func:`linter.names.strict_name_pattern`), which every N1xx rule accepts, N103 and N107 aside."""


def _no_placeholder(convention: Convention) -> str:
    times = ", ".join("'" + t.replace("'", "''") + "'" for t in sorted(convention.placeholder_times))
    if not times:
        return STRICT_NAME
    last = f"coalesce(right(last_stamp, 8), '') NOT IN ({times})"
    return f"name_form IS NOT NULL AND right(stamp, 8) NOT IN ({times}) AND {last}"


@rule(
    "N101",
    "name-grammar",
    "error",
    "The asset name parses as neither a raw nor a derived name.",
    needs_listing=False,
    clears=STRICT_NAME,
)
def name_grammar(ctx: AssetContext) -> Iterator[Violation]:
    """The asset's name must be a raw name, ``[<modality>_]<subject-id>_<YYYY-MM-DD>_<HH-MM-SS>``,
    or a derived name, ``<source-name>_<label>_<YYYY-MM-DD>_<HH-MM-SS>``. Tokens are separated by
    ``_``; the modality and subject id never contain it. A derived label is everything between
    its source name and the final date and time, as aind-data-schema 2.x builds derived names,
    so ``..._16-30-01_spike_sorting_2022-10-12_23-23-11`` is derived with label ``spike_sorting``
    (N108 warns about the ``_``). A derived suffix with a date but no time, an empty token, or
    more than two tokens before the first timestamp break the grammar. With the convention's
    ``names.analysis_form``, the 1.x analysis name ``<project>_<analysis>_<date>_<time>`` is
    accepted too (its project is then no modality).

    The message says which part of the name does not fit.
    """
    parsed = ctx.parsed
    if parsed.grammar_error is not None:
        yield Violation(f"{ctx.name!r} is not a raw or derived asset name: {parsed.grammar_error}", ctx.name)


def suggest_modality(token: str, modalities: dict[str, list[str]], vocabulary: frozenset[str]) -> str | None:
    same_letters = modalities.get(token.lower())
    if same_letters:
        return same_letters[0]
    close = difflib.get_close_matches(token, sorted(vocabulary), n=1, cutoff=0.8)
    return close[0] if close else None


@rule(
    "N102",
    "unknown-modality",
    "error",
    "The modality token is not in the convention's vocabulary.",
    needs_listing=False,
    clears=STRICT_NAME,
)
def unknown_modality(ctx: AssetContext) -> Iterator[Violation]:
    """A raw name's first token, when it has four, names the modality (or platform) and must be
    one of the convention's vocabulary, with its exact case: ``SmartSPIM``, not ``smartspim``.
    Where a vocabulary entry differs only in case, or is a near spelling, it is suggested.

    The aind-open-data vocabulary is that of every era: each platform (1.x), modality (2.x) and
    experiment type (0.x) a published aind-data-schema or aind-data-schema-models release
    defines (``diSPIM``, a 0.x experiment type, is one), less the convention's
    ``names.excluded_modalities`` (``Other``, a placeholder).
    """
    modality = ctx.parsed.modality
    conv = ctx.convention
    if modality is None or modality in conv.modalities or modality == "":
        return
    suggestion = suggest_modality(modality, conv.modalities_by_lower, conv.modalities)
    hint = f"; did you mean {suggestion!r}?" if suggestion else "; see the convention's names.modalities"
    details = {"token": modality, "suggestion": suggestion}
    yield Violation(f"modality {modality!r} is not in the vocabulary{hint}", ctx.name, details)


@rule(
    "N103",
    "invalid-datetime",
    "error",
    "A date or time in the name does not exist.",
    needs_listing=False,
    clears="name_form IS NOT NULL AND dates_valid",
)
def invalid_datetime(ctx: AssetContext) -> Iterator[Violation]:
    """Dates are ``YYYY-MM-DD`` and times ``HH-MM-SS`` on a 24-hour clock, and both must exist:
    ``2023-02-29`` and ``25-00-00`` are shaped right but are not real.
    """
    for stamp in ctx.parsed.stamps:
        if not stamp.date_valid:
            yield Violation(f"date {stamp.date!r} does not exist on the calendar", ctx.name, {"token": stamp.date})
        if not stamp.time_valid:
            yield Violation(
                f"time {stamp.time!r} does not exist on a 24-hour clock (HH-MM-SS)", ctx.name, {"token": stamp.time}
            )


@rule(
    "N104",
    "invalid-token",
    "error",
    "A token of the name is empty or holds a forbidden character.",
    needs_listing=False,
    clears=STRICT_NAME,
)
def invalid_token(ctx: AssetContext) -> Iterator[Violation]:
    """No token may be empty (``__``, or ``_`` at either end) or contain a character the
    convention forbids (by default ``< > : ; " / | ? \\`` and space). ``-`` and ``.`` are allowed.

    Whatever the convention says, a name never holds a character a reader cannot see or that
    reorders what is shown (control characters, zero-width characters such as U+200B,
    bidirectional overrides such as U+202E): such a name looks identical to another one.
    """
    hidden = invisible_characters(ctx.name)
    if hidden:
        visible = "".join(c for c in ctx.name if printable(c) == c)
        yield Violation(
            f"the name holds invisible character(s) {', '.join(hidden)}; it shows as {visible!r} but is another name",
            ctx.name,
            {"characters": hidden, "suggestion": visible},
        )
    forbidden = ctx.convention.forbidden_characters
    tokens = ctx.parsed.tokens
    for i, token in enumerate(tokens):
        if token == "":
            where = "at the start" if i == 0 else "at the end" if i == len(tokens) - 1 else f"at position {i + 1}"
            yield Violation(f"empty token {where} of the name (a stray '_')", ctx.name, {"position": i + 1})
            continue
        if forbidden.isdisjoint(token):  # the common case, decided without a loop in Python
            continue
        bad = sorted({c for c in token if c in forbidden})
        if bad:
            shown = " ".join(repr(c) for c in bad)
            fixed = "".join("-" if c in forbidden else c for c in token)
            yield Violation(
                f"token {token!r} contains forbidden character(s) {shown}; e.g. {fixed!r}",
                ctx.name,
                {"token": token, "characters": bad, "suggestion": fixed},
            )


@rule(
    "N105",
    "derived-before-source",
    "error",
    "A derived timestamp precedes its source's timestamp.",
    needs_listing=False,
    clears="name_form = 'raw' OR (name_form = 'derived' AND last_stamp >= stamp)",
)
def derived_before_source(ctx: AssetContext) -> Iterator[Violation]:
    """A derived asset's timestamp is its processing time, which cannot come before the
    acquisition (or processing) time of the asset it was derived from.
    """
    stamps = ctx.parsed.stamps
    for earlier, later in itertools.pairwise(stamps):
        a, b = earlier.value(), later.value()
        if a is not None and b is not None and b < a:
            yield Violation(
                f"derived timestamp {later} precedes its source's timestamp {earlier}",
                ctx.name,
                {"derived": str(later), "source": str(earlier)},
            )


@rule(
    "N106",
    "daisy-chained",
    "error",
    "The source part of a derived name is itself derived.",
    needs_listing=False,
    clears=STRICT_NAME,
)
def daisy_chained(ctx: AssetContext) -> Iterator[Violation]:
    """ "Do not daisy-chain": a derived name is ``<raw-name>_<label>_<date>_<time>``, so its source
    part must be a raw name. ``<raw>_<a>_<dt>_<b>_<dt>`` stacks two derivations in one name;
    name the result after the raw asset and record the chain in ``data_description.source_data``.
    """
    parsed = ctx.parsed
    if parsed.level == "derived" and len(parsed.stamps) > 2:
        suggestion = f"{parsed.raw_name}_{parsed.labels[-1]}_{parsed.stamps[-1]}"
        yield Violation(
            f"source part {parsed.source!r} is itself a derived name; name the asset after its raw source, "
            f"e.g. {suggestion!r}",
            ctx.name,
            {"source": parsed.source, "raw": parsed.raw_name, "suggestion": suggestion},
        )


@rule(
    "N108",
    "label-underscore",
    "warning",
    "A derived label contains '_'.",
    needs_listing=False,
    clears=STRICT_NAME,
)
def label_underscore(ctx: AssetContext) -> Iterator[Violation]:
    """aind-data-schema 2.x builds a derived name from any process name, ``_`` included
    (``..._dlc_face_2024-04-25_12-15-20``), and such names parse unambiguously: the label is
    everything between the source name and the final date and time. The 1.x naming docs forbid
    ``_`` in a label, and tools that split names on ``_`` misread them, so this is reported
    (a warning in the aind-open-data convention; set its severity in the convention's
    ``severity``). Join the label's words with ``-`` instead.
    """
    parsed = ctx.parsed
    for label in parsed.labels if parsed.level == "derived" else ():
        if "_" in label:
            yield Violation(
                f"label {label!r} contains '_'; join its words with '-' ({label.replace('_', '-')!r})",
                ctx.name,
                {"label": label, "suggestion": label.replace("_", "-")},
            )


@rule(
    "N107",
    "placeholder-time",
    "info",
    "A time of 00-00-00, usually a placeholder for an unknown time.",
    needs_listing=False,
    clears=_no_placeholder,
)
def placeholder_time(ctx: AssetContext) -> Iterator[Violation]:
    """A time of ``00-00-00`` (or another placeholder the convention lists) is almost always a
    stand-in for an unknown acquisition time rather than a real midnight start.
    """
    placeholders = ctx.convention.placeholder_times
    for stamp in ctx.parsed.stamps:
        if stamp.time in placeholders:
            yield Violation(f"time {stamp.time!r} in {stamp} looks like a placeholder", ctx.name, {"token": stamp.time})

"""The modality vocabulary of every era, read from the published releases (``scripts/make_vocabulary.py``).

A raw asset name begins with a platform (1.x), a modality (2.x) or, in the 0.x line, an
experiment type (``diSPIM``: ``ExperimentType.DISPIM`` of aind-data-schema 0.12/0.13). The
vocabulary is every such abbreviation the published aind-data-schema and aind-data-schema-models
releases define, with its case kept (``smartSPIM`` was the platform of 0.14.0-0.15.0, ``SmartSPIM``
before and after). The wheels are read statically: in classes named ``Modality``, ``Platform`` or
``ExperimentType``, and in modules named ``modalities`` or ``platforms``, each ``abbreviation``
given as a keyword, a ``Literal`` default or a dict entry, and each string member of an
``ExperimentType`` enum.

The script writes the list into the convention's ``names.modalities`` between two marker
comments, each entry annotated with where it comes from; a convention narrows it with
``names.excluded_modalities``.
"""

from __future__ import annotations

import ast
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import Version

KINDS = {"Modality": "modality", "Platform": "platform", "ExperimentType": "experiment type"}
MODULE_KINDS = {"modalities": "modality", "platforms": "platform"}
PACKAGES = {"aind-data-schema": "aind-data-schema", "aind-data-schema-models": "models"}
BEGIN = "# BEGIN vocabulary"
END = "# END vocabulary"


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _abbreviations(node: ast.AST) -> list[str]:
    found = []
    for sub in ast.walk(node):
        if (isinstance(sub, ast.keyword) and sub.arg == "abbreviation") or (
            isinstance(sub, ast.AnnAssign) and getattr(sub.target, "id", None) == "abbreviation"
        ):
            value = _literal(sub.value)
        elif isinstance(sub, ast.Dict):
            value = next(
                (_literal(v) for k, v in zip(sub.keys, sub.values, strict=True) if _literal(k) == "abbreviation"),
                None,
            )
        else:
            continue
        if value:
            found.append(value)
    return found


def read_wheel(wheel: Path) -> dict[str, set[str]]:
    """{abbreviation: its kinds} that one wheel defines."""
    out: dict[str, set[str]] = {}
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if not name.endswith(".py") or ".dist-info/" in name:
                continue
            try:
                tree = ast.parse(zf.read(name))
            except SyntaxError:
                continue
            module_kind = MODULE_KINDS.get(name.rsplit("/", 1)[-1][:-3])
            for node in tree.body:
                if not isinstance(node, ast.ClassDef):
                    continue
                kind = KINDS.get(node.name) or module_kind
                if kind is None:
                    continue
                tokens = _abbreviations(node)
                if node.name == "ExperimentType":
                    tokens += [v for item in node.body if isinstance(item, ast.Assign) and (v := _literal(item.value))]
                for token in tokens:
                    out.setdefault(token, set()).add(kind)
    return out


@dataclass
class Entry:
    """One abbreviation: for each kind, for each package, the first and last release defining it."""

    token: str
    spans: dict[str, dict[str, list[Version]]] = field(default_factory=dict)

    def note(self) -> str:
        parts = []
        for kind in sorted(self.spans):
            where = []
            for package in sorted(self.spans[kind]):
                first, last = self.spans[kind][package]
                span = str(first) if first == last else f"{first}-{last}"
                where.append(f"{PACKAGES.get(package, package)} {span}")
            parts.append(f"{kind}: {', '.join(where)}")
        return "; ".join(parts)


def collect(wheels: Iterable[tuple[str, Version, Path]]) -> dict[str, Entry]:
    """Every abbreviation the wheels ((package, version, path)) define, with where."""
    entries: dict[str, Entry] = {}
    for package, version, wheel in wheels:
        for token, kinds in read_wheel(wheel).items():
            entry = entries.setdefault(token, Entry(token))
            for kind in kinds:
                span = entry.spans.setdefault(kind, {}).setdefault(package, [version, version])
                span[0], span[1] = min(span[0], version), max(span[1], version)
    return entries


def render(entries: dict[str, Entry], indent: str = "    ") -> list[str]:
    """The YAML list items, sorted case-insensitively, each with a comment saying where it comes from."""
    tokens = sorted(entries, key=lambda t: (t.lower(), t))
    width = max((len(t) for t in tokens), default=0)
    return [f"{indent}- {t:<{width}}  # {entries[t].note()}" for t in tokens]


def replace_block(text: str, lines: list[str]) -> str:
    """The convention text with the lines between the vocabulary markers replaced."""
    pattern = re.compile(rf"(^[ \t]*{re.escape(BEGIN)}[^\n]*\n)(.*?)(^[ \t]*{re.escape(END)})", re.S | re.M)
    new, count = pattern.subn(lambda m: m.group(1) + "".join(line + "\n" for line in lines) + m.group(3), text)
    if count != 1:
        raise ValueError(f"the convention lacks the '{BEGIN}' / '{END}' markers")
    return new

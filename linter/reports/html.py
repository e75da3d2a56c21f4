"""``html``: one self-contained page for people: overview, charts, a filterable findings table.

The page opens offline: styles, script and data are inside it, the charts are SVG drawn here.
Libraries (chosen rather than hand-written renderers):

- **Jinja2** renders the page from ``templates/report.html.j2`` with autoescaping on, so no
  asset name, key or message can inject markup.
- **pygal** draws the charts (findings over the last audits, by rule, by modality) as SVG in
  Python, inlined in the page. It needs no JavaScript at view time and no browser library
  copied into the page or the repository; its own optional tooltip script (loaded from the web)
  is turned off, so nothing is fetched when the page is opened.

The findings table holds one row per asset and rule (count, new count, one example path and
message), not one per finding, so 10^6 findings over 10^5 assets stay a table of a few 10^5
rows. Rows travel as gzip-compressed JSON (base64) in the page and are unpacked by the
browser's own ``DecompressionStream``; the table filters by rule, severity, status and asset
name and shows one page of rows at a time. At most ``max_table_rows`` rows (default 300,000,
the most severe) are embedded; the page says how many were left out.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import IO, Any

from linter.findings import AssetResult, Severity
from linter.overview import Overview
from linter.reports import BaseReporter, ReportOptions, RunFooter
from linter.terminal import plural

CHART_RULES = 20
CHART_MODALITIES = 20
TREND_AUDITS = 30
FIXED_ROWS = 500


def _style() -> Any:
    from pygal.style import Style

    return Style(
        background="transparent",
        plot_background="#ffffff",
        foreground="#333333",
        foreground_strong="#111111",
        foreground_subtle="#888888",
        colors=("#c62828", "#ef8f00", "#1e88e5", "#2e7d32", "#6a1b9a", "#00838f"),
        font_family="system-ui, sans-serif",
        label_font_size=11,
        major_label_font_size=11,
        legend_font_size=12,
        title_font_size=14,
    )


def _chart(kind: str, title: str, **config: Any) -> Any:
    import pygal

    cls = getattr(pygal, kind)
    return cls(
        js=[],  # pygal's tooltip script would come from the web: the page must work offline
        disable_xml_declaration=True,
        style=_style(),
        title=title,
        width=config.pop("width", 720),
        height=config.pop("height", 360),
        legend_at_bottom=True,
        print_values=False,
        show_y_guides=True,
        truncate_label=-1,
        **config,
    )


def _integer_axis(chart: Any, values: list[Any]) -> None:
    """Counts are whole numbers: ticks at whole steps, never 0.1, 0.2, ..."""
    top = max([v for v in values if isinstance(v, int | float)] or [0])
    step = max(1, -(-int(top) // 8))
    chart.y_labels = list(range(0, int(top) + step, step))


def _svg(chart: Any) -> str:
    return str(chart.render(is_unicode=True))


def trend_chart(trend: list[dict[str, Any]], current: dict[str, Any] | None) -> str:
    points = list(trend[-TREND_AUDITS:])
    if current is not None:
        points.append(current)
    chart = _chart("Line", "Findings over the last audits", x_label_rotation=30, dots_size=3)
    labels = [p["started_at"][:16].replace("T", " ") for p in points]
    if len(set(labels)) < len(labels):  # several audits in one minute: show the seconds
        labels = [p["started_at"][:19].replace("T", " ") for p in points]
    chart.x_labels = labels
    for sev, label in (("error", "errors"), ("warning", "warnings"), ("info", "info")):
        chart.add(label, [p["by_severity"][sev] for p in points])
    if any(p.get("new") is not None for p in points):
        chart.add("new", [p.get("new") for p in points])
        chart.add("fixed", [p.get("fixed") for p in points])
    _integer_axis(chart, [v for p in points for v in (*p["by_severity"].values(), p.get("new"), p.get("fixed"))])
    return _svg(chart)


def rules_chart(rules: list[dict[str, Any]]) -> str:
    shown = rules[:CHART_RULES][::-1]  # pygal draws the first label at the bottom: the most at the top
    chart = _chart("HorizontalStackedBar", "Findings by rule", height=max(240, 60 + 24 * len(shown)))
    chart.x_labels = [f"{r['code']} {r['name']}" for r in shown]
    for sev, label in (("error", "errors"), ("warning", "warnings"), ("info", "info")):
        chart.add(label, [r["findings"] if r["severity"] == sev else None for r in shown])
    _integer_axis(chart, [r["findings"] for r in shown])
    return _svg(chart)


def modality_chart(groups: list[dict[str, Any]]) -> str:
    shown = groups[:CHART_MODALITIES]
    chart = _chart("Bar", "Assets and findings by modality", x_label_rotation=30)
    chart.x_labels = [g["label"] for g in shown]
    chart.add("findings", [g["findings"] for g in shown])
    chart.add("failing assets", [g["failing"] for g in shown])
    chart.add("assets", [g["assets"] for g in shown])
    _integer_axis(chart, [v for g in shown for v in (g["findings"], g["assets"])])
    return _svg(chart)


def pack(data: Any) -> str:
    """JSON, gzip-compressed, base64: what the page's script unpacks with DecompressionStream."""
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, compresslevel=6, mtime=0)).decode("ascii")


def unpack(text: str) -> Any:
    return json.loads(gzip.decompress(base64.b64decode(text)))


class HtmlReporter(BaseReporter):
    def __init__(self, out: IO[str], options: ReportOptions) -> None:
        super().__init__(out, options)
        self.fail_on = options.fail_on
        self.max_rows = options.max_table_rows
        self.overview = Overview(options.convention, self.fail_on, keep_rows=True)

    def asset(self, result: AssetResult) -> None:
        self.overview.add(result.name, result.objects, result.findings, result.schema_version)

    def table(self) -> tuple[dict[str, Any], int]:
        """The packed rows of the findings table and how many were left out."""
        ov = self.overview
        rows = sorted(ov.rows, key=lambda r: (-r[2], -r[3], r[0], r[1]))
        left_out = max(0, len(rows) - self.max_rows)
        rows = rows[: self.max_rows]
        assets: dict[str, int] = {}
        rules: dict[str, int] = {}
        packed = []
        for asset, rule, severity, count, new, path, message in rows:
            a = assets.setdefault(asset, len(assets))
            r = rules.setdefault(rule, len(rules))
            # the example path is mostly the asset's name or below it: keep only what differs
            below = bool(asset) and path.startswith(asset + "/")
            short = path[len(asset) + 1 :] if below else ("" if path == asset else path)
            full = int(below)
            packed.append([a, r, severity, count, new, full, short, message])
        names = {code: info["name"] for code, info in ((r["code"], r) for r in ov.rules())}
        data = {
            "assets": list(assets),
            "rules": [[code, names.get(code, "")] for code in rules],
            "rows": packed,
        }
        return data, left_out

    def finish(self, footer: RunFooter) -> None:
        from jinja2 import Environment, PackageLoader, select_autoescape

        ov = self.overview
        ov.fixed = list(footer.fixed or ())
        ov.trend = [dict(a) for a in footer.trend or ()]
        s = footer.summary
        overview = ov.to_dict()
        current = {
            "started_at": self.header.started_at or "",
            "by_severity": s["by_severity"],
            "new": s.get("new"),
            "fixed": s.get("fixed"),
        }
        data, left_out = self.table()
        charts = {
            "trend": trend_chart(ov.trend, current),
            "rules": rules_chart(overview["by_rule"]) if overview["by_rule"] else "",
            "modality": modality_chart(overview["by_modality"]) if overview["by_modality"] else "",
        }
        env = Environment(
            loader=PackageLoader("linter.reports", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters["plural"] = plural
        failing = sum(s["by_severity"][str(x)] for x in Severity if self.fail_on != "never" and x >= ov.threshold)
        page = env.get_template("report.html.j2").render(
            header=self.header,
            footer=footer,
            summary=s,
            overview=overview,
            charts=charts,
            fixed=ov.fixed[:FIXED_ROWS],
            fixed_more=max(0, len(ov.fixed) - FIXED_ROWS),
            payload=pack(data),
            table_rows=len(data["rows"]),
            left_out=left_out,
            fail_on=self.fail_on,
            failing=failing,
            history="new" in s,
        )
        self.out.write(page)

"""Assembling the self-contained HTML page: sections of paragraphs, tables and embedded figures."""

import html
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ml.report.figures import SavedFigure

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:3px solid #2a6f97}h2{border-bottom:1px solid #ccc;margin-top:2em;color:#2a6f97}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:right}th{background:#f2f6f9}
td:first-child,th:first-child{text-align:left}
figure{margin:1em 0}figure img{max-width:100%}figcaption{font-size:.85em;color:#555}
.numbers{display:flex;flex-wrap:wrap;gap:.8em}.number{flex:1 1 180px;border:1px solid #cfe0ea;
border-radius:6px;padding:.6em;background:#f7fbfd}.number b{display:block;font-size:1.5em;color:#2a6f97}
.missing{background:#fff6e5;border-left:4px solid #e0a030;padding:.5em .8em}
.actions li{margin:.4em 0}
"""


@dataclass
class Section:
    """One part of the report: HTML blocks in order, and the facts the summary draws on."""

    title: str
    blocks: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def add(self, block: str) -> None:
        self.blocks.append(block)


def paragraph(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def heading(text: str) -> str:
    return f"<h3>{html.escape(text)}</h3>"


def missing(text: str) -> str:
    """A visible note that a part of the report has no data (never a silent gap)."""
    return f'<p class="missing">{html.escape(text)}</p>'


def table(frame: pd.DataFrame, formats: dict[str, str] | None = None) -> str:
    """``frame`` as an HTML table; ``formats`` maps columns to format strings like '{:,.0f}'."""
    shown = frame.copy()
    for column, pattern in (formats or {}).items():
        if column in shown:
            shown[column] = shown[column].map(
                lambda value, pattern=pattern: "" if pd.isna(value) else pattern.format(value))
    return shown.to_html(index=False, escape=True, border=0, na_rep="")


def figure(saved: SavedFigure) -> str:
    return (f'<figure><img alt="{html.escape(saved.caption)}" '
            f'src="data:image/png;base64,{saved.png_base64}">'
            f"<figcaption>{html.escape(saved.caption)}</figcaption></figure>")


def numbers(items: list[tuple[str, str]]) -> str:
    """Headline figures as boxes: (label, formatted value)."""
    boxes = "".join(f'<div class="number"><b>{html.escape(value)}</b>{html.escape(label)}</div>'
                    for label, value in items)
    return f'<div class="numbers">{boxes}</div>'


def bullet_list(items: list[str], css_class: str = "") -> str:
    entries = "".join(f"<li>{html.escape(item)}</li>" for item in items)
    return f'<ol class="{css_class}">{entries}</ol>'


def page(title: str, subtitle: str, sections: list[Section]) -> str:
    body = "".join(f"<h2>{html.escape(s.title)}</h2>{''.join(s.blocks)}" for s in sections)
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>{paragraph(subtitle)}{body}</body></html>")

"""The HTML of the run report: one self-contained page (inline CSS, relative PNGs, no script,
no CDN) that opens from disk."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#234;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#cde}nav{padding:8px 24px;background:#eef2f6;border-bottom:1px solid #ccd}
nav a{margin-right:14px;color:#235;text-decoration:none}main{padding:8px 24px 40px;max-width:1300px}
section{background:#fff;border:1px solid #dde;border-radius:6px;margin:16px 0;padding:6px 18px 14px}
h2{font-size:17px;border-bottom:1px solid #eee;padding-bottom:4px}h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{border:1px solid #ccd;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f0f3f7}
td.n{text-align:right;font-variant-numeric:tabular-nums}img{max-width:100%;border:1px solid #eee;margin:6px 0}
.note{color:#664;background:#fff8e0;border:1px solid #eed;padding:6px 10px;border-radius:4px}
.err{color:#900;background:#fee;border:1px solid #ecc;padding:6px 10px;border-radius:4px}
figure{display:inline-block;margin:4px 8px 4px 0;text-align:center;font-size:12px}figure img{width:140px}
"""


@dataclass
class Section:
    id: str
    title: str
    parts: list[str] = field(default_factory=list)

    def text(self, s: str, cls: str | None = None) -> Section:
        self.parts.append(f'<p{f" class={cls!r}" if cls else ""}>{html.escape(s)}</p>')
        return self

    def h3(self, s: str) -> Section:
        self.parts.append(f"<h3>{html.escape(s)}</h3>")
        return self

    def image(self, name: str, alt: str) -> Section:
        self.parts.append(f'<img src="{html.escape(name)}" alt="{html.escape(alt)}">')
        return self

    def figure(self, name: str, caption: str) -> Section:
        self.parts.append(f'<figure><img src="{html.escape(name)}" alt="{html.escape(caption)}">'
                          f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        return self

    def table(self, df: pd.DataFrame, digits: int = 3) -> Section:
        self.parts.append(table_html(df, digits))
        return self


def _cell(v, digits: int) -> str:
    if isinstance(v, float):
        return '<td class="n">-</td>' if pd.isna(v) else f'<td class="n">{v:.{digits}f}</td>'
    if isinstance(v, int):
        return f'<td class="n">{v}</td>'
    return f"<td>{html.escape(str(v))}</td>"


def table_html(df: pd.DataFrame, digits: int = 3) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = "".join("<tr>" + "".join(_cell(v.item() if hasattr(v, "item") else v, digits) for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return f"<table><tr>{head}</tr>{rows}</table>"


def render(title: str, subtitle: str, sections: list[Section]) -> str:
    nav = "".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in sections)
    body = "".join(f'<section id="{s.id}"><h2>{html.escape(s.title)}</h2>{"".join(s.parts)}</section>'
                   for s in sections)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body><header><h1>{html.escape(title)}</h1>"
            f"<p>{html.escape(subtitle)}</p></header><nav>{nav}</nav><main>{body}</main></body></html>\n")

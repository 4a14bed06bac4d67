"""Self-contained HTML pages: inline CSS, inline SVG figures, a little inline JavaScript.

A page needs no network when it is viewed: no CDN, no external font, image or script.
Figures are matplotlib figures rendered to SVG with text kept as text
(``svg.fonttype: none``) and a unique id salt per figure, so many figures can share one
document without their clip paths colliding. The script does two things: a filter box
that hides the sections whose title does not match, and ``data-ready`` on ``<body>``
once it ran (what a browser test waits for).

Everything passed as text is escaped; :class:`Raw` marks markup that is already HTML.
"""

from __future__ import annotations

import html
import io
import itertools
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

_SALT = itertools.count()

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       margin: 24px; color: #1a1a1a; max-width: 1400px; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ccc; }
h3 { font-size: 15px; margin: 18px 0 6px; }
p.note { color: #555; font-size: 13px; margin: 4px 0 10px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0 16px; }
th, td { border: 1px solid #d0d0d0; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.worse { color: #b00020; font-weight: 600; }
.better { color: #1b7f3b; font-weight: 600; }
.muted { color: #777; }
figure { margin: 6px 0 18px; }
figure svg { max-width: 100%; height: auto; }
section.series { border-left: 3px solid #e0e0e0; padding-left: 12px; margin: 12px 0; }
#filter { font-size: 14px; padding: 4px 8px; width: 320px; }
"""

JS = """
(function () {
  var box = document.getElementById('filter');
  if (box) {
    box.addEventListener('input', function () {
      var q = box.value.trim().toLowerCase();
      document.querySelectorAll('section.series').forEach(function (s) {
        var key = (s.getAttribute('data-key') || '').toLowerCase();
        s.style.display = (!q || key.indexOf(q) >= 0) ? '' : 'none';
      });
    });
  }
  document.body.setAttribute('data-ready', String(document.querySelectorAll('figure svg').length));
})();
"""


class Raw(str):
    """Text that is already HTML (not escaped again)."""


def esc(x: object) -> str:
    return x if isinstance(x, Raw) else html.escape(str(x))


def tag(name: str, content: object = "", **attrs: object) -> Raw:
    """``<name attrs>content</name>``; attribute ``cls`` becomes ``class``."""
    parts = "".join(
        f' {"class" if k == "cls" else k.replace("_", "-")}="{html.escape(str(v))}"'
        for k, v in attrs.items()
        if v is not None
    )
    return Raw(f"<{name}{parts}>{esc(content)}</{name}>")


def table(
    headers: Sequence[object], rows: Iterable[Sequence[object]], numeric: Iterable[int] = ()
) -> Raw:
    """An HTML table; columns listed in ``numeric`` are right-aligned."""
    right = set(numeric)
    head = "".join(tag("th", h) for h in headers)
    body = "".join(
        "<tr>"
        + "".join(tag("td", c, cls="num" if i in right else None) for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return Raw(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def svg(fig: Any) -> Raw:
    """A matplotlib figure as inline ``<svg>`` markup (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"vitals-{next(_SALT)}"}):
        fig.savefig(buf, format="svg")
    plt.close(fig)
    text = buf.getvalue()
    start = text.index("<svg")
    # matplotlib names fonts with a generic fallback only; the page's CSS font applies
    return Raw(re.sub(r"<metadata>.*?</metadata>", "", text[start:], flags=re.S))


def page(title: str, body: Iterable[object], *, filter_box: bool = False) -> str:
    """A complete HTML document."""
    box = (
        '<p><input id="filter" type="search" placeholder="filter series (e.g. riverside)"></p>'
        if filter_box
        else ""
    )
    content = "".join(esc(part) for part in body)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>{box}{content}"
        f"<script>{JS}</script></body></html>\n"
    )


def utc(t: float) -> datetime:
    """Epoch seconds as an aware UTC datetime (the figures' x axis)."""
    return datetime.fromtimestamp(t, UTC)

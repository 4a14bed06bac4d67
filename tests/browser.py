"""Open a local HTML file in headless Chromium (Debian ``chromium``) through Playwright.

Playwright drives the system Chromium (``executable_path``); it downloads no browser.
Each page opens in a fresh profile (a temporary ``--user-data-dir``) with networking
features off, and every request that is not for the file itself or inline data is
recorded, as are console errors and uncaught exceptions, so a test can require a page
that is self-contained and error-free. Tools/bootstrap.sh installs Chromium.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

_RAGGED = """() => [...document.querySelectorAll('table')].filter(t => {
  const head = t.querySelectorAll('thead th').length;
  return [...t.querySelectorAll('tbody tr')].some(r => r.children.length !== head);
}).map(t => (t.querySelector('th') || {}).textContent || '?')"""
_FIGURES = """() => [...document.querySelectorAll('figure svg')].map(s => {
  const r = s.getBoundingClientRect();
  return {width: r.width, height: r.height, paths: s.querySelectorAll('path').length,
          texts: [...s.querySelectorAll('text')].filter(t => t.getBBox().width > 0).length};
})"""


@dataclass
class Rendered:
    errors: list[str] = field(default_factory=list)
    """Console errors and uncaught exceptions."""
    requests: list[str] = field(default_factory=list)
    """URLs requested other than the page itself and data: URLs."""
    figures: list[dict[str, Any]] = field(default_factory=list)
    ready: str | None = None
    """``data-ready`` on body: set by the page's script once it ran."""
    title: str = ""
    ragged: list[str] = field(default_factory=list)
    """Tables with a row whose cell count differs from the header's (first header cell)."""


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not installed (tools/bootstrap.sh installs Debian's chromium)")
    return path


def render(page_path: Path, screenshot: Path, width: int = 1300) -> Rendered:
    """Load ``page_path``, wait for its script, check its figures, save a full-page PNG."""
    from playwright.sync_api import sync_playwright

    out = Rendered()
    url = page_path.resolve().as_uri()
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=chromium(),
            headless=True,
            args=ARGS,
            viewport={"width": width, "height": 900},
            timeout=120_000,
        )
        try:
            page = context.new_page()
            page.on("console", lambda m: out.errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: out.errors.append(f"uncaught: {exc}"))
            page.on(
                "request",
                lambda r: (
                    None
                    if r.url in (url,) or r.url.startswith("data:")
                    else out.requests.append(r.url)
                ),
            )
            page.goto(url, wait_until="load", timeout=120_000)
            page.wait_for_function("document.body.hasAttribute('data-ready')", timeout=60_000)
            out.ready = page.evaluate("document.body.getAttribute('data-ready')")
            out.figures = page.evaluate(_FIGURES)
            out.title = page.title()
            out.ragged = page.evaluate(_RAGGED)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            context.close()
    return out

"""Open every page of the built book in a real browser and check what a reader would see.

Headless Chromium (Debian's ``chromium`` package), driven by Playwright, loads each page from
a local HTTP server on 127.0.0.1 and checks that

* the page loads, with no error in the browser console and no uncaught JavaScript error;
* no request leaves 127.0.0.1 (every other request is blocked and reported), and none fails;
* on a page with mathematics, MathJax typeset every formula (each ``.math`` element holds an
  ``mjx-container``) and none failed (no ``mjx-merror``);
* every ``<img>`` loaded (``naturalWidth > 0``);
* the site's icon (the page's ``<link rel="icon">``, else ``/favicon.ico``) loads as an image
  (a missing one is a 404 in the console of every page);
* at 1280 px, the primary sidebar (the chapter list) is shown, its toggle button (☰) hides
  it, and a second click brings it back;

and loads it a second time in a phone-sized viewport, 390 px wide, to check that

* the page is no wider than the screen (``scrollWidth <= 391``: nothing makes the reader
  scroll sideways; wide content scrolls inside its own box);
* the ☰ button opens the chapter list.

A chapter page's header card (book/_ext/minigpt_book.py) must be visible. The landing page
(the book's root page) gets checks of its own, at both widths (``check_landing``): the
picture of the route through the book loads, has alt text and fits the screen; the three
ways in (read, run, teach) lead to chapter 1, the setup page and the instructors' page, side
by side at 1280 px and one above the other at 390 px; no console error. It can photograph
the page at both widths (``landing_1280.png``, ``landing_390.png``).

Used by tests/test_book.py, and on its own:

    .venv/bin/python tests/browser_check.py _build/html --screenshots /tmp/shots
    .venv/bin/python tests/browser_check.py _build/html --photograph notebooks/04_attention.html --screenshots book/screenshots
    .venv/bin/python tests/browser_check.py _build/html --landing --screenshots book/screenshots

Playwright's own browser download needs the network; this uses the system Chromium instead
(``apt-get install chromium``), or the executable named by ``MINIGPT_CHROMIUM``.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import shutil
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
LOCAL_HOSTS = {"127.0.0.1"}
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def find_chromium() -> str:
    """Path of the Chromium to drive; raises if there is none (a missing browser is a failure)."""
    configured = os.environ.get("MINIGPT_CHROMIUM")
    if configured:
        if not Path(configured).is_file():
            raise FileNotFoundError(f"MINIGPT_CHROMIUM={configured} is not a file")
        return configured
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    raise FileNotFoundError(
        "no Chromium found: install Debian's `chromium` (apt-get install -y chromium) "
        "or set MINIGPT_CHROMIUM to a Chromium/Chrome executable"
    )


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


class LocalServer:
    """Serve a folder on 127.0.0.1 (a free port) from a background thread."""

    def __init__(self, root: Path):
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@dataclass
class PageReport:
    page: str
    math_elements: int = 0
    mathjax_containers: int = 0
    math_errors: int = 0
    untypeset: int = 0
    images: int = 0
    broken_images: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    solutions: int = 0
    screenshot: str | None = None
    icon: str | None = None  # the site icon's URL, once it was checked
    icon_problem: str | None = None
    sidebar_checked: bool = False  # the page has a primary sidebar, and its toggle was tried
    sidebar_problems: list[str] = field(default_factory=list)
    phone_width: int | None = None  # document scrollWidth at 390 px
    phone_overflow: list[str] = field(default_factory=list)  # what sticks out, for the message
    chapter_card: bool = False  # a visible header card under the title (chapter pages)
    wide_code: list[str] = field(default_factory=list)  # code (not output) boxes scrolling sideways at 1280 px
    images_without_alt: list[str] = field(default_factory=list)  # in the page's article

    def problems(self) -> list[str]:
        out = []
        if self.icon_problem:
            out.append(f"site icon: {self.icon_problem}")
        out += [f"sidebar: {p}" for p in self.sidebar_problems]
        if self.phone_width is not None and self.phone_width > PHONE["width"] + 1:
            out.append(
                f"{self.phone_width} px wide in a {PHONE['width']} px viewport (sideways scrolling); "
                f"sticking out: {'; '.join(self.phone_overflow) or '?'}"
            )
        if self.math_elements and not self.mathjax_containers:
            out.append(f"{self.math_elements} math elements but MathJax rendered none")
        if self.untypeset:
            out.append(f"{self.untypeset} math elements left as raw TeX")
        if self.math_errors:
            out.append(f"{self.math_errors} MathJax errors (mjx-merror)")
        out += [f"code box scrolls sideways at {DESKTOP['width']} px: {line!r}" for line in self.wide_code]
        out += [f"image without alt text: {src}" for src in self.images_without_alt]
        out += [f"image did not load: {src}" for src in self.broken_images]
        out += [f"console error: {msg}" for msg in self.console_errors]
        out += [f"JavaScript error: {msg}" for msg in self.page_errors]
        out += [f"request to another host (blocked): {url}" for url in self.external_requests]
        out += [f"request failed: {what}" for what in self.failed_requests]
        return out


_PAGE_STATE_JS = """
async () => {
  const imgs = Array.from(document.images);
  for (const img of imgs) { img.loading = "eager"; }
  await Promise.all(imgs.map(img => img.decode().catch(() => null)));
  const math = Array.from(document.querySelectorAll(".math"));
  return {
    math: math.length,
    containers: document.querySelectorAll("mjx-container").length,
    merrors: document.querySelectorAll("mjx-merror").length,
    untypeset: math.filter(el => !el.querySelector("mjx-container")).length,
    images: imgs.map(img => [img.currentSrc || img.src, img.complete, img.naturalWidth]),
    solutions: document.querySelectorAll(".solution").length,
    card: Array.from(document.querySelectorAll(".chapter-card")).some(
      el => el.checkVisibility() && el.getBoundingClientRect().height > 20),
    wideCode: Array.from(document.querySelectorAll("article div.highlight pre"))
      .filter(pre => !pre.closest(".cell_output") && pre.scrollWidth > pre.clientWidth + 1)
      .map(pre => pre.textContent.split("\\n").reduce((a, b) => (b.length > a.length ? b : a), "").slice(0, 100)),
    noAlt: imgs.filter(img => img.closest("article") && !(img.getAttribute("alt") || "").trim())
      .map(img => img.currentSrc || img.src),
  };
}
"""

_MATHJAX_DONE_JS = """
async () => {
  const deadline = Date.now() + 20000;
  while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
    if (Date.now() > deadline) return false;
    await new Promise(r => setTimeout(r, 50));
  }
  await MathJax.startup.promise;
  return true;
}
"""


_REFRESH = re.compile(r"<meta\s[^>]*http-equiv=[\"']?refresh", re.IGNORECASE)
_ICON_LINK = re.compile(r"<link\s[^>]*rel=[\"']?(?:shortcut )?icon\b", re.IGNORECASE)

_ICON_JS = """
async () => {
  const link = document.querySelector('link[rel~="icon"]');
  const url = link ? link.href : new URL("/favicon.ico", location.href).href;
  const img = new Image();
  const ok = await new Promise(resolve => {
    img.onload = () => resolve(img.naturalWidth > 0 || img.width > 0);
    img.onerror = () => resolve(false);
    img.src = url;
  });
  return {url: url, declared: !!link, ok: ok};
}
"""

# The chapter list: visible (not display:none, visibility:hidden or transparent) and on screen.
_CHAPTER_LIST_SHOWN_JS = """
() => {
  const nav = document.querySelector("nav.bd-docs-nav");
  if (!nav) return false;
  const r = nav.getBoundingClientRect();
  const visible = nav.checkVisibility({visibilityProperty: true, opacityProperty: true});
  const links = Array.from(nav.querySelectorAll("a")).filter(a => a.checkVisibility());
  return visible && r.width > 100 && r.right > 0 && r.left < window.innerWidth && links.length > 0;
}
"""
_CHAPTER_LIST_HIDDEN_JS = f"() => !({_CHAPTER_LIST_SHOWN_JS.strip()})()"

_PHONE_WIDTH_JS = """
() => {
  const limit = document.documentElement.clientWidth + 1;
  const width = document.documentElement.scrollWidth;
  const out = [];
  if (width > limit) {
    // the outermost elements whose right edge passes the screen's, and that are not inside a
    // box that scrolls or clips them
    const clipped = el => {
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        const s = getComputedStyle(p);
        if (s.overflowX !== "visible" && p.getBoundingClientRect().right <= limit) return true;
      }
      return false;
    };
    // fixed boxes (the off-screen "on this page" panel) do not widen the page
    const fixed = el => {
      for (let p = el; p && p !== document.body; p = p.parentElement) {
        if (getComputedStyle(p).position === "fixed") return true;
      }
      return false;
    };
    for (const el of document.body.querySelectorAll("*")) {
      const r = el.getBoundingClientRect();
      if (r.right <= limit || r.width === 0 || clipped(el)) continue;
      if (r.left <= 0 && r.right >= width - 1) continue;  // stretched to the page's width: a result
      if (!el.checkVisibility() || fixed(el)) continue;
      if (el.parentElement && el.parentElement.getBoundingClientRect().right > limit) continue;
      const text = (el.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 40);
      out.push(`<${el.tagName.toLowerCase()} class="${el.getAttribute("class") || ""}"> ${Math.round(r.right)} px "${text}"`);
      if (out.length >= 5) break;
    }
  }
  return {width: width, overflow: out};
}
"""


def _visible_primary_toggle(page):
    """The ☰ button a reader sees (the theme also renders hidden ones)."""
    toggle = page.locator(".primary-toggle:visible")
    return toggle.first if toggle.count() else None


def _wait_for(page, script: str, timeout_ms: int = 3000) -> bool:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(script, timeout=timeout_ms, polling=100)
        return True
    except PlaywrightTimeout:
        return False


def _check_sidebar_desktop(page, report: PageReport) -> None:
    """At 1280 px the chapter list is shown; ☰ hides it, and a second click brings it back."""
    if not page.locator("#pst-primary-sidebar").count():
        return  # e.g. index.html, a redirect
    report.sidebar_checked = True
    if not _evaluate(page, _CHAPTER_LIST_SHOWN_JS):
        report.sidebar_problems.append(f"chapter list not shown at {DESKTOP['width']} px")
        return
    toggle = _visible_primary_toggle(page)
    if toggle is None:
        report.sidebar_problems.append(f"no visible ☰ (primary sidebar toggle) at {DESKTOP['width']} px")
        return
    toggle.click()
    if not _wait_for(page, _CHAPTER_LIST_HIDDEN_JS):
        report.sidebar_problems.append(f"☰ did not hide the chapter list at {DESKTOP['width']} px")
        return
    toggle.click()
    if not _wait_for(page, _CHAPTER_LIST_SHOWN_JS):
        report.sidebar_problems.append(f"a second ☰ click did not bring the chapter list back at {DESKTOP['width']} px")


def _open_sidebar_phone(page, report: PageReport) -> None:
    """At 390 px the chapter list starts hidden; ☰ opens it."""
    if not page.locator("#pst-primary-sidebar").count():
        return
    report.sidebar_checked = True
    if _evaluate(page, _CHAPTER_LIST_SHOWN_JS):
        report.sidebar_problems.append(f"chapter list covers the page at {PHONE['width']} px before ☰ is pressed")
        return
    toggle = _visible_primary_toggle(page)
    if toggle is None:
        report.sidebar_problems.append(f"no visible ☰ (primary sidebar toggle) at {PHONE['width']} px")
        return
    toggle.click()
    if not _wait_for(page, _CHAPTER_LIST_SHOWN_JS):
        report.sidebar_problems.append(f"☰ did not open the chapter list at {PHONE['width']} px")


def site_pages(site: Path) -> list[str]:
    """Every HTML page of a built site, relative to its root (the theme's assets excluded)."""
    return sorted(
        p.relative_to(site).as_posix()
        for p in site.rglob("*.html")
        if not p.relative_to(site).parts[0].startswith("_")
    )


def _evaluate(page, script, attempts=3):
    """``page.evaluate``, again if the page's JavaScript context was replaced meanwhile.

    Chromium occasionally reports "Execution context was destroyed" when a script runs
    just as the page settles after load (seen on about one run in two under load, never on
    the same page twice). The page itself is fine; waiting for it to finish loading and
    asking again gives its real state.
    """
    from playwright.sync_api import Error as PlaywrightError

    for attempt in range(attempts):
        try:
            return page.evaluate(script)
        except PlaywrightError as exc:
            if "Execution context was destroyed" not in str(exc) or attempt == attempts - 1:
                raise
            page.wait_for_load_state("load")


def check_site(
    site: str | Path,
    pages: list[str] | None = None,
    screenshot_dir: str | Path | None = None,
    open_solution_on: str | None = None,
    timeout_ms: int = 30000,
    phone: bool = True,
) -> list[PageReport]:
    """Load each page of the built site ``site`` in headless Chromium; return one report each.

    ``pages``: paths relative to the site root (default: every page). With ``screenshot_dir``,
    a full-page PNG of each page is written there; ``open_solution_on`` names a page on which
    the first folded solution is opened and photographed as ``solution.png``. With ``phone``
    (the default) each page is loaded again 390 px wide (width, ☰ button).
    """
    from playwright.sync_api import sync_playwright  # a missing Playwright is a failure

    site = Path(site).resolve()
    if not (site / "index.html").is_file():
        raise FileNotFoundError(f"{site} is not a built site (no index.html)")
    pages = pages if pages is not None else site_pages(site)
    shots = Path(screenshot_dir) if screenshot_dir else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    reports: list[PageReport] = []

    with LocalServer(site) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_chromium(), headless=True, args=CHROMIUM_ARGS)
        try:
            current: dict[str, PageReport] = {}

            def route(route):
                url = route.request.url
                if urlsplit(url).hostname in LOCAL_HOSTS or url.startswith(("data:", "blob:", "about:")):
                    route.continue_()
                else:
                    current["report"].external_requests.append(url)
                    route.abort("blockedbyclient")

            def open_page(context, rel: str, report: PageReport):
                page = context.new_page()
                page.on("console", lambda m, r=report: r.console_errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e, r=report: r.page_errors.append(str(e)))
                page.on(
                    "requestfailed",
                    lambda q, r=report: None
                    if urlsplit(q.url).hostname not in LOCAL_HOSTS
                    else r.failed_requests.append(f"{q.url} ({q.failure})"),
                )
                page.on(
                    "response",
                    lambda s, r=report: r.failed_requests.append(f"{s.url} (HTTP {s.status})") if s.status >= 400 else None,
                )
                url = f"{server.url}/{rel}"
                failed_before = len(report.failed_requests)
                response = page.goto(url, wait_until="load", timeout=timeout_ms)
                if response is None or not response.ok:
                    report.failed_requests.append(f"{rel} (HTTP {response.status if response else '?'})")
                source = (site / rel).read_text(encoding="utf-8", errors="replace")
                if _REFRESH.search(source):
                    # a redirect page (the site's index.html): the browser asks for its icon too,
                    # then the checks below apply to the page it leads to
                    if not _ICON_LINK.search(source):
                        report.icon_problem = "redirect page declares no icon (the browser asks for /favicon.ico)"
                    page.wait_for_url(lambda u: u != url, timeout=timeout_ms)
                    page.wait_for_load_state("load")
                    # what the redirect page was still loading (its icon) is cut off by leaving it
                    report.failed_requests[failed_before:] = [
                        f for f in report.failed_requests[failed_before:] if not f.endswith("(net::ERR_ABORTED)")
                    ]
                if page.locator(".math").count() and not _evaluate(page, _MATHJAX_DONE_JS):
                    report.page_errors.append("MathJax did not start within 20 s")
                return page

            contexts = {"desktop": browser.new_context(viewport=DESKTOP, service_workers="block")}
            if phone:
                contexts["phone"] = browser.new_context(
                    viewport=PHONE, device_scale_factor=1, is_mobile=True, has_touch=True, service_workers="block"
                )
            for context in contexts.values():
                context.route("**/*", route)
            for rel in pages:
                report = PageReport(page=rel)
                current["report"] = report
                page = open_page(contexts["desktop"], rel, report)
                state = _evaluate(page, _PAGE_STATE_JS)
                report.math_elements = state["math"]
                report.mathjax_containers = state["containers"]
                report.math_errors = state["merrors"]
                report.untypeset = state["untypeset"]
                report.images = len(state["images"])
                report.broken_images = [src for src, complete, width in state["images"] if not complete or width == 0]
                report.solutions = state["solutions"]
                report.chapter_card = state["card"]
                report.wide_code = state["wideCode"]
                report.images_without_alt = state["noAlt"]
                icon = _evaluate(page, _ICON_JS)
                report.icon = icon["url"]
                if not icon["ok"] and not report.icon_problem:
                    what = "declared" if icon["declared"] else "none declared, so the browser asks for"
                    report.icon_problem = f"{what} {icon['url']}, which does not load as an image"
                if shots:
                    name = rel.replace("/", "__").removesuffix(".html") + ".png"
                    page.screenshot(path=str(shots / name), full_page=True)
                    report.screenshot = str(shots / name)
                    if rel == open_solution_on:
                        _photograph_solution(page, shots / "solution.png")
                _check_sidebar_desktop(page, report)
                page.close()
                if phone:
                    page = open_page(contexts["phone"], rel, report)
                    _evaluate(page, "async () => { await document.fonts.ready; }")
                    measured = _evaluate(page, _PHONE_WIDTH_JS)
                    report.phone_width = measured["width"]
                    report.phone_overflow = measured["overflow"]
                    _open_sidebar_phone(page, report)
                    page.close()
                reports.append(report)
        finally:
            browser.close()
    return reports


def photograph(site: str | Path, page: str, out_dir: str | Path) -> list[Path]:
    """Screenshots of one page as a reader first sees it: ``chapter_1280.png`` (the top of the
    page at 1280 px) and ``chapter_390_sidebar.png`` (390 px, after pressing ☰)."""
    from playwright.sync_api import sync_playwright

    site, out_dir = Path(site).resolve(), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with LocalServer(site) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_chromium(), headless=True, args=CHROMIUM_ARGS)
        try:
            for viewport, name, is_phone in ((DESKTOP, "chapter_1280.png", False), (PHONE, "chapter_390_sidebar.png", True)):
                context = browser.new_context(viewport=viewport, is_mobile=is_phone, has_touch=is_phone)
                tab = context.new_page()
                tab.goto(f"{server.url}/{page}", wait_until="load")
                if tab.locator(".math").count():
                    _evaluate(tab, _MATHJAX_DONE_JS)
                if is_phone:
                    toggle = _visible_primary_toggle(tab)
                    if toggle is None:
                        raise RuntimeError(f"{page}: no visible ☰ button at {viewport['width']} px")
                    toggle.click()
                    _wait_for(tab, _CHAPTER_LIST_SHOWN_JS)
                tab.wait_for_timeout(500)  # animations
                tab.screenshot(path=str(out_dir / name))
                written.append(out_dir / name)
                context.close()
        finally:
            browser.close()
    return written


LANDING = "book/index.html"
# the three ways in, by the page each leads to
ENTRY_TARGETS = {
    "Read": re.compile(r"/notebooks/01_[^/]*\.html$"),
    "Run": re.compile(r"/book/setup\.html$"),
    "Teach": re.compile(r"/book/instructors\.html$"),
}

MIN_TEXT_PX = 12  # the smallest text a figure may show, on a phone too


def _smallest_svg_text(path: Path, rendered_width: float) -> float | None:
    """The smallest font size (px on screen) in an SVG drawn ``rendered_width`` px wide."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    view_width = float(root.get("viewBox").split()[2]) if root.get("viewBox") else float(root.get("width", "0"))
    sizes = [float(el.get("font-size")) for el in root.iter() if el.get("font-size")]
    if not sizes or not view_width:
        return None
    return min(sizes) * rendered_width / view_width


_LANDING_JS = """
async () => {
  const box = el => { const b = el.getBoundingClientRect(); return {top: b.top, left: b.left, right: b.right, width: b.width}; };
  const img = document.querySelector("#fig-journey img");
  if (img) { img.loading = "eager"; await img.decode().catch(() => null); }
  const cards = Array.from(document.querySelectorAll(".entry-paths .sd-card")).map(card => {
    const link = card.querySelector("a.sd-stretched-link") || card.querySelector("a");
    const title = card.querySelector(".sd-card-title");
    return {...box(card), href: link ? link.href : "", title: title ? title.textContent.trim() : ""};
  });
  return {
    journey: img ? {...box(img), natural: img.naturalWidth, alt: img.alt || "", src: img.currentSrc || img.src} : null,
    cards: cards,
    viewport: document.documentElement.clientWidth,
    width: document.documentElement.scrollWidth,
  };
}
"""


def check_landing(site: str | Path, screenshot_dir: str | Path | None = None, page: str = LANDING) -> list[str]:
    """The landing page at 1280 and 390 px: what is wrong with it (an empty list if nothing).

    With ``screenshot_dir``, full-page screenshots ``landing_1280.png`` and ``landing_390.png``
    are written there."""
    from playwright.sync_api import sync_playwright

    site = Path(site).resolve()
    if not (site / page).is_file():
        return [f"no landing page {page}"]
    shots = Path(screenshot_dir) if screenshot_dir else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with LocalServer(site) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_chromium(), headless=True, args=CHROMIUM_ARGS)
        try:
            for viewport, is_phone in ((DESKTOP, False), (PHONE, True)):
                width = viewport["width"]
                context = browser.new_context(
                    viewport=viewport, is_mobile=is_phone, has_touch=is_phone, device_scale_factor=1,
                    service_workers="block",
                )
                tab = context.new_page()
                errors: list[str] = []
                tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                tab.on("pageerror", lambda e: errors.append(str(e)))
                tab.goto(f"{server.url}/{page}", wait_until="load")
                _evaluate(tab, "async () => { await document.fonts.ready; }")
                state = _evaluate(tab, _LANDING_JS)
                at = f"at {width} px"
                problems += [f"console error {at}: {e}" for e in errors]
                if state["width"] > state["viewport"] + 1:
                    problems.append(f"page {state['width']} px wide in a {width} px viewport")
                journey = state["journey"]
                if journey is None:
                    problems.append(f"no picture of the route through the book (#fig-journey img) {at}")
                else:
                    if not journey["natural"]:
                        problems.append(f"the route picture did not load {at}")
                    if len(journey["alt"]) < 40:
                        problems.append(f"the route picture has no real alt text: {journey['alt']!r}")
                    if journey["right"] > state["viewport"] + 1 or journey["left"] < 0:
                        problems.append(f"the route picture sticks out of the screen {at}")
                    if journey["width"] < min(0.8 * (state["viewport"] - 48), 520):
                        problems.append(f"the route picture is only {journey['width']:.0f} px wide {at}")
                    smallest = _smallest_svg_text(site / urlsplit(journey["src"]).path.lstrip("/"), journey["width"])
                    if smallest is not None and smallest < MIN_TEXT_PX:
                        problems.append(f"the route picture's smallest text is {smallest:.1f} px {at} (< {MIN_TEXT_PX})")
                cards = {c["title"]: c for c in state["cards"]}
                if sorted(cards) != sorted(ENTRY_TARGETS):
                    problems.append(f"ways in {sorted(cards)}, expected {sorted(ENTRY_TARGETS)} {at}")
                for title, target in ENTRY_TARGETS.items():
                    card = cards.get(title)
                    if card and not target.search(card["href"]):
                        problems.append(f"'{title}' leads to {card['href']} {at}")
                    if card and (card["left"] < 0 or card["right"] > state["viewport"] + 1):
                        problems.append(f"'{title}' sticks out of the screen {at}")
                tops = [cards[t]["top"] for t in ENTRY_TARGETS if t in cards]
                if len(tops) == len(ENTRY_TARGETS):
                    side_by_side = max(tops) - min(tops) < 2
                    stacked = all(b > a + 20 for a, b in zip(tops, tops[1:]))
                    if is_phone and not stacked:
                        problems.append(f"the ways in are not one above the other {at}")
                    if not is_phone and not side_by_side:
                        problems.append(f"the ways in are not side by side {at}")
                if shots:
                    tab.wait_for_timeout(300)
                    tab.screenshot(path=str(shots / f"landing_{width}.png"), full_page=True)
                context.close()
        finally:
            browser.close()
    return problems


def _photograph_solution(page, path: Path) -> None:
    """Open the first folded solution on the page; photograph it with its exercise."""
    solution = page.locator(".solution").first
    if not solution.count():
        return
    solution.scroll_into_view_if_needed()
    toggle = solution.locator(".toggle-button").first
    (toggle if toggle.count() else solution.locator(".admonition-title").first).click()
    page.wait_for_timeout(500)  # the unfolding animation
    clip = page.evaluate(
        """() => {
          const sol = document.querySelector(".solution");
          let ex = sol.previousElementSibling;
          while (ex && !ex.classList.contains("exercise")) ex = ex.previousElementSibling;
          (ex || sol).scrollIntoView({block: "start"});
          window.scrollBy(0, -90);  // below the sticky header
          const boxes = [sol, ex].filter(Boolean).map(el => el.getBoundingClientRect());
          const top = Math.max(0, Math.min(...boxes.map(b => b.top)) - 12);
          const bottom = Math.min(window.innerHeight, Math.max(...boxes.map(b => b.bottom)) + 12);
          return {x: 0, y: top, width: document.documentElement.clientWidth, height: bottom - top};
        }"""
    )
    page.wait_for_timeout(200)
    page.screenshot(path=str(path), clip=clip)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", type=Path, help="the built site, e.g. _build/html")
    parser.add_argument("--screenshots", type=Path, help="write a full-page PNG of every page here")
    parser.add_argument("--solution-page", help="page on which to photograph an opened solution")
    parser.add_argument(
        "--photograph",
        metavar="PAGE",
        help="only write chapter_1280.png and chapter_390_sidebar.png of PAGE into --screenshots",
    )
    parser.add_argument("--landing", action="store_true",
                        help="only check the landing page (and photograph it into --screenshots)")
    args = parser.parse_args(argv)
    if args.landing:
        problems = check_landing(args.site, args.screenshots)
        for p in problems:
            print(f"BAD {p}")
        print("landing page ok" if not problems else f"landing page: {len(problems)} problems")
        return 1 if problems else 0
    if args.photograph:
        if not args.screenshots:
            parser.error("--photograph needs --screenshots DIR")
        for path in photograph(args.site, args.photograph, args.screenshots):
            print(path)
        return 0
    reports = check_site(args.site, screenshot_dir=args.screenshots, open_solution_on=args.solution_page)
    bad = 0
    for r in reports:
        problems = r.problems()
        bad += bool(problems)
        status = "ok " if not problems else "BAD"
        print(
            f"{status} {r.page}: {r.mathjax_containers} formulas, {r.images} images, {r.solutions} solutions, "
            f"{r.phone_width} px wide at {PHONE['width']} px, sidebar {'checked' if r.sidebar_checked else 'none'}"
        )
        for p in problems:
            print(f"      {p}")
    print(f"{len(reports) - bad} pages ok, {bad} with problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

"""Open every page of the built book in a real browser and check what a reader would see.

Headless Chromium (Debian's ``chromium`` package), driven by Playwright, loads each page from
a local HTTP server on 127.0.0.1 and checks that

* the page loads, with no error in the browser console and no uncaught JavaScript error;
* no request leaves 127.0.0.1 (every other request is blocked and reported), and none fails;
* on a page with mathematics, MathJax typeset every formula (each ``.math`` element holds an
  ``mjx-container``) and none failed (no ``mjx-merror``);
* every ``<img>`` loaded (``naturalWidth > 0``).

Used by tests/test_book.py, and on its own:

    .venv/bin/python tests/browser_check.py _build/html --screenshots /tmp/shots

Playwright's own browser download needs the network; this uses the system Chromium instead
(``apt-get install chromium``), or the executable named by ``MINIGPT_CHROMIUM``.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
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

    def problems(self) -> list[str]:
        out = []
        if self.math_elements and not self.mathjax_containers:
            out.append(f"{self.math_elements} math elements but MathJax rendered none")
        if self.untypeset:
            out.append(f"{self.untypeset} math elements left as raw TeX")
        if self.math_errors:
            out.append(f"{self.math_errors} MathJax errors (mjx-merror)")
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
) -> list[PageReport]:
    """Load each page of the built site ``site`` in headless Chromium; return one report each.

    ``pages``: paths relative to the site root (default: every page). With ``screenshot_dir``,
    a full-page PNG of each page is written there; ``open_solution_on`` names a page on which
    the first folded solution is opened and photographed as ``solution.png``.
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
            context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
            current: dict[str, PageReport] = {}

            def route(route):
                url = route.request.url
                if urlsplit(url).hostname in LOCAL_HOSTS or url.startswith(("data:", "blob:", "about:")):
                    route.continue_()
                else:
                    current["report"].external_requests.append(url)
                    route.abort("blockedbyclient")

            context.route("**/*", route)
            for rel in pages:
                report = PageReport(page=rel)
                current["report"] = report
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
                response = page.goto(f"{server.url}/{rel}", wait_until="load", timeout=timeout_ms)
                if response is None or not response.ok:
                    report.failed_requests.append(f"{rel} (HTTP {response.status if response else '?'})")
                if page.locator(".math").count() and not _evaluate(page, _MATHJAX_DONE_JS):
                    report.page_errors.append("MathJax did not start within 20 s")
                state = _evaluate(page, _PAGE_STATE_JS)
                report.math_elements = state["math"]
                report.mathjax_containers = state["containers"]
                report.math_errors = state["merrors"]
                report.untypeset = state["untypeset"]
                report.images = len(state["images"])
                report.broken_images = [src for src, complete, width in state["images"] if not complete or width == 0]
                report.solutions = state["solutions"]
                if shots:
                    name = rel.replace("/", "__").removesuffix(".html") + ".png"
                    page.screenshot(path=str(shots / name), full_page=True)
                    report.screenshot = str(shots / name)
                    if rel == open_solution_on:
                        _photograph_solution(page, shots / "solution.png")
                page.close()
                reports.append(report)
        finally:
            browser.close()
    return reports


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
    args = parser.parse_args(argv)
    reports = check_site(args.site, screenshot_dir=args.screenshots, open_solution_on=args.solution_page)
    bad = 0
    for r in reports:
        problems = r.problems()
        bad += bool(problems)
        status = "ok " if not problems else "BAD"
        print(f"{status} {r.page}: {r.mathjax_containers} formulas, {r.images} images, {r.solutions} solutions")
        for p in problems:
            print(f"      {p}")
    print(f"{len(reports) - bad} pages ok, {bad} with problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

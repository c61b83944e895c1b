"""The book builds, offline, in both editions, and reads correctly in a browser.

Both editions are built once per test session, side by side, into a temporary folder:

* instructor: ``jupyter-book build . -W -n --keep-going``
* student:    ``jupyter-book build . --config _config_student.yml ... -W -n --keep-going``

The notebooks are stored executed and the book does not run them (``execute_notebooks: off``),
so the builds take seconds. The browser check (tests/browser_check.py) then opens every page
of the instructor edition in headless Chromium. A missing Chromium or Playwright is a failure,
not a skip: `.ci/run` installs Chromium, requirements.txt installs Playwright.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import browser_check
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
LANDING = "book/index"  # the book's root page (_toc.yml)
BUILD_TIMEOUT_S = 300
PART_ONE = [f"{n:02d}" for n in range(1, 9)]

_JB = "import sys; from jupyter_book.cli.main import main; sys.exit(main())"


def _jupyter_book(*args: str) -> list[str]:
    return [sys.executable, "-c", _JB, *args]


def _build(source: Path, out: Path, config: str | None = None) -> subprocess.Popen:
    extra = ["--config", str(source / config)] if config else []
    cmd = _jupyter_book("build", str(source), *extra, "--path-output", str(out), "-W", "-n", "--keep-going")
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    with open(out / "build.log", "w") as log:  # the child keeps its own copy of the handle
        return subprocess.Popen(cmd, cwd=source, stdout=log, stderr=subprocess.STDOUT, env=env, text=True)


class Edition:
    def __init__(self, name: str, out: Path, returncode: int, seconds: float):
        self.name, self.out, self.returncode, self.seconds = name, out, returncode, seconds
        self.site = out / "_build" / "html"
        self.log = (out / "build.log").read_text(errors="replace")

    def page(self, docname: str) -> str:
        return (self.site / f"{docname}.html").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def editions(tmp_path_factory) -> dict[str, Edition]:
    root = tmp_path_factory.mktemp("book")
    jobs = {
        "instructor": (root / "instructor", None),
        "student": (root / "student", "_config_student.yml"),
    }
    started = time.perf_counter()
    procs = {name: _build(REPO, out, config) for name, (out, config) in jobs.items()}
    result = {}
    for name, proc in procs.items():
        try:
            code = proc.wait(timeout=BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = -9
        result[name] = Edition(name, jobs[name][0], code, time.perf_counter() - started)
    return result


def _toc_docnames() -> list[str]:
    """Every page the table of contents names (globs expanded against the files on disk)."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    names = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                names.append(str(Path(entry["file"]).with_suffix("")))
            if "glob" in entry:
                for path in sorted(REPO.glob(entry["glob"])):
                    if path.suffix in (".ipynb", ".md"):
                        names.append(path.relative_to(REPO).with_suffix("").as_posix())
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("parts"))
    walk(toc.get("chapters"))
    return names


def _chapters() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def _markdown(nb_path: Path) -> list[str]:
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in nb["cells"] if c["cell_type"] == "markdown"]


_SOLUTION = re.compile(r"^(:{3,}|`{3,})\{solution\}[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_PHRASE = re.compile(r"(?<![\w$\\`])[A-Za-z]+(?: [A-Za-z,]+){5,}")


def _solution_phrases(nb_path: Path) -> list[str]:
    """A phrase of plain words from each solution of the chapter (to look for in the pages)."""
    phrases = []
    for text in _markdown(nb_path):
        for match in _SOLUTION.finditer(text):
            body = match.group(2)
            body = re.sub(r"^(```|~~~).*?^\1", " ", body, flags=re.MULTILINE | re.DOTALL)  # code
            body = re.sub(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`", " ", body, flags=re.DOTALL)  # math, code
            body = re.sub(r"^:\w+:.*$", " ", body, flags=re.MULTILINE)  # directive options
            candidates = [p.strip(" ,") for line in body.splitlines() for p in _PHRASE.findall(line)]
            candidates = [p for p in candidates if len(p.split()) >= 4]
            if candidates:
                phrases.append(max(candidates, key=len))
    return phrases


def _book_extension():
    """book/_ext/minigpt_book.py, imported (its card and exercise-tier helpers)."""
    sys.path.insert(0, str(REPO / "book" / "_ext"))
    try:
        import minigpt_book
    finally:
        sys.path.pop(0)
    return minigpt_book


_CARD = re.compile(r'<div class="chapter-card docutils container">(.*?)</div>', re.DOTALL)


def _card(page_html: str) -> str | None:
    match = _CARD.search(page_html)
    return match.group(1) if match else None


def _page_text(page_html: str) -> str:
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", page_html, flags=re.DOTALL)
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return re.sub(r"\s+", " ", text)


# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["instructor", "student"])
def test_build_passes_with_no_warnings(editions, name):
    edition = editions[name]
    assert edition.returncode == 0, f"{name} build failed:\n{edition.log[-6000:]}"
    problems = [line for line in edition.log.splitlines() if re.search(r"\b(WARNING|ERROR|CRITICAL)\b", line)]
    assert not problems, "\n".join(problems)
    assert (edition.site / "index.html").is_file()
    print(f"{name} edition built in {edition.seconds:.1f} s")


def test_student_config_is_the_instructor_config_with_solutions_hidden():
    instructor = yaml.safe_load((REPO / "_config.yml").read_text())
    student = yaml.safe_load((REPO / "_config_student.yml").read_text())
    assert instructor["sphinx"]["config"]["hide_solutions"] is False
    assert student["sphinx"]["config"]["hide_solutions"] is True
    student["sphinx"]["config"]["hide_solutions"] = False
    assert student == instructor, "_config_student.yml must equal _config.yml except for hide_solutions"


def test_part_one_chapters_exist():
    numbers = [p.name[:2] for p in _chapters()]
    missing = [n for n in PART_ONE if n not in numbers]
    assert not missing, f"Part I chapters missing from notebooks/: {missing}"


@pytest.mark.parametrize("name", ["instructor", "student"])
def test_every_page_is_built(editions, name):
    edition = editions[name]
    docnames = _toc_docnames()
    chapters = {p.relative_to(REPO).with_suffix("").as_posix() for p in _chapters()}
    assert chapters <= set(docnames), f"notebooks missing from _toc.yml: {sorted(chapters - set(docnames))}"
    missing = [d for d in docnames if not (edition.site / f"{d}.html").is_file()]
    assert not missing, f"pages missing from the {name} edition: {missing}"
    for doc in sorted(chapters):
        page = edition.page(doc)
        assert 'id="' in page and "<h1>" in page, f"{doc}: no title"
        assert "cell_output" in page, f"{doc}: no outputs (is the notebook stored executed?)"


def test_instructor_edition_shows_solutions_and_student_edition_has_none(editions):
    instructor, student = editions["instructor"], editions["student"]
    checked = 0
    for nb in _chapters():
        doc = nb.relative_to(REPO).with_suffix("").as_posix()
        n_solutions = sum(len(_SOLUTION.findall(text)) for text in _markdown(nb))
        n_exercises = sum(len(re.findall(r"^(?::{3,}|`{3,})\{exercise\}", t, re.MULTILINE)) for t in _markdown(nb))
        inst_html, stud_html = instructor.page(doc), student.page(doc)
        assert inst_html.count('<div class="solution') == n_solutions, doc
        assert stud_html.count('<div class="solution') == 0, doc
        assert stud_html.count('<div class="exercise') == inst_html.count('<div class="exercise') == n_exercises, doc
        inst_text, stud_text = _page_text(inst_html), _page_text(stud_html)
        for phrase in _solution_phrases(nb):
            assert phrase in inst_text, f"{doc}: solution text {phrase!r} not in the instructor edition"
            assert phrase not in stud_text, f"{doc}: solution text {phrase!r} in the student edition"
            checked += 1
    assert checked or not _chapters(), "no solution text found to check"
    # nowhere else in the student site either: no page sources (with the solutions), no download
    # or launch buttons leading to them
    sources = [p for p in student.site.rglob("*") if p.suffix in (".ipynb", ".md")]
    assert not sources, f"page sources copied into the student edition: {sources[:5]}"
    for nb in _chapters():
        page = student.page(nb.relative_to(REPO).with_suffix("").as_posix())
        assert "mybinder.org" not in page and "colab.research.google.com" not in page
    all_text = "\n".join(p.read_text(errors="replace") for p in student.site.rglob("*") if p.suffix in (".html", ".js", ".txt"))
    for nb in _chapters():
        for phrase in _solution_phrases(nb):
            assert phrase not in all_text


def test_exercises_are_numbered_per_chapter(editions):
    for nb in _chapters():
        page = editions["instructor"].page(nb.relative_to(REPO).with_suffix("").as_posix())
        numbers = re.findall(r'<span class="caption-number">Exercise ([\w.]+) </span>', page)
        prefix = "A" if nb.name.startswith("appendix") else str(int(nb.name[:2]))
        assert numbers == [f"{prefix}.{i}" for i in range(1, len(numbers) + 1)], (nb.name, numbers)


def test_launch_buttons_in_instructor_edition(editions):
    for nb in _chapters():
        page = editions["instructor"].page(nb.relative_to(REPO).with_suffix("").as_posix())
        assert f"mybinder.org/v2/gh/minigpt-book/minigpt/main?urlpath=tree/notebooks/{nb.name}" in page
        assert f"colab.research.google.com/github/minigpt-book/minigpt/blob/main/notebooks/{nb.name}" in page


@pytest.mark.parametrize("name", ["instructor", "student"])
def test_math_is_served_locally(editions, name):
    site = editions[name].site
    entry = site / "_static" / "mathjax" / "es5" / "tex-mml-chtml.js"
    assert entry.is_file() and (site / "_static" / "mathjax" / "LICENSE").is_file()
    pages_with_math = 0
    for page in sorted(site.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        rel = page.relative_to(site).as_posix()
        # no script, stylesheet, image or font from another host
        external = re.findall(r"<(?:script|img|iframe|source)\b[^>]*\bsrc=\"(https?:)?//[^\"]*\"", text)
        external += re.findall(r"<link\b[^>]*rel=\"(?:stylesheet|preload|modulepreload)\"[^>]*href=\"(?:https?:)?//[^\"]*\"", text)
        assert not external, f"{rel} loads from another host: {external}"
        if 'class="math' in text:
            pages_with_math += 1
            assert "_static/mathjax/es5/tex-mml-chtml.js" in text, f"{rel}: math but no local MathJax"
    assert pages_with_math >= 2  # the notation page, and chapters
    notation = editions[name].page("book/notation")
    assert notation.count('class="math') > 20


def test_chapter_math_reaches_the_page(editions):
    for nb in _chapters():
        has_math = any(re.search(r"\$[^$\s][^$]*\$", t) for t in _markdown(nb))
        if has_math:
            page = editions["instructor"].page(nb.relative_to(REPO).with_suffix("").as_posix())
            assert 'class="math' in page, f"{nb.name}: its $...$ math did not become math elements"


def test_every_page_in_a_browser(editions, tmp_path):
    """Headless Chromium: pages load, MathJax typesets, images load, no errors, no other host."""
    site = editions["instructor"].site
    assert editions["instructor"].returncode == 0
    started = time.perf_counter()
    reports = browser_check.check_site(site)
    elapsed = time.perf_counter() - started
    by_page = {r.page: r for r in reports}
    problems = [f"{r.page}: {p}" for r in reports for p in r.problems()]
    assert not problems, "\n".join(problems)
    for d in _toc_docnames():
        assert f"{d}.html" in by_page, f"{d} was not checked"
    for nb in _chapters():
        report = by_page[nb.relative_to(REPO).with_suffix(".html").as_posix()]
        if report.math_elements:
            assert report.mathjax_containers >= report.math_elements
    assert by_page["book/preface.html"].images >= 1  # the pipeline figure
    assert by_page[f"{LANDING}.html"].images >= 1  # the route through the book
    assert by_page["book/notation.html"].mathjax_containers > 20
    # the new checks ran where they should: every page of the table of contents has the chapter
    # list and its ☰ button (tried at 1280 and 390 px), was measured on a phone, and had its
    # icon loaded
    for d in _toc_docnames():
        report = by_page[f"{d}.html"]
        assert report.sidebar_checked, f"{d}: no primary sidebar to try the ☰ button on"
        assert report.phone_width is not None and report.icon, d
    for nb in _chapters():
        assert by_page[nb.relative_to(REPO).with_suffix(".html").as_posix()].chapter_card, f"{nb.name}: no visible header card"
    print(f"browser check: {len(reports)} pages in {elapsed:.1f} s")


def test_landing_page_in_a_browser(editions, tmp_path):
    """The landing page at 1280 and 390 px: the route picture loads and fits, the three ways in
    lead to chapter 1, setup and the instructors' page, no console error; it is photographed."""
    site = editions["instructor"].site
    problems = browser_check.check_landing(site, screenshot_dir=tmp_path)
    assert not problems, "\n".join(problems)
    import struct

    for width in (1280, 390):
        png = (tmp_path / f"landing_{width}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        shot_width, shot_height = struct.unpack(">II", png[16:24])
        assert shot_width == width and shot_height > 800, (width, shot_width, shot_height)


@pytest.mark.parametrize("name", ["instructor", "student"])
def test_every_page_names_the_site_icon(editions, name):
    """The icon and logo (book/_static/minigpt-logo.svg) are on every page, so that no browser
    asks for a missing /favicon.ico."""
    site = editions[name].site
    pages = sorted(p for p in site.rglob("*.html") if not p.relative_to(site).parts[0].startswith("_"))
    assert pages
    for page in pages:
        text = page.read_text(encoding="utf-8")
        icons = re.findall(r'<link\b[^>]*\brel="icon"[^>]*\bhref="([^"]+)"', text)
        assert icons, f"{page.relative_to(site)}: no <link rel=\"icon\">"
        assert (page.parent / icons[0]).resolve().is_file(), f"{page.relative_to(site)}: {icons[0]} missing"
    svg = (site / "_static" / "minigpt-logo.svg").read_text(encoding="utf-8")
    import xml.etree.ElementTree as ET

    root = ET.fromstring(svg)
    assert root.tag.endswith("svg") and root.get("viewBox")
    assert 'class="logo__image' in editions[name].page("book/preface")


def test_student_edition_text_fits_the_student_edition(editions):
    """No folded solutions and no rocket (launch) button in the student edition, so its pages do
    not send the reader looking for them; the instructor edition keeps both sentences."""
    for doc, instructor_only in (("book/preface", "folded under it"), ("book/setup", "click the rocket")):
        assert instructor_only in _page_text(editions["instructor"].page(doc)), doc
        assert instructor_only not in _page_text(editions["student"].page(doc)), doc
    assert "student edition of the book" in _page_text(editions["student"].page("book/preface"))
    assert "student edition of the book" not in _page_text(editions["instructor"].page("book/preface"))
    for docname in _toc_docnames():
        text = _page_text(editions["student"].page(docname))
        assert "rocket" not in text.lower(), f"{docname}: the student edition has no rocket button"
        assert "folded under each exercise" not in text or docname == "book/instructors", docname


@pytest.mark.parametrize("name", ["instructor", "student"])
def test_landing_page(editions, name):
    """The root page is the landing page: the route through the book, the three ways in (chapter
    1, setup, instructors), how to cite the book and its licence; the site's index leads to it."""
    edition = editions[name]
    assert _toc_docnames()[0] == LANDING
    index = (edition.site / "index.html").read_text(encoding="utf-8")
    assert f'url={LANDING}.html"' in index, index[:300]
    page = edition.page(LANDING)
    journey = re.search(r'<img\b[^>]*src="[^"]*journey\.svg"[^>]*>', page)
    assert journey, "no picture of the route through the book"
    alt = re.search(r'alt="([^"]*)"', journey.group(0))
    assert alt and "tokenizer" in alt.group(1) and "GRPO" in alt.group(1)
    assert "dark-light" in journey.group(0)  # not given a white box and dimmed in dark mode
    chapter_one = next(p for p in _chapters() if p.name.startswith("01_"))
    links = set(re.findall(r'<a\b[^>]*href="([^"#]+)', page))
    for target in (f"../notebooks/{chapter_one.stem}.html", "setup.html", "instructors.html"):
        assert target in links, f"{name} landing page: no link to {target}"
    cards = re.findall(r'class="sd-card[^"]*entry-path', page)
    assert len(cards) == 3, "the three ways in: read, run, teach"
    # the BibTeX entry (highlighted: one element per token, so the tags are dropped, not spaced)
    code = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", page)))
    assert "@book{minigpt2026," in code and "{{The minigpt authors}}" in code and "year = {2026}" in code
    text = _page_text(page)
    assert "MIT licence" in text and "pyproject.toml" in text
    svg = (REPO / "book" / "_static" / "journey.svg").read_text(encoding="utf-8")
    import xml.etree.ElementTree as ET

    root = ET.fromstring(svg)
    assert root.get("viewBox") and root.get("role") == "img"
    labels = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    for stop in ("tokenizer", "attention", "pre-training", "SFT", "PPO", "DPO", "evaluation", "GRPO"):
        assert stop in labels, stop
    assert [t for t in labels.split() if t.isdigit()] == [str(n) for n in range(1, 15)]


@pytest.mark.parametrize("name", ["instructor", "student"])
def test_every_chapter_has_its_header_card(editions, name):
    """Right under each chapter's title: what it builds on (linked), its run time when measured,
    its exercises, its learning goals (book/chapters.yml), and in the instructor edition the
    Binder and Colab links (the student edition has no launch links at all)."""
    ext = _book_extension()
    data = ext.load_chapter_data()
    times = ext.load_chapter_times()
    chapter_docs = {ext.chapter_key(p.relative_to(REPO).with_suffix("").as_posix()): p for p in _chapters()}
    for nb in _chapters():
        doc = nb.relative_to(REPO).with_suffix("").as_posix()
        key = ext.chapter_key(doc)
        page = editions[name].page(doc)
        assert re.search(r'</h1>\s*<div class="chapter-card', page), f"{doc}: no header card right after the title"
        card = _card(page)
        assert card, doc
        assert "Builds on" in card
        deps = ext.builds_on(key, data)
        for dep in () if isinstance(deps, str) else deps:
            if dep in chapter_docs:
                assert f'href="{chapter_docs[dep].stem}.html"' in card, f"{doc}: no link to chapter {dep}"
        info = ext.chapter_info(nb)
        if info["exercises"]:
            assert f">{info['exercises']} exercise" in card, doc
        assert ("on one CPU core" in card) is (nb.stem in times), doc
        goals = (data.get(key) or {}).get("goals") or []
        assert card.count("<li>") == len(goals), doc
        binder = f"mybinder.org/v2/gh/minigpt-book/minigpt/main?urlpath=tree/notebooks/{nb.name}"
        colab = f"colab.research.google.com/github/minigpt-book/minigpt/blob/main/notebooks/{nb.name}"
        if name == "instructor":
            assert binder in card and colab in card, doc
        else:
            assert "mybinder" not in card and "colab" not in card, doc
    # chapters 1-8 and the appendix have goals written for them
    for key in list(range(1, 9)) + ["appendix"]:
        assert 2 <= len(data[key]["goals"]) <= 4, key


def test_exercise_tiers_and_estimates_are_read():
    ext = _book_extension()
    md = (":::{exercise} Pick a size (~20-30 min)\n:label: ex-a\n:class: challenge\nText.\n:::\n\n"
          ":::{exercise}\n:label: ex-b\n:class: warm-up\n:::\n\n"
          "```{exercise-start} Gated (~1 h)\n:label: ex-c\n:class: dropdown core\n```\n"
          ":::{exercise} No tier (~5 min)\nText.\n:::\n")
    assert ext.parse_exercises(md) == [
        {"tier": "challenge", "minutes": 25.0},
        {"tier": "warm-up", "minutes": None},
        {"tier": "core", "minutes": 60.0},
        {"tier": None, "minutes": 5.0},
    ]
    assert ext.exercise_estimate("Why (not) this? (~10 min)") == 10
    assert ext.exercise_estimate("Sizes (10 layers)") is None
    assert ext.tier_text({"warm-up": 1, "core": 0, "challenge": 2}) == "1 warm-up, 2 challenge"
    assert [ext.run_time_text(s) for s in (4, 19, 57, 156)] == ["about 10\u00a0s", "about 20\u00a0s", "about 1\u00a0min", "about 3\u00a0min"]


def _mini_book_config() -> dict:
    """The book's _config.yml for a small test book in another folder: the extension,
    bibliography, logo, favicon and static files named by absolute paths."""
    config = yaml.safe_load((REPO / "_config.yml").read_text())
    config["sphinx"]["local_extensions"] = {"minigpt_book": str(REPO / "book" / "_ext")}
    config["bibtex_bibfiles"] = [str(REPO / "book" / "references.bib")]
    config["logo"] = str(REPO / config["logo"])
    config["html"]["favicon"] = str(REPO / config["html"]["favicon"])
    sphinx_config = config["sphinx"]["config"]
    sphinx_config["html_static_path"] = [str(REPO / path) for path in sphinx_config["html_static_path"]]
    return config


def test_tiers_reach_the_card_the_overview_and_the_badges(tmp_path):
    """A small book with one tiered chapter: its card and the instructors' table count the
    exercises by tier and add up their estimates (15 min for one without), and each exercise
    carries its tier as a class, which book/_static/minigpt.css turns into a badge."""
    book = tmp_path / "mini"
    (book / "notebooks").mkdir(parents=True)
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: notebooks/01_tiny\n")
    (book / "intro.md").write_text("# Intro\n\n```{chapter-overview}\n```\n")
    md = ("# 1. Tiny\n\nText.\n\n## Exercises\n\n"
          ":::{exercise} Warm (~5 min)\n:label: ex-w\n:class: warm-up\nW.\n:::\n\n"
          ":::{exercise} Core (~40 min)\n:label: ex-c\n:class: core\nC.\n:::\n\n"
          ":::{exercise}\n:label: ex-h\n:class: challenge\nH.\n:::\n")
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": md},
                    {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": "print(1)",
                     "outputs": [{"name": "stdout", "output_type": "stream", "text": "1\n"}]}],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    (book / "notebooks" / "01_tiny.ipynb").write_text(json.dumps(nb))
    config = _mini_book_config()
    (book / "_config.yml").write_text(yaml.safe_dump(config))
    proc = _build(book, tmp_path / "out", config="_config.yml")
    assert proc.wait(timeout=BUILD_TIMEOUT_S) == 0, (tmp_path / "out" / "build.log").read_text()[-4000:]
    site = tmp_path / "out" / "_build" / "html"
    page = (site / "notebooks" / "01_tiny.html").read_text()
    card = _card(page)
    assert card and "3 exercises" in card and "(1 warm-up, 1 core, 1 challenge), about 1\u00a0h" in card  # 5+40+15 min
    assert "Builds on" in card and "nothing but Python and NumPy" in card
    for tier in ("warm-up", "core", "challenge"):
        assert re.search(rf'<div class="exercise {tier} admonition"', page), tier
    overview = _page_text((site / "intro.html").read_text())
    assert "3: 1 warm-up, 1 core, 1 challenge" in overview
    css = (REPO / "book" / "_static" / "minigpt.css").read_text()
    for tier in ("warm-up", "core", "challenge"):
        assert re.search(rf'div\.exercise\.{tier} > \.admonition-title > \.caption-number::after \{{\s*content: "{tier}"', css)


def _requirements(path: Path) -> list[str]:
    """The requirement lines of a pip requirements file, with the files it includes (-r) read
    in place (relative to the including file, as pip does)."""
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith(("-r ", "--requirement ")):
            lines += _requirements(path.parent / line.split(None, 1)[1])
        elif line:
            lines.append(line)
    return lines


def test_binder_environment_is_the_chapter_requirements_and_the_package():
    """binder/ (which repo2docker reads instead of the root's files) installs exactly
    requirements-chapters.txt and the package, listing no package of its own that could drift."""
    binder = REPO / "binder"
    chapters = _requirements(REPO / "requirements-chapters.txt")
    assert chapters and "-e ." not in chapters
    assert sorted(_requirements(binder / "requirements.txt")) == sorted(chapters + ["-e ."])
    own = [line.split("#", 1)[0].strip() for line in (binder / "requirements.txt").read_text().splitlines()]
    assert [line for line in own if line] == ["-r ../requirements-chapters.txt", "-e ."]
    # the book and test tools stay out
    for tool in ("jupyter-book", "pytest", "playwright", "nbval", "sphinx-exercise"):
        assert not any(line.startswith(tool) for line in chapters), tool
    assert (binder / "runtime.txt").read_text().strip() == "python-3.11"
    start = binder / "start"
    assert os.access(start, os.X_OK)
    text = start.read_text()
    assert "export OPENBLAS_NUM_THREADS=1" in text and text.rstrip().endswith('exec "$@"')


def _script(name: str):
    """A module of scripts/ (they are programs, not a package), imported by file name."""
    import importlib

    sys.path.insert(0, str(REPO / "scripts"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def test_execute_notebooks_records_run_times(tmp_path):
    execute_notebooks = _script("execute_notebooks")
    times = tmp_path / "chapter_times.json"
    execute_notebooks.record_time("02_bigram", 12.345, times)
    execute_notebooks.record_time("01_tokenization", 19.0, times)
    execute_notebooks.record_time("02_bigram", 14.06, times)
    assert times.read_text() == '{\n  "01_tokenization": 19.0,\n  "02_bigram": 14.1\n}\n'
    recorded = json.loads((REPO / "book" / "chapter_times.json").read_text())
    stems = {p.stem for p in _chapters()}
    assert set(recorded) <= stems and all(isinstance(v, (int, float)) and v > 0 for v in recorded.values())


def test_execute_notebooks_can_time_without_storing_outputs(tmp_path):
    import nbformat

    execute_notebooks = _script("execute_notebooks")
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")]), path)
    before = path.read_bytes()
    assert execute_notebooks.execute(path, write=False) > 0
    assert path.read_bytes() == before                          # timed, not stored
    execute_notebooks.execute(path)
    assert nbformat.read(path, as_version=4).cells[0].outputs[0]["text"] == "42\n"


def test_strip_solutions_script(tmp_path):
    strip_solutions = _script("strip_solutions")
    nb = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ":::{exercise}\n:label: ex-x\nDo it.\n:::\n\n"
             ":::{solution} ex-x\n:class: dropdown\nTHE ANSWER\n```python\nprint(1)\n```\n:::\n"},
            {"cell_type": "markdown", "metadata": {}, "source": "```{solution-start} ex-x\n```\nGATED ANSWER"},
            {"cell_type": "code", "metadata": {}, "source": "print('GATED CODE')", "outputs": [], "execution_count": None},
            {"cell_type": "markdown", "metadata": {}, "source": "```{solution-end}\n```\nAfter."},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }
    stripped, removed = strip_solutions.strip_notebook(nb)
    text = json.dumps(stripped)
    assert removed == 2
    assert "Do it." in text and "After." in text
    assert "THE ANSWER" not in text and "GATED" not in text
    out = tmp_path / "out"
    assert strip_solutions.main([str(NOTEBOOKS), str(out)]) == 0 or not _chapters()
    for nb_path in _chapters():
        copy = (out / nb_path.name).read_text()
        for phrase in _solution_phrases(nb_path):
            assert phrase not in copy


def test_gated_solutions_are_hidden_in_the_student_edition(tmp_path):
    """sphinx-exercise crashes on gated solutions with hide_solutions; book/_ext works around it."""
    book = tmp_path / "mini"
    book.mkdir()
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    md = ("# Intro\n\n$x^2$\n\n:::{exercise}\n:label: ex-gated\nWhat is 1 + 1?\n:::\n\n"
          "```{solution-start} ex-gated\n:class: dropdown\n```\nGATED SOLUTION TEXT\n\n"
          "```python\nprint(1 + 1)\n```\n\n```{solution-end}\n```\n\nAFTER THE SOLUTION\n")
    (book / "intro.md").write_text(md)
    config = _mini_book_config()
    procs = {}
    for hide in (False, True):  # both editions side by side
        config["sphinx"]["config"]["hide_solutions"] = hide
        (book / f"_config_{hide}.yml").write_text(yaml.safe_dump(config))
        procs[hide] = _build(book, tmp_path / f"out-{hide}", config=f"_config_{hide}.yml")
    for hide, proc in procs.items():
        out = tmp_path / f"out-{hide}"
        assert proc.wait(timeout=BUILD_TIMEOUT_S) == 0, (out / "build.log").read_text()[-4000:]
        page = (out / "_build" / "html" / "intro.html").read_text()
        assert "AFTER THE SOLUTION" in page and "What is 1 + 1?" in page
        assert ("GATED SOLUTION TEXT" in page) is (not hide)

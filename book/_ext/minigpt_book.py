"""Local Sphinx extension of the minigpt book (loaded from _config.yml: sphinx.local_extensions).

It does the following (the first three so that the book builds and reads with no network):

1. Offline MathJax. Sphinx loads MathJax from a CDN by default; offline, a reader then sees raw
   TeX. Here MathJax 3 (a pinned release of the npm package ``mathjax``) is served from the
   site's own ``_static/mathjax/``. The package is fetched once with ``npm pack`` (checked
   against its pinned SHA-512), unpacked into ``book/_vendor/mathjax/`` (ignored by git) and
   reused by every later build. ``MINIGPT_MATHJAX=/path/to/mathjax`` (an unpacked package,
   the folder holding ``es5/``) uses a local copy instead and never touches the network.

2. No request to another host. sphinx-thebe (always loaded by Jupyter Book) puts a script on
   every page that names a CDN URL and, in this Sphinx/theme combination, is declared twice
   (a console error). The book does not use thebe (launch buttons open Binder or Colab), so
   those scripts are dropped from the pages.

3. The student edition (``hide_solutions: true``) carries no solution anywhere:
   * sphinx-exercise crashes when ``hide_solutions`` is on and a chapter uses the gated
     ``{solution-start}`` / ``{solution-end}`` form; here each gated solution, everything
     between its start and end included, is removed before sphinx-exercise sees it;
   * the page sources (``_sources/*.ipynb``, behind the download button) contain the
     solutions, so they are not copied and the download button is off;
   * the launch buttons (Binder, Colab) open the repository's notebooks, which contain the
     solutions, so they are off too (see book/instructors.md for handing out notebooks);
   * the Sphinx tag ``student_edition`` is set, so that a page can say what differs in that
     edition with ``{only} student_edition`` / ``{only} not student_edition`` blocks
     (book/preface.md, book/setup.md: no folded solutions, no rocket button).

4. Exercises are numbered per chapter ("Exercise 3.2", "Exercise A.1" in the appendix) rather
   than straight through the book, which is what sphinx-exercise does when, as here, the
   table of contents is not numbered (the chapters' titles carry their numbers themselves).

5. References: the bibliography (book/references.md) is labelled like the citations in the
   text, "[Vaswani et al., 2017]", instead of pybtex's "[VSP+17]" ("alpha" labels).

6. The ``{chapter-overview}`` directive (book/instructors.md): a table of the chapters that
   exist, read from the notebooks at build time (title, exercises by tier, estimated study
   time) with the order in which they depend on each other (book/chapters.yml).

7. The site's root ``index.html``, which sphinx-external-toc writes as a bare one-line redirect
   to the first page, becomes a small HTML page that names the book's icon (otherwise the
   browser asks for ``/favicon.ico``, a 404) and links to the first page.

8. The book's title stays next to its logo in the sidebar (the theme shows the logo alone once
   there is one, unless ``html_theme_options.logo.text`` is set): the text is taken from
   ``title:`` in _config.yml, so the title is written in one place.

9. A header card under the title of every chapter page, made at build time (no notebook is
   edited): the chapters it builds on and its learning goals (book/chapters.yml), its run time
   at one thread (book/chapter_times.json, written by scripts/execute_notebooks.py), its
   exercises counted by tier with their time, and Binder and Colab links (instructor edition
   only, like the launch buttons). Its look is in book/_static/minigpt.css.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ExtensionError
from sphinx.transforms import SphinxTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# 1. Offline MathJax

MATHJAX_VERSION = "3.2.2"
# `npm view mathjax@3.2.2 dist.integrity`
MATHJAX_INTEGRITY = (
    "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
)
# What the pages need from the package (paths inside it). The combined component
# tex-mml-chtml.js loads TeX extensions, fonts and the accessibility tools from the folders
# next to it, on demand.
MATHJAX_FILES = [
    "LICENSE",
    "package.json",
    "es5/tex-mml-chtml.js",
    "es5/input/tex/extensions",
    "es5/output/chtml/fonts/woff-v2",
    "es5/a11y",
    "es5/sre",
    "es5/ui",
]
MATHJAX_ENTRY = "es5/tex-mml-chtml.js"

BOOK_DIR = Path(__file__).resolve().parent.parent  # book/
VENDOR_DIR = BOOK_DIR / "_vendor"  # html_static_path entry: its mathjax/ becomes _static/mathjax/


def _integrity(path: Path) -> str:
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode("ascii")


def _npm_pack(workdir: Path) -> Path:
    """Download the pinned MathJax package with npm; return the checked tarball."""
    npm = shutil.which("npm")
    if npm is None:
        raise ExtensionError(
            "minigpt_book: MathJax is not in book/_vendor/ yet and `npm` is not installed to "
            f"fetch it. Install Node.js (npm), or unpack mathjax@{MATHJAX_VERSION} somewhere and "
            "set MINIGPT_MATHJAX to that folder."
        )
    cmd = [npm, "pack", f"mathjax@{MATHJAX_VERSION}", "--json", "--pack-destination", str(workdir)]
    logger.info(f"minigpt_book: fetching MathJax {MATHJAX_VERSION} once: {' '.join(cmd[1:4])}")
    proc = subprocess.run(cmd, check=False, cwd=workdir, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise ExtensionError(
            f"minigpt_book: `npm pack mathjax@{MATHJAX_VERSION}` failed "
            f"(exit {proc.returncode}):\n{proc.stderr.strip()}\n"
            "Without the npm registry, set MINIGPT_MATHJAX to an unpacked copy of the package."
        )
    filename = json.loads(proc.stdout)[0]["filename"]
    tarball = workdir / filename
    got = _integrity(tarball)
    if got != MATHJAX_INTEGRITY:
        raise ExtensionError(
            f"minigpt_book: {filename} does not match its pinned checksum "
            f"(expected {MATHJAX_INTEGRITY}, got {got}); refusing to use it."
        )
    return tarball


def _copy_subset(package_root: Path, dest: Path) -> None:
    for rel in MATHJAX_FILES:
        src = package_root / rel
        if not src.exists():
            raise ExtensionError(f"minigpt_book: {src} is missing from the MathJax package")
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target)
        else:
            shutil.copy2(src, target)


def _installed_version(mathjax_dir: Path) -> str | None:
    try:
        meta = json.loads((mathjax_dir / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (mathjax_dir / MATHJAX_ENTRY).is_file():
        return None
    return meta.get("version")


def ensure_mathjax(vendor_dir: Path = VENDOR_DIR) -> Path:
    """Make ``vendor_dir/mathjax`` hold the pinned MathJax subset; return that folder.

    Two builds may start at once (the tests build both editions side by side): a lock file
    makes the second wait for the first, then find MathJax in place.
    """
    target = vendor_dir / "mathjax"
    if _installed_version(target) == MATHJAX_VERSION:
        return target
    vendor_dir.mkdir(parents=True, exist_ok=True)
    (vendor_dir / ".gitignore").write_text("# fetched at build time, see book/_ext/minigpt_book.py\n*\n")
    with open(vendor_dir / ".lock", "w") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:  # not POSIX: no concurrent builds to guard against, we hope
            pass
        if _installed_version(target) == MATHJAX_VERSION:  # another build just made it
            return target
        with tempfile.TemporaryDirectory(dir=vendor_dir, prefix=".fetch-") as tmp:
            tmp = Path(tmp)
            staged = tmp / "mathjax"
            local = os.environ.get("MINIGPT_MATHJAX")
            if local:
                root = Path(local).expanduser()
                if _installed_version(root) is None:
                    raise ExtensionError(
                        f"minigpt_book: MINIGPT_MATHJAX={local} does not hold an unpacked MathJax 3 "
                        f"package ({MATHJAX_ENTRY} and package.json expected)"
                    )
                _copy_subset(root, staged)
            else:
                tarball = _npm_pack(tmp)
                unpacked = tmp / "unpacked"
                with tarfile.open(tarball) as tar:
                    if hasattr(tarfile, "data_filter"):
                        tar.extractall(unpacked, filter="data")
                    else:  # Python < 3.10.12: the checksum above already vouches for the tarball
                        tar.extractall(unpacked)
                _copy_subset(unpacked / "package", staged)
            if target.exists():  # an old version, or a copy left half-made
                shutil.rmtree(target)
            staged.rename(target)
    return target


def setup_mathjax(app: Sphinx, config: Config) -> None:
    if config.mathjax_path and "://" not in config.mathjax_path and not config.mathjax_path.startswith("mathjax/"):
        return  # a user's own local MathJax setting wins
    ensure_mathjax()
    config.html_static_path = list(config.html_static_path) + [str(VENDOR_DIR)]
    config.mathjax_path = f"mathjax/{MATHJAX_ENTRY}"


# ---------------------------------------------------------------------------------------------
# 2. No thebe scripts (they name a CDN and declare a constant twice)


def drop_thebe_scripts(app: Sphinx, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    kept = []
    for js in scripts:
        filename = getattr(js, "filename", js) or ""
        body = getattr(js, "attributes", {}).get("body", "") if hasattr(js, "attributes") else ""
        if "thebe" in str(filename) or "THEBE_JS_URL" in body:
            continue
        kept.append(js)
    context["script_files"] = kept


# ---------------------------------------------------------------------------------------------
# 3. Gated solutions in the student edition


class hidden_gated_solution(nodes.Element):
    """Marks where a gated solution started; removed with its content before writing."""


class RemoveGatedSolutions(SphinxTransform):
    # after sphinx-exercise's structure check (priority 1), before its merge (priority 10)
    default_priority = 5

    def apply(self) -> None:
        from sphinx_exercise.nodes import solution_end_node

        for start in list(self.document.findall(hidden_gated_solution)):
            parent = start.parent
            index = parent.index(start)
            end = None
            for j in range(index + 1, len(parent.children)):
                if isinstance(parent.children[j], solution_end_node):
                    end = j
                    break
            if end is None:
                raise ExtensionError(
                    f"minigpt_book: a solution-start in {self.env.docname} has no solution-end "
                    "at the same level"
                )
            del parent.children[index : end + 1]


STUDENT_TAG = "student_edition"


def student_edition(app: Sphinx, config: Config) -> None:
    if not config.hide_solutions:
        return
    app.tags.add(STUDENT_TAG)
    config.html_copy_source = False
    options = dict(config.html_theme_options or {})
    options["use_download_button"] = False
    options["launch_buttons"] = {}
    config.html_theme_options = options


def register_gated_override(app: Sphinx, config: Config) -> None:
    if not config.hide_solutions:
        return
    from sphinx_exercise.directive import SolutionStartDirective

    class HiddenSolutionStart(SolutionStartDirective):
        def run(self):
            registry = getattr(self.env, "sphinx_exercise_gated_registry", None)
            if registry is None:
                registry = self.env.sphinx_exercise_gated_registry = {}
            entry = registry.setdefault(
                self.env.docname,
                {"start": [], "end": [], "sequence": [], "msg": [], "type": "solution"},
            )
            entry["start"].append(self.lineno)
            entry["sequence"].append("S")
            entry["msg"].append(f"solution-start at line: {self.lineno}")
            return [hidden_gated_solution()]

    app.add_directive("solution-start", HiddenSolutionStart, override=True)


# ---------------------------------------------------------------------------------------------
# 4. Exercise numbers per chapter


def renumber_exercises(app: Sphinx, env) -> list[str]:
    """After Sphinx has numbered the exercises 1, 2, 3, ... across the book: N.1, N.2, ..."""
    for docname, numbers in env.toc_fignumbers.items():
        name = Path(docname).name
        if not CHAPTER_RE.match(docname) or "exercise" not in numbers:
            continue
        prefix = "A" if name.startswith("appendix") else int(name[:2])
        in_order = sorted(numbers["exercise"].items(), key=lambda item: item[1])
        numbers["exercise"] = {ids: (prefix, i) for i, (ids, _) in enumerate(in_order, start=1)}
    return []


# ---------------------------------------------------------------------------------------------
# 5. Author-year labels in the bibliography


def _register_author_year_style() -> None:
    from pybtex.plugin import register_plugin
    from pybtex.style.formatting.unsrt import Style as UnsrtStyle
    from pybtex.style.labels import BaseLabelStyle

    class AuthorYearLabels(BaseLabelStyle):
        def format_labels(self, sorted_entries):
            for entry in sorted_entries:
                people = entry.persons.get("author") or entry.persons.get("editor") or []
                names = [" ".join(p.prelast_names + p.last_names) for p in people]
                names = [n.replace("{", "").replace("}", "") for n in names]
                if len(names) > 2:
                    who = f"{names[0]} et al."
                elif len(names) == 2:
                    who = f"{names[0]} and {names[1]}"
                else:
                    who = names[0] if names else entry.key
                yield f"{who}, {entry.fields.get('year', 'n.d.')}"

    class AuthorYearStyle(UnsrtStyle):
        default_label_style = AuthorYearLabels
        default_sorting_style = "author_year_title"

    register_plugin("pybtex.style.formatting", "minigpt_author_year", AuthorYearStyle, force=True)


# ---------------------------------------------------------------------------------------------
# 6. {chapter-overview} and 9. the chapter header cards: what they share

CHAPTER_RE = re.compile(r"^notebooks/(\d\d|appendix)_[^/]*$")
# What each chapter builds on and its learning goals (keyed by chapter number, or "appendix"),
# and the measured run times (scripts/execute_notebooks.py writes them).
CHAPTERS_DATA = BOOK_DIR / "chapters.yml"
CHAPTER_TIMES = BOOK_DIR / "chapter_times.json"
# Study-time estimate, in minutes (documented in book/instructors.md).
MIN_PER_WORD = 1 / 100  # careful reading of technical prose with mathematics: 100 words a minute
MIN_PER_CODE_CELL = 1.5  # reading a cell, running it, looking at its output
MIN_PER_EXERCISE = 15  # an exercise whose title gives no time estimate
# Exercise tiers: `:class: warm-up`, `:class: core` or `:class: challenge` on the directive.
TIERS = ("warm-up", "core", "challenge")
HEADING_RE = re.compile(r"^#\s+(?:(\d+)\.\s*)?(.+?)\s*$", re.MULTILINE)
# an exercise directive: its title (the directive's argument) and its option lines
EXERCISE_RE = re.compile(
    r"^(?::::+|```+)\{exercise(?:-start)?\}[ \t]*(?P<title>[^\n]*)\n?(?P<options>(?:[ \t]*:[\w-]+:[^\n]*(?:\n|$))*)",
    re.MULTILINE,
)
CLASS_OPTION_RE = re.compile(r"^[ \t]*:class:[ \t]*(.*)$", re.MULTILINE)
# "(~10 min)", "(~1 h)", "(~20-30 min)" at the end of an exercise's title; a range counts as its middle
ESTIMATE_RE = re.compile(
    r"\(\s*~?\s*(\d+(?:\.\d+)?)(?:\s*[-\u2013]\s*(\d+(?:\.\d+)?))?\s*(min|minutes?|h|hours?)\s*\)\s*$"
)


def exercise_estimate(title: str) -> float | None:
    """Minutes from a time estimate at the end of an exercise's title, else None."""
    match = ESTIMATE_RE.search(title)
    if not match:
        return None
    low = float(match.group(1))
    high = float(match.group(2)) if match.group(2) else low
    return (low + high) / 2 * (60 if match.group(3).startswith("h") else 1)


def parse_exercises(markdown: str) -> list[dict]:
    """The exercise directives in a Markdown text: tier (or None) and minutes (or None) each."""
    found = []
    for match in EXERCISE_RE.finditer(markdown):
        classes = " ".join(CLASS_OPTION_RE.findall(match.group("options"))).split()
        tier = next((c for c in classes if c in TIERS), None)
        found.append({"tier": tier, "minutes": exercise_estimate(match.group("title"))})
    return found


def chapter_info(path: Path) -> dict:
    """Title, number and size of one chapter notebook, and its exercises by tier."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    words = code_cells = 0
    exercises: list[dict] = []
    title, number = path.stem, None
    for cell in nb.get("cells", []):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        if cell.get("cell_type") == "code":
            code_cells += 1
        elif cell.get("cell_type") == "markdown":
            words += len(source.split())
            exercises += parse_exercises(source)
            match = HEADING_RE.search(source)
            if match and title == path.stem:
                number, title = match.group(1), match.group(2)
    minutes = words * MIN_PER_WORD + code_cells * MIN_PER_CODE_CELL
    return {
        "title": title,
        "number": int(number) if number else None,
        "code_cells": code_cells,
        "exercises": len(exercises),
        "tiers": {tier: sum(e["tier"] == tier for e in exercises) for tier in TIERS},
        "estimated": sum(e["minutes"] is not None for e in exercises),
        "study_min": minutes,
        "exercise_min": sum(MIN_PER_EXERCISE if e["minutes"] is None else e["minutes"] for e in exercises),
    }


def chapter_key(docname: str) -> int | str | None:
    """1, 2, ... for notebooks/NN_*.ipynb, "appendix" for the appendix, None for other pages."""
    if not CHAPTER_RE.match(docname):
        return None
    name = Path(docname).name
    return "appendix" if name.startswith("appendix") else int(name[:2])


def load_chapter_data(path: Path = CHAPTERS_DATA) -> dict:
    """book/chapters.yml, keyed by chapter number (int) or "appendix"."""
    import yaml

    if not path.is_file():
        return {}
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {(key if isinstance(key, int) else str(key)): (value or {}) for key, value in raw.items()}


def load_chapter_times(path: Path = CHAPTER_TIMES) -> dict[str, float]:
    """book/chapter_times.json: notebook stem -> seconds at one thread."""
    try:
        return {str(k): float(v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}
    except (OSError, ValueError):
        return {}


def builds_on(key, data: dict) -> tuple | str:
    """The chapters a chapter builds on (numbers), or a phrase such as "Part I"."""
    entry = data.get(key, {})
    if "builds_on" in entry:
        deps = entry["builds_on"]
        return deps if isinstance(deps, str) else tuple(deps or ())
    return (key - 1,) if isinstance(key, int) and key > 1 else ()  # a chain, like Part I


def book_chapters(env) -> list[tuple]:
    """(key, docname, chapter_info) of every chapter notebook in the book, in order."""
    chapters = []
    for docname in sorted(d for d in env.found_docs if CHAPTER_RE.match(d)):
        path = Path(env.doc2path(docname))
        if path.suffix != ".ipynb":
            continue
        chapters.append((chapter_key(docname), docname, chapter_info(path)))
    return chapters


def run_time_text(seconds: float) -> str:
    """"about 20 s" or "about 3 min": a measured wall time, rounded as a reader needs it."""
    if seconds < 55:
        return f"about {max(10, round(seconds / 10) * 10)}\u00a0s"  # no-break spaces
    return f"about {round(seconds / 60)}\u00a0min"


def _hours(minutes: float) -> str:
    quarters = max(1, round(minutes / 15))
    whole, rest = divmod(quarters, 4)
    frac = ["", "¼", "½", "¾"][rest]
    return f"{whole or ''}{frac}\u00a0h"  # a no-break space: "2½ h" never splits


def tier_text(tiers: dict) -> str:
    """"1 warm-up, 2 core, 1 challenge" (tiers with no exercise left out)."""
    return ", ".join(f"{tiers[t]} {t}" for t in TIERS if tiers.get(t))


def doc_link(docname: str, text: str):
    ref = addnodes.pending_xref(
        "", refdomain="std", reftype="doc", reftarget="/" + docname, refexplicit=True, refwarn=True
    )
    ref += nodes.inline(text=text)
    return ref


class ChapterOverview(SphinxDirective):
    """A table of the book's chapter notebooks: what each builds on and how long it takes."""

    has_content = False
    option_spec: ClassVar[dict] = {"class": directives.class_option}

    def run(self):
        env = self.env
        env.minigpt_overview_docs = getattr(env, "minigpt_overview_docs", set()) | {env.docname}
        env.note_dependency(str(CHAPTERS_DATA))
        data = load_chapter_data()
        chapters = book_chapters(env)
        for _, docname, _ in chapters:
            env.note_dependency(str(env.doc2path(docname)))
        by_number = {key: docname for key, docname, _ in chapters}

        header = ["Chapter", "Builds on", "Exercises", "Reading and running", "Exercises (time)"]
        table = nodes.table(classes=["chapter-overview"] + self.options.get("class", []))
        group = nodes.tgroup(cols=len(header))
        table += group
        for width in (36, 14, 22, 14, 14):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        head += self._row([nodes.Text(h) for h in header])
        body = nodes.tbody()
        group += body
        total_study = total_ex = 0.0
        total_tiers = dict.fromkeys(TIERS, 0)
        for key, docname, info in chapters:
            label = info["title"] if key == "appendix" else f"{key}. {info['title']}"
            deps = builds_on(key, data)
            dep_cells = [nodes.Text(deps)] if isinstance(deps, str) else []
            for i, dep in enumerate(() if isinstance(deps, str) else deps):
                if i:
                    dep_cells.append(nodes.Text(", "))
                dep_cells.append(doc_link(by_number[dep], str(dep)) if dep in by_number else nodes.Text(str(dep)))
            body += self._row([
                doc_link(docname, label),
                dep_cells or [nodes.Text("—")],
                self._exercise_cell(info["exercises"], info["tiers"]),
                nodes.Text(_hours(info["study_min"])),
                nodes.Text(_hours(info["exercise_min"]) if info["exercises"] else "—"),
            ])
            total_study += info["study_min"]
            total_ex += info["exercise_min"]
            for tier in TIERS:
                total_tiers[tier] += info["tiers"][tier]
        if not chapters:
            body += self._row([nodes.Text("(no chapters yet)")] + [nodes.Text("")] * 4)
        else:
            body += self._row([
                nodes.strong(text="Total"), nodes.Text(""),
                self._exercise_cell(sum(info["exercises"] for _, _, info in chapters), total_tiers),
                nodes.Text(_hours(total_study)), nodes.Text(_hours(total_ex)),
            ])
        return [table]

    @staticmethod
    def _exercise_cell(count: int, tiers: dict) -> list:
        """"4", and under it "1 warm-up, 2 core, 1 challenge" when the exercises have tiers."""
        cell = [nodes.Text(str(count))]
        if tier_text(tiers):
            cell += [nodes.Text(": "), nodes.inline(text=tier_text(tiers), classes=["exercise-tiers"])]
        return cell

    @staticmethod
    def _row(cells):
        row = nodes.row()
        for content in cells:
            entry = nodes.entry()
            para = nodes.paragraph()
            for node in content if isinstance(content, list) else [content]:
                para += node
            entry += para
            row += entry
        return row


def overview_outdated(app, env, added, changed, removed):
    """Re-read the pages with a chapter overview whenever the set of documents changes."""
    if added or removed:
        return sorted(getattr(env, "minigpt_overview_docs", set()))
    return []


def overview_purge(app, env, docname):
    getattr(env, "minigpt_overview_docs", set()).discard(docname)


def overview_merge(app, env, docnames, other):
    env.minigpt_overview_docs = getattr(env, "minigpt_overview_docs", set()) | getattr(
        other, "minigpt_overview_docs", set()
    )


# ---------------------------------------------------------------------------------------------
# 7. The root redirect page

_ETOC_REDIRECT_RE = re.compile(r'\A<meta http-equiv="Refresh" content="0; url=([^"<>]+)" />\s*\Z')


def complete_root_redirect(app: Sphinx, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    index = Path(app.outdir) / "index.html"
    try:
        match = _ETOC_REDIRECT_RE.match(index.read_text(encoding="utf-8"))
    except OSError:
        return
    if not match:  # a real page, or already rewritten
        return
    from html import escape

    target = escape(match.group(1))
    title = escape(app.config.html_title or app.config.project or "")
    favicon = app.config.html_favicon
    icon = ""
    if favicon:
        href = favicon if "://" in favicon else f"_static/{Path(favicon).name}"
        icon = f'<link rel="icon" href="{escape(href)}">\n'
    index.write_text(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Refresh" content="0; url={target}">\n{icon}'
        f"<title>{title}</title>\n</head>\n"
        f'<body><p><a href="{target}">{title}</a></p></body>\n</html>\n',
        encoding="utf-8",
    )


# ---------------------------------------------------------------------------------------------
# 8. The title next to the logo


def title_with_logo(app: Sphinx, config: Config) -> None:
    if not config.html_logo:
        return
    options = dict(config.html_theme_options or {})
    logo = dict(options.get("logo") or {})
    if "text" not in logo and config.html_title:
        logo["text"] = config.html_title
        options["logo"] = logo
        config.html_theme_options = options


# ---------------------------------------------------------------------------------------------
# 9. The header card of each chapter page


def launch_links(config: Config, docname: str, suffix: str = ".ipynb") -> list[tuple[str, str]]:
    """[("Binder", url), ("Colab", url)] for a chapter, as the theme's launch buttons build them;
    empty when the launch buttons are off (the student edition) or the repository is not on GitHub."""
    options = config.html_theme_options or {}
    buttons = options.get("launch_buttons") or {}
    match = re.match(r"https://github\.com/([^/]+)/([^/]+?)/?$", options.get("repository_url", "") or "")
    if not buttons or not match:
        return []
    org, repo = match.groups()
    branch = options.get("repository_branch") or "main"
    prefix = options.get("path_to_docs", "").strip("/")
    path = f"{prefix + '/' if prefix else ''}{docname}{suffix}"
    ui = {"classic": "tree", "jupyterlab": "lab/tree"}.get(buttons.get("notebook_interface", "classic"), "tree")
    links = []
    if buttons.get("binderhub_url"):
        links.append(("Binder", f"{buttons['binderhub_url'].strip('/')}/v2/gh/{org}/{repo}/{branch}?urlpath={ui}/{path}"))
    if buttons.get("colab_url"):
        links.append(("Colab", f"{buttons['colab_url'].strip('/')}/github/{org}/{repo}/blob/{branch}/{path}"))
    return links


def _inline_code(text: str) -> list:
    """Text with `code` spans as literal nodes (the goals in book/chapters.yml use them)."""
    out = []
    for i, part in enumerate(re.split(r"`([^`]+)`", text)):
        if part:
            out.append(nodes.literal(text=part) if i % 2 else nodes.Text(part))
    return out


def _field(name: str, *content, classes=()) -> nodes.field:
    field = nodes.field(classes=list(classes))
    field += nodes.field_name(text=name)
    body = nodes.field_body()
    para = nodes.paragraph()
    for node in content:
        para += node
    body += para
    field += body
    return field


def chapter_card(app: Sphinx, doctree: nodes.document) -> None:
    """Insert the header card after a chapter page's title: what the chapter builds on, its run
    time, its exercises and learning goals, and where to run it (Binder, Colab)."""
    env = app.env
    docname = env.docname
    key = chapter_key(docname)
    path = Path(env.doc2path(docname))
    if key is None or path.suffix != ".ipynb":
        return
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None or not section.children or not isinstance(section[0], nodes.title):
        return
    for dependency in (CHAPTERS_DATA, CHAPTER_TIMES):
        env.note_dependency(str(dependency))
    data = load_chapter_data()
    info = chapter_info(path)
    chapters = {k: (d, i) for k, d, i in book_chapters(env)}

    card = nodes.container(classes=["chapter-card"])
    facts = nodes.field_list(classes=["chapter-card-facts"])
    card += facts

    deps = builds_on(key, data)
    if isinstance(deps, str):
        dep_nodes = [nodes.Text(deps)]
    else:
        dep_nodes = []
        for dep in deps:
            if dep_nodes:
                dep_nodes.append(nodes.Text(", "))
            if dep in chapters:
                other, other_info = chapters[dep]
                env.note_dependency(str(env.doc2path(other)))
                dep_nodes.append(doc_link(other, f"{dep}. {other_info['title']}"))
            else:
                dep_nodes.append(nodes.Text(f"chapter {dep}"))
    facts += _field("Builds on", *(dep_nodes or [nodes.Text("nothing but Python and NumPy")]))

    seconds = load_chapter_times().get(path.stem)
    if seconds is not None:
        facts += _field("Runs in", nodes.Text(f"{run_time_text(seconds)} on one CPU core"))

    if info["exercises"]:
        count = f"{info['exercises']} exercise{'s' if info['exercises'] != 1 else ''}"
        target = next((s for s in doctree.findall(nodes.section) if "exercises" in s["ids"]), None)
        count_node = nodes.reference("", count, refid="exercises") if target is not None else nodes.Text(count)
        detail = tier_text(info["tiers"])
        text = f" ({detail}), about {_hours(info['exercise_min'])}" if detail else f", about {_hours(info['exercise_min'])}"
        facts += _field("Exercises", count_node, nodes.Text(text))

    links = launch_links(app.config, docname)
    if links:
        link_nodes = []
        for name, url in links:
            if link_nodes:
                link_nodes.append(nodes.Text(" "))
            link_nodes.append(nodes.reference("", name, refuri=url, classes=["chapter-card-launch"]))
        facts += _field("Run it on", *link_nodes, classes=["chapter-card-run"])

    goals = (data.get(key) or {}).get("goals") or []
    if goals:
        lead = nodes.paragraph(classes=["chapter-card-goals-lead"])
        lead += nodes.strong(text="After this chapter you can")
        card += lead
        items = nodes.bullet_list(classes=["chapter-card-goals"])
        for goal in goals:
            item = nodes.list_item()
            para = nodes.paragraph()
            for node in _inline_code(str(goal)):
                para += node
            item += para
            items += item
        card += items

    section.insert(1, card)


# ---------------------------------------------------------------------------------------------


def setup(app: Sphinx) -> dict:
    app.setup_extension("sphinx.ext.mathjax")
    app.setup_extension("sphinx_exercise")
    _register_author_year_style()  # used by bibtex_default_style in _config.yml
    # before Sphinx validates html_static_path (priority 800)
    app.connect("config-inited", setup_mathjax, priority=400)
    app.connect("config-inited", register_gated_override, priority=600)
    app.connect("config-inited", student_edition, priority=600)
    app.connect("config-inited", title_with_logo, priority=600)
    app.connect("env-get-updated", renumber_exercises, priority=900)  # after Sphinx's numbering
    app.add_directive("chapter-overview", ChapterOverview)
    app.connect("env-get-outdated", overview_outdated)
    app.connect("env-purge-doc", overview_purge)
    app.connect("env-merge-info", overview_merge)
    app.connect("doctree-read", chapter_card)
    app.connect("html-page-context", drop_thebe_scripts, priority=900)
    app.connect("build-finished", complete_root_redirect, priority=900)  # after sphinx-external-toc
    app.add_node(hidden_gated_solution)
    app.add_transform(RemoveGatedSolutions)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}

"""Every section the code cites exists in docs/ (issue 15).

Comments cite ``[DS x.y]`` (docs/damon_semantics.md), ``[PM x.y]`` (docs/model.md),
``[WF x.y]`` (docs/workloads_formats.md), sources as ``[C Sn]`` / ``[2 Sn]``, and may link
``docs/<page>.md#<anchor>`` directly (docs/architecture.md#citations explains the tags). A
citation of a section or anchor that is not there, or of the spec files outside the
repository, fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: where the citations are: the package, the agents, the scripts, the benchmarks, the tests
CODE_DIRS = ("damon_gym", "agents", "scripts", "benchmarks", "tests")
#: and the configs' comments, descriptions and preset anchors
CONFIG_DIR = "configs"
#: the topology presets keep their old first-line comment: a scenario's content hash covers
#: the bytes of its topology file, so editing the comment would change every pinned hash
FROZEN = ("configs/topologies/",)
TAG_PAGES = {"DS": ("damon_semantics.md", "ds"), "PM": ("model.md", "pm"),
             "WF": ("workloads_formats.md", "wf")}

TAG = re.compile(r"\[(DS|PM|WF)(?: ([^\]]*))?\]")
#: one cited section: "2.7", "1b", "1.7-1.10", "3 B5", "2.4 check 2", "2.7 item 4"
SECTION = re.compile(r"(\d+[a-z]?(?:\.\d+)?)(?:-(\d+[a-z]?(?:\.\d+)?))?(?: (B\d+))?"
                     r"(?: (?:check|item) \d+)?$")
SOURCE_TAG = re.compile(r"\[(?:C|2) (S\d+[^\]]*)\]")
LINK = re.compile(r"docs/([\w-]+\.md)#([\w-]+)")
#: the spec files outside the repository, which users do not have
OUTSIDE = re.compile(r"(?:shared/|\.\./)?\b(?:damon_spec|perf_model|workloads)\.md")


def _anchors(page: str) -> set[str]:
    return set(re.findall(r'<a id="([^"]+)"></a>', (DOCS / page).read_text(encoding="utf-8")))


def _code_files() -> list[Path]:
    me = Path(__file__).resolve()
    code = [p for d in CODE_DIRS for p in (ROOT / d).rglob("*.py")
            if p.resolve() != me and "__pycache__" not in p.parts]
    return sorted(code + list((ROOT / CONFIG_DIR).rglob("*.yaml")))


def _lines():
    for path in _code_files():
        rel = path.relative_to(ROOT)
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            yield f"{rel}:{no}", line


def _section_anchors(kind: str, body: str | None) -> list[str] | None:
    """The anchors one tag cites (empty for a bare ``[PM]``), or None when unreadable."""
    if body is None:
        return []
    _, prefix = TAG_PAGES[kind]
    out = []
    for part in (p.strip() for p in body.split(",")):
        if kind == "PM" and part == "U":  # "[PM 2.5, U]": the number is unconfirmed
            continue
        m = SECTION.match(part)
        if m is None:
            return None
        first, last, baseline = m.groups()
        for sec in (first, last):
            if sec is not None:
                out.append(f"{prefix}-{sec.replace('.', '-')}")
        if baseline is not None:
            out.append(f"{prefix}-{first}-{baseline.lower()}")
    return out


def test_cited_sections_exist():
    anchors = {kind: _anchors(page) for kind, (page, _) in TAG_PAGES.items()}
    problems, seen = [], 0
    for where, line in _lines():
        for m in TAG.finditer(line):
            seen += 1
            cited = _section_anchors(m.group(1), m.group(2))
            if cited is None:
                problems.append(f"{where}: cannot read {m.group(0)}")
                continue
            page = TAG_PAGES[m.group(1)][0]
            problems += [f"{where}: {m.group(0)} cites docs/{page}#{a}, which does not exist"
                         for a in cited if a not in anchors[m.group(1)]]
    assert not problems, "\n".join(problems)
    assert seen > 100  # the scan does find the citations


def test_cited_sources_exist():
    sources = {a for a in _anchors("model.md") if re.fullmatch(r"pm-s\d+", a)}
    problems = [f"{where}: {m.group(0)} cites S{n}, not in docs/model.md#pm-sources"
                for where, line in _lines() for m in SOURCE_TAG.finditer(line)
                for n in re.findall(r"\bS(\d+)\b", m.group(1)) if f"pm-s{n}" not in sources]
    assert not problems, "\n".join(problems)


def test_linked_sections_exist():
    problems = []
    for where, line in _lines():
        for m in LINK.finditer(line):
            page, anchor = m.groups()
            if not (DOCS / page).is_file():
                problems.append(f"{where}: docs/{page} does not exist")
            elif anchor not in _anchors(page):
                problems.append(f"{where}: docs/{page}#{anchor} does not exist")
    assert not problems, "\n".join(problems)


def test_links_between_docs_pages_resolve():
    """The pages' own cross-links (``[DS 3.5](damon_semantics.md#ds-3-5)``) land on a section."""
    problems = []
    for src in sorted(DOCS.glob("*.md")):
        for page, anchor in re.findall(r"\]\(([\w-]+\.md)#([\w-]+)\)", src.read_text("utf-8")):
            if not (DOCS / page).is_file() or anchor not in _anchors(page):
                problems.append(f"docs/{src.name}: {page}#{anchor} does not exist")
    assert not problems, "\n".join(problems)


def test_no_citation_of_the_specs_outside_the_repository():
    problems = [f"{where}: {line.strip()}" for where, line in _lines()
                if OUTSIDE.search(line) and not where.startswith(FROZEN)]
    assert not problems, "cite docs/ instead:\n" + "\n".join(problems)


@pytest.mark.parametrize("tag, expected", [
    ("[PM 2.7]", ["pm-2-7"]), ("[PM 2.4 check 2]", ["pm-2-4"]), ("[PM 1b, 2.5]",
     ["pm-1b", "pm-2-5"]), ("[DS 1.7-1.10, 1.13]", ["ds-1-7", "ds-1-10", "ds-1-13"]),
    ("[PM 3 B5]", ["pm-3", "pm-3-b5"]), ("[PM 2.5, U]", ["pm-2-5"]), ("[PM]", []),
    ("[DS one]", None)])
def test_tag_reading(tag, expected):
    m = TAG.fullmatch(tag)
    assert m is not None
    assert _section_anchors(m.group(1), m.group(2)) == expected


def test_a_missing_section_is_reported(tmp_path):
    """The check can fail: a section that is not in the page is not among its anchors."""
    cited = _section_anchors("PM", "9.9")
    assert cited == ["pm-9-9"] and "pm-9-9" not in _anchors("model.md")

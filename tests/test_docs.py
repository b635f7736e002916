"""Every relative link in README.md and docs/*.md leads somewhere: to a file
that exists and, where it names one, to an anchor in it. http(s) links are
not followed (no network here)."""

import re
from urllib.parse import unquote

import pytest

from scripts import ROOT

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCED = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)
# [text](target "title") and ![alt](target); the text may run over lines.
INLINE = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
NOT_CHECKED = ("http://", "https://", "mailto:")


def prose(text):
    """The text without code, where link-like text is not a link."""
    return CODE_SPAN.sub("", FENCED.sub("", text))


def anchor(heading):
    """GitHub's anchor for a heading: its text lower-case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts by its text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(document):
    """The anchors of a markdown file's headings; repeats get -1, -2, … as on GitHub."""
    found, seen = set(), {}
    for heading in HEADING.findall(FENCED.sub("", document.read_text())):
        name = anchor(heading)
        found.add(f"{name}-{seen[name]}" if name in seen else name)
        seen[name] = seen.get(name, 0) + 1
    return found


def links(document):
    text = prose(document.read_text())
    return INLINE.findall(text) + REFERENCE.findall(text)


def broken_links(document):
    """The relative links of a markdown file that lead nowhere, each with why."""
    broken = []
    for link in links(document):
        if link.startswith(NOT_CHECKED):
            continue
        path, _, name = link.partition("#")
        target = document if not path else (ROOT / path.lstrip("/") if path.startswith("/")
                                             else document.parent / unquote(path))
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif name and target.suffix == ".md" and unquote(name) not in anchors(target):
            broken.append(f"{link}: no heading with anchor #{name} in {target.name}")
        elif name and target.suffix != ".md" and not line_anchor_in(name, target):
            broken.append(f"{link}: {target.name} has no line {name}")
    return broken


def line_anchor_in(name, target):
    """GitHub's #L12 or #L12-L20 in a file that has those lines."""
    lines = re.fullmatch(r"L(\d+)(?:-L(\d+))?", name)
    return bool(lines) and int(lines[lines.lastindex]) <= len(target.read_text().splitlines())


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: str(d.relative_to(ROOT)))
def test_relative_links_lead_somewhere(document):
    assert broken_links(document) == []


def test_the_readme_links_are_read():
    """Else the test above passes on links it never saw: one runs over two lines."""
    assert {
        "docs/broker.md#killing-the-broker-as-a-power-cut-would",  # one that runs over two lines
        "docs/scaling-out.md",
    } <= set(links(ROOT / "README.md"))


def test_a_broken_link_is_found(tmp_path):
    (tmp_path / "other.md").write_text("# Other: `page`\n\n## Same\n\n## Same\n")
    (tmp_path / "script.py").write_text("one = 1\ntwo = 2\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Top\n\n"
        "[ok](other.md) [ok](other.md#other-page) [ok](#top) [ok](other.md#same-1) [ok](script.py#L1-L2)\n"
        "[off\nline](https://example.invalid/x) `[code](missing.md)`\n\n"
        "```\n[fenced](missing.md)\n```\n\n"
        "[gone](missing.md) [no anchor](other.md#nowhere) ![no picture](missing.png)\n"
        "[no line](script.py#L3) [repeat](other.md#same-2)\n"
    )
    assert [problem.split(":")[0] for problem in broken_links(page)] == [
        "missing.md", "other.md#nowhere", "missing.png", "script.py#L3", "other.md#same-2",
    ]

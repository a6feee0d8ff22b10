"""The documents users read: README stays short (what it is, download, one recipe per platform,
check, troubleshooting: the rest is in docs/), and every relative link in README and docs/ leads
to a file of the repository and, with a #fragment, to a heading of it."""
import re

import pytest

from harness.paths import REPO

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(path):
    """GitHub's anchors of a Markdown file's headings."""
    found = set()
    for line in path.read_text().splitlines():
        heading = re.match(r"^#+\s+(.*)$", line)
        if heading:
            text = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower())
            found.add(text.replace(" ", "-"))
    return found


def test_readme_starts_with_the_quickstart_and_the_test_command_ci_runs():
    readme = (REPO / "README.md").read_text()
    first_block = readme.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()]
    assert commands == ["bash spark-conf/quickstart.sh", "bash tests/run.sh"], commands
    assert readme.index("```sh") < readme.index("## "), "the commands come before the first section"
    assert "exec bash tests/run.sh" in (REPO / ".ci" / "run").read_text()


def test_readme_through_troubleshooting_is_under_300_lines():
    lines = (REPO / "README.md").read_text().splitlines()
    end = next(i for i, line in enumerate(lines) if line.startswith("## ") and i > 0 and
               any(l.startswith("## Troubleshooting") for l in lines[:i]))
    assert end < 300, f"README runs {end} lines from its top through Troubleshooting"
    headings = [line for line in lines[:end] if line.startswith("## ")]
    assert headings == ["## Download", "## Use it", "## Platforms", "## Check before you deploy",
                        "## Troubleshooting"], headings


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_relative_links_lead_somewhere(document):
    broken = []
    for target in LINK.findall(document.read_text()):
        if re.match(r"^[a-z]+://", target) or target.startswith("mailto:"):
            continue
        path, _, fragment = target.partition("#")
        file = (document.parent / path).resolve() if path else document
        if not file.exists():
            broken.append(target)
        elif fragment and file.suffix == ".md" and fragment not in anchors(file):
            broken.append(target)
    assert not broken, f"{document.name}: {broken}"

"""Every fenced Python example in docs/ and the package READMEs runs, as written, on bundled data.

Each page's examples run in order in one namespace (a later example may use what an earlier one
defined), in a scratch directory that mirrors the repository's `examples/` folder, so a path such
as `examples/penguin/data` reads the bundled penguin data and outputs land in the scratch
directory. An example that cannot run here (it needs a trained model, a server or a long run)
carries the line `<!-- docs-test: not-run: <reason> -->` right above its fence; it is reported
as a skipped test with that reason, never dropped silently, and later examples on the page do
not depend on it.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(
    [*ROOT.glob("docs/*.md"), *ROOT.glob("packages/*/README.md"), ROOT / "README.md"],
)
_FENCE = re.compile(r"^```python\s*$")
_NOT_RUN = re.compile(r"^<!--\s*docs-test:\s*not-run:\s*(?P<reason>.+?)\s*-->\s*$")


@dataclass(frozen=True)
class Example:
    """One fenced Python block: where it is, its code, and why it is not run (if it is not)."""

    page: Path
    line: int
    code: str
    not_run: str | None

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def _examples(page: Path) -> list[Example]:
    """The page's ```python blocks, in order, with their not-run markers."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Example] = []
    i = 0
    while i < len(lines):
        if _FENCE.match(lines[i]):
            start = i + 1
            end = start
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            marker = _NOT_RUN.match(lines[i - 1]) if i > 0 else None
            found.append(
                Example(
                    page=page,
                    line=start,
                    code="\n".join(lines[start:end]) + "\n",
                    not_run=marker.group("reason") if marker else None,
                )
            )
            i = end
        i += 1
    return found


EXAMPLES = {page: _examples(page) for page in PAGES}
RUN_PAGES = [page for page, found in EXAMPLES.items() if any(e.not_run is None for e in found)]
NOT_RUN = [e for found in EXAMPLES.values() for e in found if e.not_run is not None]


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with a copy of the repository's examples/ (bundled data, modules)."""
    shutil.copytree(
        ROOT / "examples",
        tmp_path / "examples",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HEADWATER_HOME", str(tmp_path / "headwater_home"))
    return tmp_path


@pytest.mark.parametrize(
    "page", RUN_PAGES, ids=[str(p.relative_to(ROOT)) for p in RUN_PAGES]
)
def test_page_examples_run(page: Path, scratch: Path) -> None:
    namespace: dict[str, object] = {"__name__": f"docs_example_{page.stem}"}
    for example in EXAMPLES[page]:
        if example.not_run is not None:
            continue
        code = compile("\n" * (example.line - 1) + example.code, str(example.page), "exec")
        try:
            exec(code, namespace)
        except Exception as error:
            raise AssertionError(f"the example at {example.id} failed: {error!r}") from error


@pytest.mark.parametrize("example", NOT_RUN, ids=[e.id for e in NOT_RUN])
def test_not_run_examples_say_why(example: Example) -> None:
    reason = example.not_run or ""
    assert len(reason) >= 10, f"{example.id}: give a reason it is not run"
    for path in re.findall(r"(?:tests|packages|examples)/[\w/.-]+\.py", reason):
        assert (ROOT / path).exists(), f"{example.id}: the reason names {path}, which is not there"
    compile(example.code, example.id, "exec")  # still valid Python
    pytest.skip(f"{example.id} not run: {reason}")


def test_every_page_with_python_is_collected() -> None:
    """A page whose examples are all unrun still appears; no page is left out of the glob."""
    with_python = {p for p in PAGES if EXAMPLES[p]}
    assert with_python == set(RUN_PAGES) | {e.page for e in NOT_RUN}


def _project_url() -> str:
    """The project's one public URL: `repo_url` in mkdocs.yml."""
    found = re.search(r"^repo_url:\s*(\S+)\s*$", (ROOT / "mkdocs.yml").read_text(), re.M)
    assert found, "mkdocs.yml: expected a repo_url line"
    return found.group(1).rstrip("/")


_LINK = re.compile(r"\]\(([^)\s]+)\)|(https?://[^\s)>`\"']+)")


@pytest.mark.parametrize(
    "readme",
    sorted(ROOT.glob("packages/*/README.md")),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_package_readme_links_are_absolute_project_urls(readme: Path) -> None:
    """A README is a package index page: every link is absolute and points at a file we have."""
    project = _project_url()
    text = readme.read_text(encoding="utf-8")
    links = [(m.group(1) or m.group(2)).rstrip(".,;:") for m in _LINK.finditer(text)]
    assert any(link.startswith(f"{project}/blob/main/docs/") for link in links), (
        f"{readme}: expected a link to its guide under {project}/blob/main/docs/"
    )
    for link in links:
        assert link.startswith(("https://", "http://")), f"{readme}: relative link {link!r}"
        if link.startswith(project + "/"):
            kind, _, path = link[len(project) + 1 :].partition("/main/")
            assert kind in ("blob", "tree"), f"{readme}: {link!r} is not a blob/ or tree/ URL"
            assert (ROOT / path.split("#")[0]).exists(), f"{readme}: {link!r} names no file"


def test_docs_link_nothing_outside_the_repository() -> None:
    """No page points at a developer's machine or a folder beside the repository."""
    local = re.compile(r"\.\./shared|/work/|/home/\w|/Users/\w|\]\(\.\./\.\./")
    for page in PAGES:
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            assert not local.search(line), f"{page.relative_to(ROOT)}:{number}: {line.strip()}"

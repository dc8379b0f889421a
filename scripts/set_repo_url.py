"""Point the course at its GitHub repository, in one go: ``python3 scripts/set_repo_url.py OWNER/NAME``.

pyproject.toml's ``[project.urls] Repository`` is the source of truth; this rewrites it together with every place
that links to the repository: the Open in Colab and launch Binder badges and the ``REPO_URL = "..."`` install cells
of ``notebooks/*.py`` and ``notebooks/*.ipynb`` (a jupytext pair stays identical: both get the same text), and any
badge or ``git+https://github.com/...`` install in README.md. Paths and branches in the links stay as they are.
Files are edited as text, so nothing else in them changes; each is written to a temporary name and renamed.
Standard library only, any Python 3.8+. ``tests/test_environments.py`` checks that everything agrees.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import typing as T
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: ``owner/name`` as GitHub allows them.
REPO = r"(?P<repo>[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?/[A-Za-z0-9._-]+?)"
# A quote may be escaped (``\"``) inside an .ipynb's JSON strings.
_QUOTE = r"\\?[\"']"

#: Every kind of link to the repository, by name. Groups: ``repo``; ``path`` (the file a badge opens) and ``ref``
#: (the branch) where the link has them.
PATTERNS: dict[str, re.Pattern] = {
    "Colab badge": re.compile(
        rf"https://colab\.research\.google\.com/github/{REPO}/blob/(?P<ref>[^/\s)\"'\\]+)/(?P<path>[^\s)\"'\\?#]+)"),
    "Binder badge": re.compile(
        rf"https://mybinder\.org/v2/gh/{REPO}/(?P<ref>[^/?\s)\"'\\]+)"
        rf"(?:/?\?(?:labpath|urlpath|filepath)=(?P<path>[^\s)\"'\\&#]+))?"),
    "REPO_URL": re.compile(rf"\bREPO_URL\s*=\s*{_QUOTE}https://github\.com/{REPO}(?:\.git)?/?(?={_QUOTE})"),
    "pip install from git": re.compile(rf"git\+https://github\.com/{REPO}(?:\.git)?(?=[@#\s\"'\\)]|$)", re.MULTILINE),
}

#: pyproject.toml's ``Repository = "https://github.com/OWNER/NAME"`` line of ``[project.urls]``.
PYPROJECT_REPOSITORY = re.compile(rf"^Repository\s*=\s*[\"']https://github\.com/{REPO}/?(?=[\"'])", re.MULTILINE)

#: The install cells' comment while the owner is the placeholder; dropped once a real owner is set.
PLACEHOLDER_NOTE = " (OWNER is a placeholder)"


class Reference(T.NamedTuple):
    """One link to the repository found in a file's text."""

    kind: str
    repo: str
    ref: str | None
    path: str | None  # URL-decoded: "notebooks/01_sound_and_stft.ipynb"
    text: str


def repository(pyproject_text: str) -> str:
    """``owner/name`` of pyproject.toml's ``[project.urls] Repository``."""
    match = PYPROJECT_REPOSITORY.search(pyproject_text)
    if match is None:
        raise ValueError('pyproject.toml has no [project.urls] line Repository = "https://github.com/OWNER/NAME"')
    return match["repo"]


def references(text: str) -> list[Reference]:
    """Every Colab badge, Binder badge, REPO_URL and git install in ``text``, in the order of PATTERNS."""
    found = []
    for kind, pattern in PATTERNS.items():
        for match in pattern.finditer(text):
            groups = match.groupdict()
            path = urllib.parse.unquote(groups["path"]) if groups.get("path") else None
            found.append(Reference(kind, match["repo"], groups.get("ref"), path, match[0]))
    return found


def _replace_repo(pattern: re.Pattern, text: str, repo: str) -> str:
    def swap(match: re.Match) -> str:
        start, end = match.span("repo")
        return match[0][: start - match.start()] + repo + match[0][end - match.start():]

    return pattern.sub(swap, text)


def rewrite(text: str, repo: str) -> str:
    """``text`` with every link of PATTERNS pointing at ``repo`` (``owner/name``)."""
    for pattern in PATTERNS.values():
        text = _replace_repo(pattern, text, repo)
    if not repo.startswith("OWNER/"):
        text = text.replace(PLACEHOLDER_NOTE, "")
    return text


def course_files(root: Path) -> list[Path]:
    """The files that link to the repository: README.md and the notebooks with their jupytext scripts."""
    notebooks = root / "notebooks"
    return [root / "README.md", *sorted(notebooks.glob("*.ipynb")), *sorted(notebooks.glob("*.py"))]


def _write_atomically(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        os.chmod(temporary, path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def set_repository(root: Path, repo: str) -> list[Path]:
    """Point pyproject.toml and every course file under ``root`` at ``repo``; returns the files that changed."""
    pyproject = root / "pyproject.toml"
    texts = {pyproject: _replace_repo(PYPROJECT_REPOSITORY, pyproject.read_text(encoding="utf-8"), repo)}
    repository(texts[pyproject])  # fails before anything is written if pyproject has no Repository line
    for path in course_files(root):
        if path.exists():
            texts[path] = rewrite(path.read_text(encoding="utf-8"), repo)
    changed = [path for path, text in texts.items() if text != path.read_text(encoding="utf-8")]
    for path in changed:
        _write_atomically(path, texts[path])
    return changed


def main(argv: T.Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("repo", help="the GitHub repository as OWNER/NAME, e.g. octocat/riffnb")
    parser.add_argument("--root", type=Path, default=ROOT, help="the riffnb checkout to edit (default: this one)")
    args = parser.parse_args(argv)
    if not re.fullmatch(REPO, args.repo) or args.repo.endswith(".git"):
        parser.error(f"expected OWNER/NAME as on GitHub, e.g. octocat/riffnb; got {args.repo!r}")
    try:
        changed = set_repository(args.root, args.repo)
    except (OSError, ValueError) as error:
        print(f"set_repo_url: {error}", file=sys.stderr)
        return 1
    for path in changed:
        print(f"updated {path.relative_to(args.root)}")
    print(f"the course points at https://github.com/{args.repo}" + ("" if changed else " (nothing to change)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

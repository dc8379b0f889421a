"""Every way of installing riffnb agrees with pyproject.toml, and every link to the course points at one repository.

pyproject.toml is the source of truth:

- ``[project.dependencies]`` and ``requires-python``: environment.yml (conda-forge, for GPU machines), binder/
  (Binder: requirements.txt with PyTorch's CPU build, runtime.txt, postBuild installing riffnb itself) and
  scripts/setup.sh install versions inside those ranges. "Inside" is checked at the boundaries: every version a
  specifier names, just below and just above it;
- ``[project.urls] Repository``: every Open in Colab and launch Binder badge, ``REPO_URL`` install cell and git
  install in notebooks/*.py, notebooks/*.ipynb and README.md points at it, and a notebook's badges at the notebook
  itself; ``python3 scripts/set_repo_url.py OWNER/NAME`` rewrites them all;
- the ipywidgets this run imports is inside pyproject's range, and is the version ``RIFFNB_EXPECT_IPYWIDGETS`` names
  when set (scripts/test.sh runs the widget tests a second time under Colab's ipywidgets 7.7.1).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli", reason="reading pyproject.toml on Python 3.10 needs tomli")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import set_repo_url  # noqa: E402  (scripts/ is not a package)

#: conda-forge names of riffnb's dependencies where they differ from PyPI's.
CONDA_TO_PYPI = {"pytorch": "torch", "pysoundfile": "soundfile", "soxr-python": "soxr"}
PYPI_TO_CONDA = {pypi: conda for conda, pypi in CONDA_TO_PYPI.items()}
PYTORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


# Reading the files ---------------------------------------------------------------------------------------------------


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def runtime_requirements() -> dict[str, Requirement]:
    """``[project.dependencies]`` by canonical name."""
    return {canonicalize_name(req.name): req for req in map(Requirement, pyproject()["project"]["dependencies"])}


def all_requirements() -> dict[str, Requirement]:
    """Runtime dependencies and every optional extra's, by canonical name."""
    extras = [Requirement(line) for lines in pyproject()["project"].get("optional-dependencies", {}).values()
              for line in lines]
    return {**{canonicalize_name(req.name): req for req in extras}, **runtime_requirements()}


def requires_python() -> SpecifierSet:
    return SpecifierSet(pyproject()["project"]["requires-python"])


def conda_specifier(entry: str) -> tuple[str, SpecifierSet]:
    """``(PyPI name, versions)`` of one environment.yml dependency such as ``pytorch>=2.4,<3`` or ``numpy 1.26``."""
    match = re.fullmatch(r"\s*(?:[\w.-]+::)?([A-Za-z0-9_.-]+)\s*(.*?)\s*", entry)
    assert match, f"environment.yml: cannot read the dependency {entry!r}"
    name, spec = match.groups()
    spec = spec.replace(" ", "")
    if spec[:1].isdigit() or (spec.startswith("=") and not spec.startswith("==")):
        # conda's "1.26" and "=1.26" mean 1.26.*
        version = spec.lstrip("=")
        spec = f"=={version}" if version.endswith("*") else f"=={version}.*"
    try:
        versions = SpecifierSet(spec)
    except InvalidSpecifier:
        pytest.fail(f"environment.yml: cannot read the versions of {entry!r} (use >=, <, == separated by commas)")
    return canonicalize_name(CONDA_TO_PYPI.get(name, name)), versions


def environment_yml() -> tuple[dict[str, SpecifierSet], list[str]]:
    """environment.yml's conda dependencies as ``{PyPI name: versions}``, and its pip section."""
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = {}, []
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):
            pip.extend(entry.get("pip", []))
        else:
            name, versions = conda_specifier(entry)
            conda[name] = versions
    return conda, pip


def binder_requirements() -> tuple[dict[str, Requirement], list[str]]:
    """binder/requirements.txt as ``{name: requirement}``, and its option lines (``--extra-index-url ...``)."""
    requirements, options = {}, []
    for line in (ROOT / "binder" / "requirements.txt").read_text().splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            options.append(line)
        else:
            requirement = Requirement(line)
            requirements[canonicalize_name(requirement.name)] = requirement
    return requirements, options


# Comparing version ranges ----------------------------------------------------------------------------------------------


def boundary_versions(*specifier_sets: SpecifierSet) -> set[Version]:
    """The versions where a specifier can change its verdict: each version named, and versions just below and just
    above it at every position (for 2.4: 1.999, 2.3.999, 2.4, 2.4.1, 2.5, 3)."""
    versions = set()
    for specifiers in specifier_sets:
        for specifier in specifiers:
            named = Version(specifier.version.removesuffix(".*"))
            release = named.release
            versions |= {named, Version(".".join(map(str, (*release, 1))))}
            for position, number in enumerate(release):
                versions.add(Version(".".join(map(str, (*release[:position], number + 1)))))
                if number:
                    versions.add(Version(".".join(map(str, (*release[:position], number - 1, 999)))))
    return versions


def range_problem(where: str, name: str, inner: SpecifierSet, outer: SpecifierSet) -> str | None:
    """Why ``where``'s versions ``inner`` of ``name`` are not all inside pyproject.toml's ``outer`` (None: they are)."""
    candidates = sorted(boundary_versions(inner, outer, SpecifierSet(">=0")))
    allowed = [version for version in candidates if inner.contains(version)]
    if not allowed:
        return f"{where}: {name}{inner} allows no version at all"
    outside = [version for version in allowed if not outer.contains(version)]
    if outside:
        return (f"{where}: {name}{inner} allows {outside[0]}, which pyproject.toml's {name}{outer or ' (any)'} "
                f"forbids; make {where}'s range a part of pyproject.toml's")
    return None


# The dependencies ------------------------------------------------------------------------------------------------------


def test_environment_yml_installs_every_runtime_dependency_within_pyproject_ranges():
    conda, pip = environment_yml()
    problems = []
    for name, requirement in runtime_requirements().items():
        if name not in conda:
            conda_name = PYPI_TO_CONDA.get(name, name)
            problems.append(f"environment.yml lacks {name} (conda-forge: {conda_name}); pyproject.toml requires "
                            f"{requirement}")
    for name, requirement in all_requirements().items():
        if name in conda:
            problems.append(range_problem("environment.yml", name, conda[name], requirement.specifier))
    if not any(re.fullmatch(r"(-e\s+)?\.(\[[\w,-]+\])?", line.strip()) for line in pip):
        problems.append("environment.yml: its pip section must install riffnb itself ('-e .' or '.')")
    problems = [problem for problem in problems if problem]
    assert not problems, "\n".join(problems)


def test_environment_yml_python_is_within_requires_python():
    conda, _ = environment_yml()
    assert "python" in conda, "environment.yml must name its Python, within pyproject.toml's requires-python"
    problem = range_problem("environment.yml", "python", conda["python"], requires_python())
    assert not problem, problem


def test_binder_installs_riffnb_and_a_cpu_torch_within_pyproject_ranges():
    requirements, options = binder_requirements()
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert re.search(r"^\s*(python3?\s+-m\s+)?pip\s+install\b[^\n]*\s\.(\s|$)", post_build, re.MULTILINE), (
        "binder/postBuild must install riffnb itself (pip install .), which installs pyproject.toml's dependencies")
    assert os.access(ROOT / "binder" / "postBuild", os.X_OK), "binder/postBuild must be executable"
    # Without torch here, postBuild's `pip install .` would fetch PyPI's CUDA build: gigabytes Binder cannot hold.
    assert "torch" in requirements, "binder/requirements.txt must install torch (PyTorch's CPU build)"
    assert any(PYTORCH_CPU_INDEX in option for option in options if "index-url" in option), (
        f"binder/requirements.txt must take torch from PyTorch's CPU index: --extra-index-url {PYTORCH_CPU_INDEX}")
    known = all_requirements()
    problems = [range_problem("binder/requirements.txt", name, requirement.specifier, known[name].specifier)
                for name, requirement in requirements.items() if name in known]
    problems = [problem for problem in problems if problem]
    assert not problems, "\n".join(problems)


def test_binder_python_is_within_requires_python_and_environment_yml():
    runtime = (ROOT / "binder" / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-(\d+\.\d+)", runtime)
    assert match, f"binder/runtime.txt must read python-X.Y, not {runtime!r}"
    version = Version(match[1])
    assert requires_python().contains(version), (
        f"binder/runtime.txt: Python {version} is outside pyproject.toml's requires-python {requires_python()}")
    conda, _ = environment_yml()
    assert conda["python"].contains(version), (
        f"binder/runtime.txt: Python {version} is outside environment.yml's python{conda['python']}")


def test_setup_sh_installs_torch_and_accepts_python_as_pyproject_does():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    pins = [Requirement(text) for text in re.findall(r"\btorch[=<>!~][^'\"\s]*", setup)]
    assert pins, "scripts/setup.sh: no torch requirement found"
    torch_range = runtime_requirements()["torch"].specifier
    problems = [range_problem("scripts/setup.sh", "torch", pin.specifier, torch_range) for pin in pins]
    problems = [problem for problem in problems if problem]
    assert not problems, "\n".join(problems)

    cpu_pins = {str(pin.specifier) for pin in pins if "==" in str(pin.specifier)}
    binder_torch = str(binder_requirements()[0]["torch"].specifier)
    assert binder_torch in cpu_pins, (
        f"binder/requirements.txt installs torch{binder_torch}, scripts/setup.sh's CPU build is torch{cpu_pins}: "
        "pin Binder to the CPU build CI tests")

    oldest = re.search(r"sys\.version_info\s*<\s*\((\d+),\s*(\d+)\)", setup)
    assert oldest, "scripts/setup.sh: no check of the Python version found"
    oldest = Version(f"{oldest[1]}.{oldest[2]}")
    allowed = [version for version in boundary_versions(requires_python()) if requires_python().contains(version)]
    assert oldest == min(allowed), (
        f"scripts/setup.sh accepts Python {oldest} and newer, pyproject.toml's requires-python is {requires_python()}")


def test_ipywidgets_is_the_version_this_run_expects():
    import ipywidgets

    version = Version(ipywidgets.__version__)
    expected = runtime_requirements()["ipywidgets"].specifier
    assert expected.contains(version), f"ipywidgets {version} is outside pyproject.toml's ipywidgets{expected}"
    wanted = os.environ.get("RIFFNB_EXPECT_IPYWIDGETS")
    if wanted:
        assert f"{version}.".startswith(f"{wanted}."), (
            f"this run should import ipywidgets {wanted} (RIFFNB_EXPECT_IPYWIDGETS), but imports {version} from "
            f"{ipywidgets.__file__}: is PYTHONPATH={os.environ.get('PYTHONPATH', '')!r} set up by scripts/test.sh?")


# The repository ---------------------------------------------------------------------------------------------------


def notebook_files() -> list[Path]:
    notebooks = ROOT / "notebooks"
    return sorted(notebooks.glob("*.ipynb")) + sorted(notebooks.glob("*.py"))


def link_problems(root: Path, repo: str) -> list[str]:
    """Every link to a repository under ``root`` that is not ``repo``, badges that do not open their own notebook,
    notebooks without a Colab badge, a Binder badge or a REPO_URL."""
    problems = []
    for path in set_repo_url.course_files(root):
        if not path.exists():
            continue
        where = path.relative_to(root)
        found = set_repo_url.references(path.read_text(encoding="utf-8"))
        for reference in found:
            if reference.repo != repo:
                problems.append(f"{where}: {reference.kind} points at {reference.repo}, not {repo}: {reference.text}")
        badges = [reference for reference in found if reference.kind.endswith("badge")]
        if path.parent.name == "notebooks":
            own = f"notebooks/{path.stem}.ipynb"
            problems += [f"{where}: {badge.kind} opens {badge.path}, not the notebook itself ({own})"
                         for badge in badges if badge.path != own]
            kinds = {reference.kind for reference in found}
            problems += [f"{where}: no {kind}" for kind in ("Colab badge", "Binder badge", "REPO_URL") if kind not in kinds]
        else:
            problems += [f"{where}: {badge.kind} opens {badge.path}, which does not exist" for badge in badges
                         if badge.path and not (root / badge.path).exists()]
    return problems


def test_pyproject_names_the_repository():
    url = pyproject()["project"].get("urls", {}).get("Repository", "")
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url), (
        f'pyproject.toml: [project.urls] needs Repository = "https://github.com/OWNER/NAME", not {url!r}')
    assert set_repo_url.repository((ROOT / "pyproject.toml").read_text()) == url.removeprefix("https://github.com/")


def test_every_badge_and_install_cell_points_at_the_repository():
    repo = set_repo_url.repository((ROOT / "pyproject.toml").read_text())
    problems = link_problems(ROOT, repo)
    assert not problems, (f"pyproject.toml's Repository is {repo}; python3 scripts/set_repo_url.py {repo} "
                          "points everything at it:\n" + "\n".join(problems))


def test_set_repo_url_rewrites_pyproject_and_every_link_in_one_go(tmp_path):
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "notebooks").mkdir()
    for path in notebook_files():
        shutil.copy(path, tmp_path / "notebooks" / path.name)

    def pairs_that_match(folder: Path) -> set[str]:
        """The notebooks whose cells equal their jupytext script's (set_repo_url must keep every such pair)."""
        jupytext = pytest.importorskip("jupytext")
        matching = set()
        for path in folder.glob("*.ipynb"):
            if path.with_suffix(".py").exists():
                cells = [(cell["cell_type"], "".join(cell["source"])) for cell in json.loads(path.read_text())["cells"]]
                script = [(cell.cell_type, cell.source) for cell in jupytext.read(path.with_suffix(".py")).cells]
                if cells == script:
                    matching.add(path.name)
        return matching

    def run(*args):
        return subprocess.run([sys.executable, str(ROOT / "scripts" / "set_repo_url.py"), "--root", str(tmp_path), *args],
                              capture_output=True, text=True, timeout=60)

    done = run("octo-cat/music.course")
    assert done.returncode == 0, done.stderr
    assert set_repo_url.repository((tmp_path / "pyproject.toml").read_text()) == "octo-cat/music.course"
    assert not link_problems(tmp_path, "octo-cat/music.course")
    everything = "".join(path.read_text() for path in set_repo_url.course_files(tmp_path) if path.exists())
    assert "OWNER/riffnb" not in everything and set_repo_url.PLACEHOLDER_NOTE not in everything
    broken = pairs_that_match(ROOT / "notebooks") - pairs_that_match(tmp_path / "notebooks")
    assert not broken, f"after the rewrite these notebooks no longer match their jupytext scripts: {sorted(broken)}"

    again = run("octo-cat/music.course")
    assert again.returncode == 0 and "nothing to change" in again.stdout, again.stdout
    refused = run("not a repository")
    assert refused.returncode != 0 and "OWNER/NAME" in refused.stderr

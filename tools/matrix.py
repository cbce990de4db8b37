"""Test each ML-Metadata-free library alone, per Python, on the newest dependencies that resolve.

    uv run --frozen python tools/matrix.py                      # every library x 3.11, 3.12, 3.13
    uv run --frozen python tools/matrix.py --only io --python 3.13
    uv run --frozen python tools/matrix.py --write-docs         # ... and the table in install.md
    uv run --frozen python tools/matrix.py --ci                 # the bounded run tools/check does

For every (library, Python) pair it builds the library's wheel and its headwater siblings' wheels
from this checkout (headwater-io's C extension compiled by that Python), creates a fresh virtual
environment with `uv venv`, installs the wheel, the siblings it needs and its
`[dependency-groups] test` and nothing else: its PyPI dependencies resolve to the newest versions
the index has for that Python (not the workspace's uv.lock). Then it runs
`packages/<name>/tests` with that environment's interpreter. io and data-validation are tested
twice: with their extras, and plain (no Beam, no TensorFlow), where the tests that need an extra
skip. An interpreter this machine lacks is reported as absent and skipped, not failed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import glob
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ROOT / "packages"
INSTALL_MD = ROOT / "docs" / "install.md"
BEGIN, END = "<!-- matrix:begin -->", "<!-- matrix:end -->"

PYTHONS = ("3.11", "3.12", "3.13")
# The libraries that never touch ML Metadata, so nothing caps their TensorFlow or protobuf.
LIBRARIES = (
    "io",
    "data-validation",
    "transform",
    "model-analysis",
    "model-server",
    "infra-validator",
    "pusher",
    "bulk-inferrer",
)
# Also tested without their extras: their plain API must work without Beam and TensorFlow.
PLAIN_TOO = ("io", "data-validation")
# Reported per environment.
KEY_DEPENDENCIES = ("tensorflow", "protobuf", "apache-beam", "tensorflow-metadata", "pyarrow")

# tools/check's bounded run (--ci, see plan()): every test module is collected, these quick ones
# run; they still exercise each library's core (TensorFlow, Beam or the codec where it uses them).
CI_SMOKE = {
    "io": ["test_tfrecord.py", "test_c_abi.py"],
    "data-validation": ["test_schema_inference.py"],
    "transform": ["test_analyze.py"],
    "model-analysis": ["test_validation.py"],
    "model-server": ["test_rest_json.py"],
    "infra-validator": ["test_specs.py"],
    "pusher": ["test_push_model.py"],
    "bulk-inferrer": ["test_bulk_inference.py"],
}


class MatrixError(RuntimeError):
    """A step that could not run (a build or an install), as opposed to a failing test."""


@dataclass
class Result:
    """One library (with or without its extras) on one Python."""

    target: str
    python: str
    status: str = "ok"  # ok | failed | absent | install-failed
    detail: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    packages: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    install_s: float = 0.0
    test_s: float = 0.0
    selection: str = "all"
    codec: str = ""
    file_s: dict[str, float] = field(default_factory=dict)


def _toml(path: Path) -> dict:
    with path.open("rb") as f:
        return tomllib.load(f)


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, text=True, capture_output=True, check=False, **kw)
    if done.returncode:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise MatrixError(f"{' '.join(cmd[:4])} ... failed ({done.returncode}):\n{tail}")
    return done


def find_python(version: str) -> str | None:
    """An interpreter of `version` on this machine (never downloaded), or None."""
    env = os.environ.get(f"HEADWATER_PYTHON_{version.replace('.', '_')}")
    candidates = [env] if env else []
    candidates += sorted(
        glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}"))
    )
    candidates += [f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    found = shutil.which(f"python{version}")
    if found:
        candidates.append(found)
    for cand in candidates:
        if not cand or not os.path.exists(cand):
            continue
        probe = subprocess.run(
            [cand, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            text=True,
            capture_output=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return cand
    return None


def _project(name: str) -> dict:
    return _toml(PACKAGES / name / "pyproject.toml")


def _extras(name: str) -> list[str]:
    return sorted(_project(name)["project"].get("optional-dependencies", {}))


def _test_group(name: str) -> list[str]:
    group = _toml(PACKAGES / name / "pyproject.toml").get("dependency-groups", {}).get("test")
    if group is None:
        raise MatrixError(f"packages/{name}/pyproject.toml: no [dependency-groups] test")
    return [r for r in group if isinstance(r, str)]


_SIBLING = re.compile(r"headwater-([a-z-]+?)(?:\[([^\]]*)\])?\s*(?:[=<>!~;]|$)")


def siblings(name: str, extras: list[str]) -> set[str]:
    """The headwater packages `name[extras]` needs, itself excluded (transitively)."""
    seen: set[tuple[str, str]] = set()
    todo = [(name, e) for e in ["", *extras]]
    needed: set[str] = set()
    while todo:
        pkg, extra = todo.pop()
        if (pkg, extra) in seen:
            continue
        seen.add((pkg, extra))
        project = _project(pkg)["project"]
        reqs = (
            project.get("dependencies", [])
            if not extra
            else project["optional-dependencies"][extra]
        )
        for req in reqs:
            m = _SIBLING.match(req)
            if m and (PACKAGES / m.group(1)).is_dir():
                needed.add(m.group(1))
                todo += [(m.group(1), e.strip()) for e in ["", *(m.group(2) or "").split(",")]]
    needed.discard(name)
    return needed


def _build_one(python: str, out: Path, name: str) -> Path:
    src = PACKAGES / name
    out.mkdir(parents=True, exist_ok=True)
    if name == "io":
        # A private copy: no in-place _wire*.so from the workspace's editable install and no
        # build/ left by another build, so the extension in the wheel is this Python's.
        src = out / "io-src"
        shutil.rmtree(src, ignore_errors=True)
        shutil.copytree(
            PACKAGES / "io",
            src,
            ignore=shutil.ignore_patterns("build", "*.so", "__pycache__", "*.egg-info"),
        )
    cmd = ["uv", "build", "--no-config", "--wheel", "--quiet", "--python", python]
    _run([*cmd, "--out-dir", str(out), str(src)])
    (wheel,) = out.glob("*.whl")
    return wheel


def build_wheels(python: str, out: Path, names: set[str]) -> dict[str, Path]:
    """Wheels of `names` built from this checkout by `python` (io from a clean copy), four
    builds at a time (each mostly waits on setting up its isolated build environment)."""
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = {n: pool.submit(_build_one, python, out / n, n) for n in sorted(names)}
        return {n: f.result() for n, f in futures.items()}


def io_wheel_problem(wheel: Path) -> str:
    """Why headwater-io's wheel lacks its stable-ABI extension ('' when it has it)."""
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    if "-cp311-abi3-" not in wheel.name:
        return f"{wheel.name}: expected a cp311-abi3 wheel"
    if not any(re.fullmatch(r"headwater/io/_wire\.abi3\.so", n) for n in names):
        return f"{wheel.name}: no headwater/io/_wire.abi3.so inside"
    return ""


def _junit_counts(path: Path) -> tuple[int, int, int, dict[str, float]]:
    """(passed, failed or errored, skipped, seconds per test file) of a junit report."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    per_file: dict[str, float] = {}
    for case in root.iter("testcase"):
        module = case.get("classname", "").split(".")
        name = next((m for m in reversed(module) if m.startswith("test_")), ".".join(module))
        per_file[name] = per_file.get(name, 0.0) + float(case.get("time", 0) or 0)
    return tests - failed - skipped, failed, skipped, per_file


def run_env(
    label: str,
    members: list[tuple[str, list[str]]],
    python: str,
    wheels: dict[str, Path],
    work: Path,
    tests: list[str],
    selection: str,
    marker: str = "",
    keyword: str = "",
) -> Result:
    """A fresh venv holding `members` (library, extras), their siblings and test groups only;
    `tests` (paths under the repository root) run in it."""
    version = _run([python, "-c", "import platform; print(platform.python_version())"]).stdout
    result = Result(target=label, python=version.strip(), selection=selection)
    # One path for every environment of a Python, made afresh each time: the bytecode written
    # beside it (below) then serves the next environment's identical files (uv hardlinks them
    # from its cache, so their mtimes, which validate the bytecode, are the same).
    venv = work / "env"
    vpy = venv / "bin" / "python"
    t0 = time.monotonic()
    try:
        _run(["uv", "venv", "--no-config", "--quiet", "--python", python, str(venv)])
        reqs, sibs = [], set()
        for name, extras in members:
            extra_spec = f"[{','.join(extras)}]" if extras else ""
            reqs.append(f"headwater-{name}{extra_spec} @ {wheels[name].as_uri()}")
            reqs += _test_group(name)
            sibs |= siblings(name, extras)
        names = {name for name, _ in members}
        reqs += [f"headwater-{s} @ {wheels[s].as_uri()}" for s in sorted(sibs - names)]
        # --no-config: not the workspace's [tool.uv] (its compile-bytecode would byte-compile all
        # of TensorFlow on every install). uv caches wheels by name and version: ours are
        # rebuilt under the same version, hence the refresh.
        refresh = [a for s in LIBRARIES for a in ("--refresh-package", f"headwater-{s}")]
        _run(
            [
                "uv",
                "pip",
                "install",
                "--no-config",
                "--quiet",
                "--python",
                str(vpy),
                *refresh,
                *reqs,
            ]
        )
        listed = _run(
            ["uv", "pip", "list", "--no-config", "--python", str(vpy), "--format", "json"]
        ).stdout
        installed = {p["name"].lower(): p["version"] for p in json.loads(listed)}
        result.versions = {k: installed[k] for k in KEY_DEPENDENCIES if k in installed}
        result.packages = len(installed)
        codec = _run(
            [str(vpy), "-c", "from headwater.io import example_wire as w; print(w.COMPILED)"]
        )
        result.codec = "C" if codec.stdout.strip() == "True" else "pure Python"
    except MatrixError as exc:
        result.status, result.detail = "install-failed", str(exc)
        return result
    finally:
        result.install_s = time.monotonic() - t0
    junit = venv / "junit.xml"
    env = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE")
    }
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        HYPOTHESIS_PROFILE="ci",
        # Bytecode of what the tests import, written once per run and Python (TensorFlow then
        # imports ~3x faster), outside the checkout.
        PYTHONPYCACHEPREFIX=str(work.parent / f"pycache-{work.name}"),
    )
    cmd = [str(vpy), "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider"]
    cmd += ["--junitxml", str(junit)]
    if marker:
        cmd += ["-m", marker]
    if keyword:
        # tools/matrix_select.py: collect every module, run only these (-k would match names).
        cmd += ["-p", "matrix_select"]
        env["HEADWATER_MATRIX_RUN"] = keyword
        env["PYTHONPATH"] = str(ROOT / "tools")
    t1 = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT, env=env, text=True, capture_output=True, check=False)
    result.test_s = time.monotonic() - t1
    if junit.exists():
        result.passed, result.failed, result.skipped, result.file_s = _junit_counts(junit)
    # 5: nothing collected (a selection that leaves no test in this library) is not a failure.
    if done.returncode not in (0, 5) or result.failed:
        result.status = "failed"
        lines = (done.stdout + done.stderr).strip().splitlines()
        summary = [ln for ln in lines if ln.startswith(("FAILED", "ERROR", "E  "))]
        result.detail = "\n".join((summary or lines)[-30:] + lines[-1:])
    return result


def targets(only: list[str]) -> list[str]:
    """Each library with every extra, and io / data-validation also plain."""
    out = []
    for name in LIBRARIES:
        if only and name not in only:
            continue
        extras = _extras(name)
        out.append(f"{name}[{','.join(extras)}]" if extras else name)
        if extras and name in PLAIN_TOO:
            out.append(name)
    return out


def _parse_target(target: str) -> tuple[str, list[str]]:
    name, _, extra_part = target.partition("[")
    return name, [e for e in extra_part.rstrip("]").split(",") if e]


Env = tuple[str, list[tuple[str, list[str]]], list[str], str]


def plan(only: list[str], first: bool, ci: bool) -> list[Env]:
    """(label, members, test directories, modules to run or "") of each environment on a Python.

    Full run: every target alone, all its tests. --ci: on the first Python every target alone,
    on a later one a single environment holding every library with its extras; either way every
    test module is collected (imported: a test needing what the environment lacks fails there)
    and only the CI_SMOKE modules run.
    """
    envs: list[Env] = []
    chosen = [_parse_target(t) for t in targets(only)]
    for name, extras in chosen:
        label = f"{name}[{','.join(extras)}]" if extras else name
        if not ci or first:
            keyword = ",".join(Path(f).stem for f in CI_SMOKE[name]) if ci else ""
            envs.append((label, [(name, extras)], [f"packages/{name}/tests"], keyword))
    if ci and not first:
        members = [(n, e) for n, e in chosen if e or n not in PLAIN_TOO]
        label = "together: " + ", ".join(n for n, _ in members)
        keyword = ",".join(Path(f).stem for n, _ in members for f in CI_SMOKE[n])
        envs.append((label, members, [f"packages/{n}/tests" for n, _ in members], keyword))
    return envs


def markdown(results: list[Result], mode: str, seconds: float, runs: int = 1) -> str:
    """The compatibility table written into docs/install.md."""
    today = datetime.date.today().isoformat()
    machine = f"{platform.machine()} Linux, {os.cpu_count()} cores"
    lines = [
        (f"Rows of {runs} runs merged" if runs > 1 else "Generated")
        + f" by `tools/matrix.py{' ' + mode if mode else ''}` on {today} ({machine},"
        f" {seconds:.0f} s).",
        "Each row is a fresh environment holding only that library, its headwater siblings and its",
        "test group, resolved from the package index for that Python; `tests` are its own tests",
        "(passed / failed / skipped). The io wheel in each row was built by that row's Python.",
        "",
        "| library | Python | TensorFlow | protobuf | Beam | tf-metadata | pyarrow | packages"
        " | io codec | tests | seconds (install + tests) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def order(r: Result) -> tuple[int, bool, str]:
        name = r.target.partition("[")[0]
        rank = LIBRARIES.index(name) if name in LIBRARIES else len(LIBRARIES)
        return rank, "[" not in r.target, r.python

    for r in sorted(results, key=order):
        if r.status in ("absent", "not run"):
            why = "interpreter absent: skipped" if r.status == "absent" else "not run"
            lines.append(f"| {r.target} | {r.python} | {why} |" + " |" * 8)
            continue
        v = r.versions
        tests = (
            "install failed"
            if r.status == "install-failed"
            else f"{r.passed} / {r.failed} / {r.skipped}"
            + ("" if r.selection == "all" else f" ({r.selection})")
        )
        lines.append(
            f"| {r.target} | {r.python} | {v.get('tensorflow', '-')} | {v.get('protobuf', '-')}"
            f" | {v.get('apache-beam', '-')} | {v.get('tensorflow-metadata', '-')}"
            f" | {v.get('pyarrow', '-')} | {r.packages} | {r.codec or '-'} | {tests}"
            f" | {r.install_s:.0f} + {r.test_s:.0f} |"
        )
    return "\n".join(lines)


def write_docs(table: str) -> None:
    """Replace the generated block of docs/install.md with `table`."""
    text = INSTALL_MD.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise MatrixError(f"{INSTALL_MD}: expected the {BEGIN} ... {END} markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    INSTALL_MD.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Run the matrix; 0 when every present interpreter built, installed and passed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", default=",".join(PYTHONS), help="comma-separated versions")
    parser.add_argument("--only", default="", help="comma-separated package directories")
    parser.add_argument(
        "--ci",
        action="store_true",
        help="bounded (tools/check): each library alone on the first Python (plain io and"
        " data-validation with all tests, the rest CI_SMOKE), all together on the others",
    )
    parser.add_argument("-m", dest="marker", default="", help="pytest -m for every Python")
    parser.add_argument("--write-docs", action="store_true", help="write the table into install.md")
    parser.add_argument("--json", help="also write the results as JSON here (after each row)")
    parser.add_argument(
        "--from-json",
        nargs="+",
        metavar="FILE",
        help="run nothing: the table (and --write-docs) from earlier --json files",
    )
    args = parser.parse_args(argv)
    if args.from_json:
        # A later file's row replaces an earlier one of the same library and Python (a rerun).
        latest = {
            (r["target"], r["python"][:4]): Result(**r)
            for f in args.from_json
            for r in json.loads(Path(f).read_text())
        }
        rows = list(latest.values())
        ran = set(latest)
        rows += [
            Result(target=t, python=v, status="not run")
            for v in args.python.split(",")
            for t in targets([s for s in args.only.split(",") if s])
            if (t, v) not in ran
        ]
        seconds = sum(r.install_s + r.test_s for r in rows)
        table = markdown(rows, "--from-json", seconds, runs=len(args.from_json))
        print(table)
        if args.write_docs:
            write_docs(table)
        return 0
    versions = [v for v in args.python.split(",") if v]
    only = [s for s in args.only.split(",") if s]
    unknown = [s for s in only if s not in LIBRARIES]
    if unknown:
        parser.error(f"--only: {unknown} are not among {LIBRARIES}")
    start = time.monotonic()
    results: list[Result] = []
    names = {t.partition("[")[0] for t in targets(only)}
    needed = names | {s for n in names for s in siblings(n, _extras(n))}
    with tempfile.TemporaryDirectory(prefix="headwater-matrix-") as tmp:
        work = Path(tmp)
        pure: dict[str, Path] = {}
        first = True  # the first Python present (the per-library environments of --ci)
        for version in versions:
            python = find_python(version)
            if python is None:
                print(f"python {version}: interpreter absent on this machine, skipped")
                results += [
                    Result(target=t, python=version, status="absent") for t in targets(only)
                ]
                continue
            t0 = time.monotonic()
            try:
                if not pure:
                    pure = build_wheels(python, work / "wheels", needed - {"io"})
                wheels = dict(pure)
                if "io" in needed:
                    wheels.update(build_wheels(python, work / f"io-{version}", {"io"}))
                    problem = io_wheel_problem(wheels["io"])
                    if problem:
                        raise MatrixError(problem)
            except MatrixError as exc:
                print(f"python {version}: build failed: {exc}")
                results += [
                    Result(target=t, python=version, status="install-failed", detail=str(exc))
                    for t in targets(only)
                ]
                continue
            print(f"python {version} ({python}): wheels built in {time.monotonic() - t0:.0f} s")
            envs, first = plan(only, first, args.ci), False
            for label, members, tests, keyword in envs:
                given = [
                    f"-m '{args.marker}'" if args.marker else "",
                    f"run: {keyword}" * bool(keyword),
                ]
                selection = " ".join(g for g in given if g) or "all"
                r = run_env(
                    label,
                    members,
                    python,
                    wheels,
                    work / version,
                    tests,
                    selection,
                    args.marker,
                    keyword,
                )
                results.append(r)
                if args.json:
                    Path(args.json).write_text(json.dumps([asdict(x) for x in results], indent=1))
                key = ", ".join(f"{k} {v}" for k, v in r.versions.items())
                print(
                    f"  {label:34} {r.python:7} {r.status:8} {r.passed:4} passed {r.failed:3}"
                    f" failed {r.skipped:3} skipped  install {r.install_s:4.0f} s"
                    f"  tests {r.test_s:4.0f} s  [{key}; {r.packages} packages; codec {r.codec}]",
                    flush=True,
                )
                if r.detail:
                    print("    " + r.detail.replace("\n", "\n    "), flush=True)
                # rm is much faster than shutil.rmtree on a TensorFlow environment.
                subprocess.run(["rm", "-rf", str(work / version)], check=False)
    seconds = time.monotonic() - start
    mode = " ".join(
        x for x in ("--ci" if args.ci else "", f"-m '{args.marker}'" if args.marker else "") if x
    )
    table = markdown(results, mode.strip(), seconds)
    print(table)
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=1))
    if args.write_docs:
        write_docs(table)
    bad = [r for r in results if r.status in ("failed", "install-failed")]
    print(f"matrix: {len(results) - len(bad)} of {len(results)} rows fine in {seconds:.0f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    # Stopped (CI's timeout, Ctrl-C): leave through the cleanup of the temporary environments.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())

"""The C codec's sources stay loadable as one cp311-abi3 wheel, whichever CPython compiles it."""

import re
from pathlib import Path

SOURCES = sorted((Path(__file__).parent.parent / "src" / "headwater" / "io").glob("_wire*.c"))

# A format string passed to one of CPython's variadic argument parsers / value builders.
_FORMAT_CALL = re.compile(
    r"\b(Py_BuildValue|PyArg_Parse\w*|PyObject_Call(?:Function|Method)\w*)\s*\("
    r"(?:[^;\"]*?,\s*)?\"([^\"]*)\""
)


def test_no_length_format_in_variadic_calls():
    # CPython 3.13's headers link Py_BuildValue / PyArg_ParseTuple to their plain symbols even
    # under Py_LIMITED_API=3.11; on a 3.11 or 3.12 interpreter those are the int-length variants,
    # which raise "PY_SSIZE_T_CLEAN macro must be defined for '#' formats". So a '#' format makes
    # a wheel built by 3.13 fail on older Pythons (seen: unframe's "(y#y#nN)").
    calls = [
        (src.name, m.group(1), m.group(2))
        for src in SOURCES
        for m in _FORMAT_CALL.finditer(src.read_text())
    ]
    assert len(SOURCES) >= 6, SOURCES
    assert len(calls) >= 10, calls
    assert [c for c in calls if "#" in c[2]] == []

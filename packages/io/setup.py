"""Build the tf.Example / TFRecord wire codec, a small C extension (metadata is in pyproject).

The extension uses only CPython's stable ABI (3.11), so one `cp311-abi3` wheel serves every
CPython from 3.11 on. It is optional: without a compiler the build still succeeds and
headwater.io runs on its pure-Python codec (slower; it logs a warning once).
HEADWATER_IO_NO_EXTENSION=1 skips the extension on purpose (to build or test the fallback).
"""

import os

from setuptools import Extension, setup

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1 ships it in the wheel package
    from wheel.bdist_wheel import bdist_wheel  # type: ignore[no-redef,unused-ignore]


class _Abi3Wheel(bdist_wheel):
    """Tag the wheel cp311-abi3: the extension is built against the 3.11 stable ABI."""

    def finalize_options(self) -> None:
        if getattr(self, "py_limited_api", False) is False and not os.environ.get(
            "HEADWATER_IO_NO_EXTENSION"
        ):
            self.py_limited_api = "cp311"
        super().finalize_options()


_EXTENSIONS = [
    Extension(
        "headwater.io._wire",
        sources=[
            "src/headwater/io/_wire.c",
            "src/headwater/io/_wire_crc.c",
            "src/headwater/io/_wire_decode.c",
            "src/headwater/io/_wire_encode.c",
            "src/headwater/io/_wire_hash.c",
            "src/headwater/io/_wire_spans.c",
        ],
        depends=["src/headwater/io/_wire.h"],
        define_macros=[("Py_LIMITED_API", "0x030B0000")],
        py_limited_api=True,
        optional=True,
        extra_compile_args=["-O3", "-std=c99", "-Wall", "-pthread", "-fvisibility=hidden"],
        extra_link_args=["-pthread"],
    )
]

setup(
    ext_modules=[] if os.environ.get("HEADWATER_IO_NO_EXTENSION") else _EXTENSIONS,
    cmdclass={"bdist_wheel": _Abi3Wheel},
)

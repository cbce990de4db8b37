"""Build the tf.Example / TFRecord wire codec, a small C extension (metadata is in pyproject)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "headwater.io._wire",
            sources=["src/headwater/io/_wire.c"],
            extra_compile_args=["-O3", "-std=c99", "-Wall", "-pthread"],
            extra_link_args=["-pthread"],
        )
    ]
)

"""Build the tf.Example / TFRecord wire codec, a small C extension (metadata is in pyproject)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
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
            extra_compile_args=["-O3", "-std=c99", "-Wall", "-pthread", "-fvisibility=hidden"],
            extra_link_args=["-pthread"],
        )
    ]
)

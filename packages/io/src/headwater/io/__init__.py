"""Examples in and out as Arrow: CSV, Parquet, TFRecord of tf.Example, Beam sources and sinks."""

__all__: list[str] = []

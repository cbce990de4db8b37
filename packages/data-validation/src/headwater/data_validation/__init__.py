"""Dataset statistics, schema inference, anomalies, drift and skew, without TensorFlow."""

__all__: list[str] = []

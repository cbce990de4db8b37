"""Full-pass feature engineering saved as one TensorFlow graph for training and serving."""

__all__: list[str] = []

"""A TensorFlow Serving compatible model server."""

__all__: list[str] = []

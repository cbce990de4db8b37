"""Pipelines, ML Metadata, caching, runners and the standard components."""

__all__: list[str] = []

"""Canary a model on a real model server before it is pushed."""

__all__: list[str] = []

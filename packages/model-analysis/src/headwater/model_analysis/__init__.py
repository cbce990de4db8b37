"""Sliced model metrics, validation against a baseline and blessings."""

__all__: list[str] = []

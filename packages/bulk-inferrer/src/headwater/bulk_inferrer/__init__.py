"""Batch inference over examples into PredictionLog records."""

__all__: list[str] = []

"""Push blessed models into serving layouts, TFLite and TF.js."""

__all__: list[str] = []

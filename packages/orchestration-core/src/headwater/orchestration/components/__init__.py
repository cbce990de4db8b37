"""The standard components, one per module; re-exported from `headwater.orchestration`."""

"""Train and eval arguments of the Trainer and Tuner (TFX's `TrainArgs` / `EvalArgs` fields)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class TrainArgs:
    """Which splits to train on and for how many steps."""

    splits: tuple[str, ...] = ("train",)
    num_steps: int | None = None
    """Training steps passed to `run_fn` as `fn_args.train_steps`."""

    def __post_init__(self) -> None:
        _check(self.splits, self.num_steps, "TrainArgs")


@dataclass(frozen=True, kw_only=True)
class EvalArgs:
    """Which splits to evaluate on and for how many steps."""

    splits: tuple[str, ...] = ("eval",)
    num_steps: int | None = None
    """Evaluation steps passed to `run_fn` as `fn_args.eval_steps`."""

    def __post_init__(self) -> None:
        _check(self.splits, self.num_steps, "EvalArgs")


def _check(splits: tuple[str, ...], num_steps: int | None, what: str) -> None:
    if isinstance(splits, str) or not splits:
        raise ValueError(f"{what}.splits must be a non-empty tuple of split names, got {splits!r}")
    if num_steps is not None and num_steps < 1:
        raise ValueError(f"{what}.num_steps must be None or >= 1, got {num_steps!r}")

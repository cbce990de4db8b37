"""What a TFX name that Headwater lacks does: raise an error naming it, and the status table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from headwater.io import HeadwaterError
from headwater.orchestration.tfx_v1._catalog import CATALOG, NOT_YET


class NotImplementedInHeadwaterError(HeadwaterError, NotImplementedError):
    """A TFX v1 name (or one of its arguments) that Headwater does not implement yet."""


def not_implemented(what: str, why: str = "") -> NotImplementedInHeadwaterError:
    """The error for `what` (e.g. `tfx.dsl.Cond`): it is not implemented in Headwater."""
    reason = f": {why}" if why else ""
    return NotImplementedInHeadwaterError(
        f"{what} is not implemented in Headwater{reason} (see docs/migrating_from_tfx.md)"
    )


def module_getattr(module: str) -> Callable[[str], Any]:
    """A module `__getattr__` raising NotImplementedInHeadwaterError for TFX's missing names."""
    entries = CATALOG[module]

    def __getattr__(name: str) -> Any:
        entry = entries.get(name)
        if entry is not None and entry.status == NOT_YET:
            raise not_implemented(f"{_tfx_name(module)}.{name}", entry.note)
        raise AttributeError(f"module {_tfx_name(module)!r} (Headwater) has no attribute {name!r}")

    return __getattr__


def implemented_names(module: str) -> list[str]:
    """The TFX v1 names of `module` that Headwater implements (the module's `__all__`)."""
    return sorted(name for name, entry in CATALOG[module].items() if entry.status != NOT_YET)


def module_dir(module: str, namespace: dict[str, Any]) -> Callable[[], list[str]]:
    """A module `__dir__` listing its own names and every TFX name, implemented or not."""

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(CATALOG[module]))

    return __dir__


def _tfx_name(module: str) -> str:
    return f"tfx.v1.{module}" if module else "tfx.v1"

"""Load a user's `run_fn` / `tuner_fn` from a module file and call it, blaming the right line.

The module file's folder is importable while its code runs, as TFX's packaged user code is
(TFX ships every `.py` beside the module file), so `penguin_utils_keras.py` can
`import penguin_utils_base`. When the user's code raises, the error the component fails with
starts with the frames of the user's own files (every `.py` in that folder: path, line,
source), then the exception, so the cause is the first thing the runner shows instead of the
component's plumbing.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Callable
from types import ModuleType
from typing import Any

from headwater.io import HeadwaterError


class UserCodeError(HeadwaterError, RuntimeError):
    """A user's module file failed to load, lacks the function, or the function raised."""


def load_user_fn(
    module_file: str | None, fn_name: str, fn_path: str | None = None
) -> Callable[..., Any]:
    """`fn_name` from `module_file` (a .py path), or the function at dotted `fn_path`."""
    if fn_path:
        module_name, _, attr = fn_path.rpartition(".")
        if not module_name:
            raise ValueError(
                f"{fn_name} {fn_path!r} must be a dotted path 'package.module.function'"
            )
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise UserCodeError(
                _describe(exc, f"importing {module_name!r} for {fn_name}", None)
            ) from exc
        return _get_fn(module, attr, fn_path)
    if not module_file:
        raise ValueError(f"give a module_file defining {fn_name}(fn_args), or a dotted path to it")
    path = os.path.abspath(module_file)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"module_file {module_file!r} does not exist")
    digest = hashlib.sha1(path.encode()).hexdigest()[:12]
    name = f"headwater_user_module_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UserCodeError(f"module_file {path} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    _make_folder_importable(os.path.dirname(path))
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise UserCodeError(_describe(exc, f"loading module_file {path}", path)) from exc
    _pickle_by_value(module)
    for sibling in _siblings_loaded(os.path.dirname(path)):
        _pickle_by_value(sibling)  # e.g. `preprocessing_fn = base.preprocessing_fn`
    return _get_fn(module, fn_name, path)


def _siblings_loaded(folder: str) -> list[ModuleType]:
    """Modules imported by name from the module file's folder (its siblings), loaded now."""
    return [
        mod
        for mod_name, mod in list(sys.modules.items())
        if getattr(mod, "__file__", None)
        and os.path.abspath(mod.__file__ or "") == os.path.join(folder, f"{mod_name}.py")
    ]


_PENDING_BY_VALUE: list[ModuleType] = []
"""User modules to register with Beam's pickler once Beam is loaded (register_with_beam)."""


def _pickle_by_value(module: ModuleType) -> None:
    """Ship the module file's functions to Beam workers by value: a worker in another process
    or on another host cannot import the driver's module file (see docs/scaling.md).

    Registered now if Beam's pickler is loaded, else when a Beam pipeline is built
    (`register_with_beam`): importing Beam costs about 1 s, which a component whose input is
    small enough for its in-memory path (or the Trainer) never needs to pay."""
    _PENDING_BY_VALUE.append(module)
    if _BEAM_PICKLER in sys.modules:
        register_with_beam()


_BEAM_PICKLER = "apache_beam.internal.cloudpickle.cloudpickle"


def register_with_beam() -> None:
    """Register the user modules loaded so far to pickle by value with Beam's cloudpickle."""
    if not _PENDING_BY_VALUE:
        return
    from apache_beam.internal.cloudpickle import cloudpickle

    while _PENDING_BY_VALUE:
        module = _PENDING_BY_VALUE.pop(0)
        if sys.modules.get(module.__name__) is module:  # not since reloaded or dropped
            cloudpickle.register_pickle_by_value(module)


def _make_folder_importable(folder: str) -> None:
    """Put the module file's folder first on sys.path and forget modules loaded from it before.

    Its sibling modules are then imported by name, fresh from their current files (an edited
    sibling is not answered from an earlier load in this process). The folder stays on
    sys.path, as TFX's installed user-code package does, for imports made later while the
    user's functions run.
    """
    if folder in sys.path:
        sys.path.remove(folder)
    sys.path.insert(0, folder)
    importlib.invalidate_caches()
    for mod_name, mod in list(sys.modules.items()):
        mod_file = getattr(mod, "__file__", None)
        if mod_file and os.path.abspath(mod_file) == os.path.join(folder, f"{mod_name}.py"):
            del sys.modules[mod_name]  # a sibling imported by its name


def call_user_fn(fn: Callable[..., Any], *args: Any) -> Any:
    """Call `fn(*args)`; if it raises, a UserCodeError led by the user's own frames."""
    try:
        return fn(*args)
    except Exception as exc:
        where = getattr(fn, "__code__", None)
        user_file = where.co_filename if where is not None else None
        raise UserCodeError(_describe(exc, f"{fn.__name__} raised", user_file)) from exc


def user_code_error(exc: BaseException, what: str, user_file: str | None) -> UserCodeError:
    """A UserCodeError saying `what` failed at the user's file:line, with the user's frames."""
    path = os.path.abspath(user_file) if user_file else None
    return UserCodeError(_describe(exc, what, path))


def _get_fn(module: Any, attr: str, where: str) -> Callable[..., Any]:
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise UserCodeError(f"{where} defines no function {attr!r}")
    return fn


def _describe(exc: BaseException, what: str, user_file: str | None) -> str:
    """`what` at the user's file:line, the user's frames (all when none match), then the error.

    The user's frames are those in any `.py` file of `user_file`'s folder (its siblings too).
    """
    frames = list(traceback.extract_tb(exc.__traceback__))
    if isinstance(exc, SyntaxError) and exc.filename:
        frames.append(
            traceback.FrameSummary(exc.filename, exc.lineno or 0, "<module>", line=exc.text or "")
        )
    folder = os.path.dirname(os.path.abspath(user_file)) if user_file else None
    user_frames = [
        f
        for f in frames
        if folder
        and f.filename.endswith(".py")
        and os.path.dirname(os.path.abspath(f.filename)) == folder
    ]
    shown = user_frames or frames
    error = traceback.format_exception_only(type(exc), exc)[-1].strip()
    where = f" at {shown[-1].filename}:{shown[-1].lineno}" if shown else ""
    stack = "".join(traceback.StackSummary.from_list(shown).format())
    return f"{what}{where}: {error}\nTraceback (user code):\n{stack}{error}"

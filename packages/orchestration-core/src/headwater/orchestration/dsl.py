"""The component DSL: typed functions become components, calls become pipeline nodes.

    @component
    def Trainer(examples: InputArtifact[Examples], model: OutputArtifact[Model],
                epochs: Parameter[int] = 10) -> None: ...

    trainer = Trainer(examples=example_gen.outputs["examples"], epochs=5)

Wiring mistakes (unknown parameter, wrong artifact type, missing required input) raise
`WiringError` at the call, naming the component and the field.
"""

from __future__ import annotations

import ast
import builtins
import collections.abc
import functools
import hashlib
import importlib.metadata
import inspect
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar, Union

from headwater.orchestration.artifacts import Artifact
from headwater.orchestration.errors import WiringError

T = TypeVar("T")


class _Role:
    """Marker put in `Annotated[...]` metadata to say what a function parameter is."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


_INPUT = _Role("input artifact")
_OUTPUT = _Role("output artifact")
_PARAMETER = _Role("parameter")

InputArtifact = Annotated[T, _INPUT]
"""An input artifact of type T; `InputArtifact[T] | None = None` makes it optional."""
OutputArtifact = Annotated[T, _OUTPUT]
"""An output artifact of type T, written under its (temporary) `uri`."""
Parameter = Annotated[T, _PARAMETER]
"""A parameter (JSON-serializable value, dataclass, or callable) recorded in ML Metadata."""


@dataclass(frozen=True)
class InputSpec:
    """A declared input: artifact type and whether it may be left out."""

    type: type[Artifact]
    optional: bool


@dataclass(frozen=True)
class ParameterSpec:
    """A declared parameter: its annotation and default (`required` if it has none)."""

    annotation: Any
    default: Any
    required: bool


@dataclass
class ComponentSpec:
    """What a component declares: inputs, outputs, parameters and the function to run."""

    name: str
    fn: Callable[..., Any]
    inputs: dict[str, InputSpec] = field(default_factory=dict)
    outputs: dict[str, type[Artifact]] = field(default_factory=dict)
    parameters: dict[str, ParameterSpec] = field(default_factory=dict)
    fingerprint: Callable[[Mapping[str, Any]], str] | None = None
    """Fingerprint of external inputs (files a component reads), part of the cache key."""
    format_version: int = 1
    """Version of what the component writes; bump it when its output format changes."""
    distributions: tuple[str, ...] = ()
    """Distributions whose installed versions key the cache, beyond those found by import."""

    @functools.cached_property
    def _source(self) -> bytes | None:
        try:
            path = inspect.getsourcefile(self.fn)
        except TypeError:
            path = None
        if not path:
            return None
        with open(path, "rb") as f:
            return f.read()

    @functools.cached_property
    def code_fingerprint(self) -> str:
        """sha256 of the source file defining the function (user code changes bust the cache)."""
        digest = hashlib.sha256(f"{self.fn.__module__}.{self.fn.__qualname__}".encode())
        if self._source is not None:
            digest.update(self._source)
        return digest.hexdigest()

    @functools.cached_property
    def implementation_distributions(self) -> tuple[str, ...]:
        """Distributions that implement the component: `distributions`, plus the headwater one
        of the defining module and of every `headwater.<lib>` its source file imports."""
        found = set(self.distributions)
        found |= headwater_distributions(self.fn.__module__, self._source)
        return tuple(sorted(found))

    def implementation_version(self) -> dict[str, Any]:
        """`format_version` and the installed version of each implementing distribution.

        Part of the cache key: an upgraded library (or a bumped format) never reuses an output
        an older implementation wrote. A distribution that is not installed reads None.
        """
        versions: dict[str, str | None] = {}
        for name in self.implementation_distributions:
            try:
                versions[name] = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                versions[name] = None
        return {"format_version": self.format_version, "distributions": versions}


_DISTRIBUTION_OF_LIBRARY = {"orchestration": "headwater-orchestration-core"}
"""`headwater.<lib>` imports whose distribution is not `headwater-<lib>` (dashes for `_`)."""


def headwater_distributions(module: str, source: bytes | None) -> set[str]:
    """`headwater-*` distributions of `module` and of the `headwater.<lib>` imports in `source`.

    Imports inside functions count too (components import their library lazily).
    """
    modules = {module}
    if source is not None:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            tree = ast.Module(body=[], type_ignores=[])
        for statement in ast.walk(tree):
            if isinstance(statement, ast.Import):
                modules.update(alias.name for alias in statement.names)
            elif isinstance(statement, ast.ImportFrom) and statement.module and not statement.level:
                modules.add(statement.module)
                if statement.module == "headwater":
                    modules.update(f"headwater.{alias.name}" for alias in statement.names)
    found = set()
    for name in modules:
        parts = name.split(".")
        if len(parts) >= 2 and parts[0] == "headwater":
            lib = parts[1]
            found.add(_DISTRIBUTION_OF_LIBRARY.get(lib, "headwater-" + lib.replace("_", "-")))
    return found


class Channel:
    """A typed stream of artifacts: a node's output, or (unbound) every artifact of a type."""

    def __init__(self, type: type[Artifact], producer: Node | None = None, key: str = "") -> None:
        if not (isinstance(type, builtins.type) and issubclass(type, Artifact)):
            raise WiringError(f"Channel type must be an Artifact class, got {type!r}")
        self.type = type
        self.producer = producer
        self.key = key

    def future(self) -> Any:
        """This channel's artifacts at run time, for a TFX `Cond` predicate (tfx_v1.dsl.Cond)."""
        from headwater.orchestration.tfx_v1.dsl._conditions import ChannelFuture

        return ChannelFuture(self)

    def __repr__(self) -> str:
        if self.producer is None:
            return f"Channel(type={self.type.TYPE_NAME})"
        return f"{self.producer.id}.outputs[{self.key!r}] ({self.type.TYPE_NAME})"


class OutputChannels(Mapping[str, Channel]):
    """A node's outputs: `node.outputs["examples"]` or `node.outputs.examples`."""

    def __init__(self, node: Node, channels: dict[str, Channel]) -> None:
        self._node = node
        self._channels = channels

    def __getitem__(self, key: str) -> Channel:
        try:
            return self._channels[key]
        except KeyError:
            raise KeyError(
                f"{self._node.id} has no output {key!r} (outputs: {sorted(self._channels)})"
            ) from None

    def __getattr__(self, key: str) -> Channel:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError as exc:
            raise AttributeError(str(exc)) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._channels)

    def __len__(self) -> int:
        return len(self._channels)


class Node:
    """One node of a pipeline: a component (or importer / resolver) bound to its inputs."""

    def __init__(
        self,
        id: str,
        *,
        kind: str,
        type_name: str,
        inputs: Mapping[str, Channel],
        parameters: Mapping[str, Any],
        outputs: Mapping[str, type[Artifact]],
        spec: ComponentSpec | None = None,
    ) -> None:
        self.id = id
        self.kind = kind
        self.type_name = type_name
        self.spec = spec
        self.inputs: dict[str, Channel] = dict(inputs)
        self.parameters: dict[str, Any] = dict(parameters)
        self.outputs = OutputChannels(
            self, {key: Channel(t, self, key) for key, t in outputs.items()}
        )
        self.enable_cache: bool | None = None
        self.beam_pipeline_args: list[str] = []
        self.resources: dict[str, Any] = {}

    def with_id(self, id: str) -> Node:
        """Give the node an id (needed when one component is used twice in a pipeline)."""
        if not id or not id.replace("_", "").replace("-", "").replace(".", "").isalnum():
            raise WiringError(f"{self.id}: node id must be letters, digits, '_-.'; got {id!r}")
        self.id = id
        return self

    def with_cache(self, enabled: bool) -> Node:
        """Turn caching off (or on) for this node whatever the pipeline says."""
        self.enable_cache = enabled
        return self

    def with_beam_pipeline_args(self, args: Sequence[str]) -> Node:
        """Beam options for this node only: each option set here replaces the pipeline's.

        Example:
            StatisticsGen(examples=...).with_beam_pipeline_args(["--runner=FnApiRunner"])
        """
        if isinstance(args, str):
            raise WiringError(
                f"{self.id}: beam_pipeline_args must be a list of strings, got {args!r}"
            )
        self.beam_pipeline_args = [str(a) for a in args]
        return self

    def with_resources(
        self, *, cpu: str | None = None, memory: str | None = None, gpu: int | None = None
    ) -> Node:
        """What an orchestrator should reserve for this node (Kubernetes quantities: cpu "2",
        memory "4Gi"); recorded in the compiled description, ignored by the local runner.

        Example:
            Trainer(...).with_resources(cpu="4", memory="8Gi", gpu=1)
        """
        for name, value in (("cpu", cpu), ("memory", memory)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise WiringError(f"{self.id}: {name} must be a quantity string, got {value!r}")
        if gpu is not None and (not isinstance(gpu, int) or gpu < 0):
            raise WiringError(f"{self.id}: gpu must be a count >= 0, got {gpu!r}")
        given = {"cpu": cpu, "memory": memory, "gpu": gpu}
        self.resources = {k: v for k, v in given.items() if v is not None}
        return self

    def upstream(self) -> list[Node]:
        """Nodes whose outputs this node reads."""
        return [ch.producer for ch in self.inputs.values() if ch.producer is not None]

    def __repr__(self) -> str:
        return f"<{self.type_name} {self.id!r}>"


class ComponentFactory:
    """What `@component` returns: call it with inputs and parameters to get a `Node`."""

    def __init__(self, spec: ComponentSpec) -> None:
        self.spec = spec
        functools.update_wrapper(self, spec.fn)

    def __call__(self, **kwargs: Any) -> Node:
        spec = self.spec
        inputs: dict[str, Channel] = {}
        parameters: dict[str, Any] = {}
        for key, value in kwargs.items():
            if key in spec.inputs:
                if value is None and spec.inputs[key].optional:
                    continue
                inputs[key] = _check_channel(spec.name, key, spec.inputs[key], value)
            elif key in spec.parameters:
                parameters[key] = _check_parameter(spec.name, key, spec.parameters[key], value)
            elif key in spec.outputs:
                raise WiringError(
                    f"{spec.name}: {key!r} is an output; read it as node.outputs[{key!r}]"
                )
            else:
                known = sorted([*spec.inputs, *spec.parameters])
                raise WiringError(
                    f"{spec.name}: unknown parameter {key!r} (inputs and parameters: {known})"
                )
        for key, ispec in spec.inputs.items():
            if key not in inputs and not ispec.optional:
                raise WiringError(
                    f"{spec.name}: required input {key!r} ({ispec.type.TYPE_NAME}) is missing"
                )
        for key, pspec in spec.parameters.items():
            if key not in parameters:
                if pspec.required:
                    raise WiringError(f"{spec.name}: required parameter {key!r} is missing")
                parameters[key] = pspec.default
        return Node(
            spec.name,
            kind="component",
            type_name=spec.name,
            inputs=inputs,
            parameters=parameters,
            outputs=spec.outputs,
            spec=spec,
        )

    def __repr__(self) -> str:
        return f"<component {self.spec.name}>"


@typing.overload
def component(fn: Callable[..., Any], /) -> ComponentFactory: ...


@typing.overload
def component(
    *,
    fingerprint: Callable[[Mapping[str, Any]], str] | None = None,
    format_version: int = 1,
    distributions: Sequence[str] = (),
) -> Callable[[Callable[..., Any]], ComponentFactory]: ...


def component(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    fingerprint: Callable[[Mapping[str, Any]], str] | None = None,
    format_version: int = 1,
    distributions: Sequence[str] = (),
) -> ComponentFactory | Callable[[Callable[..., Any]], ComponentFactory]:
    """Make a component of a function whose parameters are typed artifacts and parameters.

    `fingerprint(parameters)` (optional) says what external input the component reads (file
    names, sizes, times); a change in it makes the cache miss. `format_version` (bump it when
    the component's outputs change format) and the installed versions of the `headwater-*`
    distributions its module imports, plus any named in `distributions` (e.g. "tensorflow"),
    are part of the cache key too: an upgrade never reuses an output written the old way.
    """
    make = functools.partial(
        _make_component,
        fingerprint=fingerprint,
        format_version=format_version,
        distributions=distributions,
    )
    if fn is None:
        return make
    return make(fn)


def _make_component(
    fn: Callable[..., Any],
    *,
    fingerprint: Callable[[Mapping[str, Any]], str] | None,
    format_version: int = 1,
    distributions: Sequence[str] = (),
) -> ComponentFactory:
    if (
        isinstance(format_version, bool)
        or not isinstance(format_version, int)
        or format_version < 1
    ):
        raise WiringError(
            f"{fn.__name__}: format_version must be a positive int, got {format_version!r}"
        )
    if isinstance(distributions, str) or not all(isinstance(d, str) for d in distributions):
        raise WiringError(
            f"{fn.__name__}: distributions must be a list of distribution names, "
            f"got {distributions!r}"
        )
    spec = ComponentSpec(
        name=fn.__name__,
        fn=fn,
        fingerprint=fingerprint,
        format_version=format_version,
        distributions=tuple(distributions),
    )
    hints = _type_hints(fn)
    signature = inspect.signature(fn)
    for name, param in signature.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise WiringError(f"{spec.name}: *args/**kwargs are not allowed ({name!r})")
        if name not in hints:
            raise WiringError(
                f"{spec.name}: parameter {name!r} needs an annotation "
                "(InputArtifact[T], OutputArtifact[T] or Parameter[T])"
            )
        role, inner, optional = _parse_annotation(hints[name])
        has_default = param.default is not param.empty
        if role is _INPUT:
            spec.inputs[name] = InputSpec(_artifact_type(spec.name, name, inner), optional)
            if optional and not has_default:
                raise WiringError(f"{spec.name}: optional input {name!r} needs `= None`")
        elif role is _OUTPUT:
            spec.outputs[name] = _artifact_type(spec.name, name, inner)
        elif role is _PARAMETER:
            annotation = inner | None if optional else inner
            default = param.default if has_default else None
            spec.parameters[name] = ParameterSpec(annotation, default, not has_default)
        else:
            raise WiringError(
                f"{spec.name}: parameter {name!r} must be annotated InputArtifact[T], "
                f"OutputArtifact[T] or Parameter[T], got {hints[name]!r}"
            )
    return ComponentFactory(spec)


def _type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """Annotations evaluated; names local to the defining function are looked up there too."""
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except NameError as first_error:
        frame = inspect.currentframe()
        while frame is not None and frame.f_code.co_filename == __file__:
            frame = frame.f_back
        localns = dict(frame.f_locals) if frame is not None else {}
        del frame
        try:
            return typing.get_type_hints(fn, localns=localns, include_extras=True)
        except NameError as exc:
            raise WiringError(
                f"{fn.__name__}: cannot resolve an annotation ({exc}); import artifact types "
                "at module level"
            ) from first_error


def _parse_annotation(hint: Any) -> tuple[_Role | None, Any, bool]:
    """(role, inner type, optional) of `Role[T]` or `Role[T] | None`."""
    optional = False
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        if len(args) == 1:
            hint = args[0]
    if typing.get_origin(hint) is Annotated:
        inner, *meta = typing.get_args(hint)
        for m in meta:
            if isinstance(m, _Role):
                return m, inner, optional
    return None, hint, optional


def _artifact_type(component_name: str, field_name: str, inner: Any) -> type[Artifact]:
    if isinstance(inner, type) and issubclass(inner, Artifact):
        return inner
    raise WiringError(
        f"{component_name}: {field_name!r} must name an artifact type such as Examples, "
        f"got {inner!r}"
    )


def _check_channel(component_name: str, key: str, ispec: InputSpec, value: Any) -> Channel:
    if isinstance(value, Node):
        outs = [ch for ch in value.outputs.values() if issubclass(ch.type, ispec.type)]
        if len(outs) != 1:
            raise WiringError(
                f"{component_name}: input {key!r} expects a channel of {ispec.type.TYPE_NAME}; "
                f"got node {value.id!r} — pass one of its outputs, e.g. "
                f"{value.id}.outputs[{next(iter(value.outputs), '...')!r}]"
            )
        value = outs[0]
    if not isinstance(value, Channel):
        raise WiringError(
            f"{component_name}: input {key!r} expects a channel of {ispec.type.TYPE_NAME} "
            f"(another node's outputs[...]), got {type(value).__name__} {value!r:.80}"
        )
    if not issubclass(value.type, ispec.type):
        raise WiringError(
            f"{component_name}: input {key!r} expects {ispec.type.TYPE_NAME}, "
            f"got {value.type.TYPE_NAME} from {value!r}"
        )
    return value


_SIMPLE = (int, float, str, bool, list, tuple, dict)


def _check_parameter(component_name: str, key: str, pspec: ParameterSpec, value: Any) -> Any:
    if isinstance(value, Channel | Node):
        raise WiringError(f"{component_name}: {key!r} is a parameter, not an input; got {value!r}")
    if not _matches(value, pspec.annotation):
        raise WiringError(
            f"{component_name}: parameter {key!r} expects {_type_name(pspec.annotation)}, "
            f"got {type(value).__name__} {value!r:.80}"
        )
    return value


def _matches(value: Any, annotation: Any) -> bool:
    """Shallow type check for the annotations parameters use; unknown ones pass."""
    if annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_matches(value, a) for a in typing.get_args(annotation))
    if value is None:
        return annotation is type(None)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (list, tuple, collections.abc.Sequence):
        return isinstance(value, list | tuple)
    if origin in (dict, collections.abc.Mapping):
        return isinstance(value, Mapping)
    if annotation in _SIMPLE:
        if annotation in (list, tuple):
            return isinstance(value, list | tuple)
        return isinstance(value, annotation)
    if isinstance(annotation, type) and origin is None:
        return isinstance(value, annotation)
    return True


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")

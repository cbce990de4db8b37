"""Files named by local paths or URLs (`s3://`, `gs://`, `hdfs://`, `memory://`, ...), in one place.

Every reader and writer of `headwater.io` opens, lists, sizes and publishes files through this
module, so each takes a local path or a URL alike:

- a local path (no `scheme://`) goes straight to the operating system, as before;
- a URL goes through fsspec (`pip install 'headwater-io[s3]'` for s3://, `[gcs]` for gs://;
  any other fsspec protocol works once its package is installed), or, while a Beam source or
  sink is running (`using_beam()`), through Beam's own `FileSystems`, so that a Dataflow, Flink or
  Spark worker uses the credentials and options of its pipeline.

Credentials and endpoints come from each backend's usual settings (for S3 the `AWS_*`
environment variables and files, e.g. `AWS_ENDPOINT_URL` for an S3-compatible server; for GCS the
application default credentials; inside Beam, also the pipeline's `--s3_*` options).

Publishing (`staged`): on a local disk, files are written into a hidden temporary directory
next to their final names and renamed into place. Object stores have no rename: there each file
is uploaded under a temporary key in a hidden prefix next to its final key, then copied onto
the final key by the store (a server-side copy, which S3 and GCS make visible all at once) and
the temporary key deleted. Either way a file appears under its final name whole or not at all.
"""

from __future__ import annotations

import contextlib
import contextvars
import glob as _glob
import io
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from typing import IO, Any, cast

from headwater.io.errors import InputNotFoundError
from headwater.io.extras import MissingExtraError

__all__ = [
    "TEMP_PREFIX",
    "download_tree",
    "exists",
    "is_url",
    "join",
    "match_files",
    "open_input",
    "open_output",
    "read_bytes",
    "remove_tree",
    "size",
    "staged",
    "upload_tree",
    "using_beam",
]

TEMP_PREFIX = ".headwater-tmp-"
"""Name prefix of the hidden directories (local) and key prefixes (object stores) that files are
written under before they are published; readers of a directory skip names starting with '.'."""

_EXTRAS = {"s3": "headwater-io[s3]", "s3a": "headwater-io[s3]", "gs": "headwater-io[gcs]"}
_EXTRAS["gcs"] = _EXTRAS["gs"]
_DEFAULT_OPTIONS: list[Any] = []
_BEAM_FILESYSTEMS: dict[tuple[str | None, int], tuple[Any, Any]] = {}
_BEAM: contextvars.ContextVar[bool] = contextvars.ContextVar("headwater_io_beam", default=False)


def is_url(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is a URL (`scheme://...`) rather than a local path."""
    text = os.fspath(path)
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.isascii() and scheme.replace("+", "").replace("-", "").isalnum()


def join(base: str, *names: str) -> str:
    """`base` and `names` joined with '/' for URLs, `os.path.join` for local paths."""
    if not is_url(base):
        return os.path.join(base, *names)
    return "/".join([base.rstrip("/"), *names])


@contextlib.contextmanager
def using_beam() -> Iterator[None]:
    """Meanwhile (in this thread or task), URLs go through Beam's `FileSystems`, not fsspec."""
    token = _BEAM.set(True)
    try:
        yield
    finally:
        _BEAM.reset(token)


# fsspec ------------------------------------------------------------------------------------


def _fsspec(url: str) -> tuple[Any, str]:
    """(fsspec filesystem, path inside it) of `url`; MissingExtraError names the extra needed."""
    try:
        import fsspec
    except ModuleNotFoundError as exc:  # a dependency of headwater-io; only a broken install
        raise MissingExtraError(f"{url}: needs fsspec: pip install headwater-io") from exc
    scheme = url.partition("://")[0]
    try:
        # No listings cache: another process (a Beam worker, a writer elsewhere) may have changed
        # the store since the last listing, and a stale size breaks a read.
        return fsspec.core.url_to_fs(url, use_listings_cache=False)
    except ImportError as exc:
        extra = _EXTRAS.get(scheme)
        hint = f"pip install '{extra}'" if extra else f"install the fsspec backend of {scheme}://"
        raise MissingExtraError(f"{url}: {scheme}:// URLs need {exc}; {hint}") from exc
    except ValueError as exc:  # "Protocol not known"
        raise InputNotFoundError(
            f"unknown URL scheme {scheme}:// ({exc})",
            path=url,
            expected="a local path or an fsspec URL (s3://, gs://, hdfs://, ...)",
        ) from exc


def _full(fs: Any, path: str, like: str) -> str:
    """`path` inside `fs` as a URL with the scheme `like` was given with."""
    scheme = like.partition("://")[0]
    return f"{scheme}://{fs._strip_protocol(path)}"


# Beam --------------------------------------------------------------------------------------


def _beam_options() -> Any:
    """The running pipeline's options, or (before any Pipeline) the defaults, so that the
    backend's own settings (AWS_* variables, default credentials) apply."""
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.options.value_provider import RuntimeValueProvider

    options = FileSystems._pipeline_options or RuntimeValueProvider.runtime_options
    if options is None:
        if not _DEFAULT_OPTIONS:
            _DEFAULT_OPTIONS.append(PipelineOptions([]))
        options = _DEFAULT_OPTIONS[0]
    return options


def _beam_fs(url: str) -> Any:
    """Beam's filesystem for `url`, built with the running pipeline's options (or defaults)."""
    from apache_beam.io.filesystems import FileSystems

    options = _beam_options()
    scheme = FileSystems.get_scheme(url)
    key = (scheme, id(options))
    cached = _BEAM_FILESYSTEMS.get(key)
    if cached is None or cached[0] is not options:
        # One per scheme and options: building Beam's S3 filesystem builds a boto3 client (~1 s).
        cls = type(FileSystems.get_filesystem(url))
        cached = _BEAM_FILESYSTEMS[key] = (options, cls(pipeline_options=options))
    return cached[1]


def _beam_not_found(exc: Exception) -> bool:
    text = str(exc)
    return any(s in text for s in ("404", "Not Found", "NoSuchKey", "NoSuchBucket", "not found"))


# the operations ----------------------------------------------------------------------------


def _not_found(url: str, fs: Any | None, path: str | None) -> InputNotFoundError:
    """The error for a missing `url`, saying when its bucket is what is missing."""
    buckets = ("s3", "s3a", "gs", "gcs")
    if fs is not None and path is not None and url.partition("://")[0] in buckets:
        bucket = path.split("/", 1)[0]
        with contextlib.suppress(Exception):
            if not fs.exists(bucket):
                return InputNotFoundError(
                    f"bucket {bucket!r} does not exist (or is not visible with these credentials)",
                    path=url,
                )
    return InputNotFoundError("no such file or directory", path=url)


def open_input(path: str) -> IO[bytes]:
    """`path` opened for reading bytes (seekable); InputNotFoundError naming it if missing."""
    if not is_url(path):
        return open(path, "rb")
    if _BEAM.get():
        try:
            return _beam_fs(path).open(path, compression_type="uncompressed")
        except Exception as exc:
            if _beam_not_found(exc):
                raise InputNotFoundError("no such file", path=path) from exc
            raise
    fs, inner = _fsspec(path)
    try:
        return fs.open(inner, "rb")
    except FileNotFoundError as exc:
        raise _not_found(path, fs, inner) from exc


def open_output(path: str) -> IO[bytes]:
    """`path` opened for writing bytes, its directory made first where directories exist."""
    if not is_url(path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return open(path, "wb")
    if _BEAM.get():
        return cast("IO[bytes]", _BeamOutput(path))
    fs, inner = _fsspec(path)
    try:
        return fs.open(inner, "wb")
    except FileNotFoundError as exc:
        raise _not_found(path, fs, inner) from exc


class _BeamOutput(io.RawIOBase):
    """A file written through Beam's FileSystems, opened at its first byte.

    Beam's S3 uploader cannot write an empty object (it completes a multipart upload of no part,
    which S3 refuses): a file closed with nothing written is created by one empty PUT instead.
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path
        self._writer: Any = None
        self._position = 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def write(self, data: Any) -> int:
        size = memoryview(data).nbytes
        if size == 0:
            return 0
        if self._writer is None:
            self._writer = _beam_fs(self._path).create(self._path, compression_type="uncompressed")
        self._writer.write(data)
        self._position += size
        return size

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._writer is not None:
                self._writer.close()
            else:
                _beam_create_empty(self._path)
        finally:
            super().close()


def _beam_create_empty(url: str) -> None:
    """An empty object at `url`, through Beam's filesystem (and its client, for S3)."""
    fs = _beam_fs(url)
    if url.partition("://")[0] == "s3":
        from apache_beam.io.aws import s3io

        bucket, key = s3io.parse_s3_path(url)
        client = s3io.S3IO(options=_beam_options()).client
        client.client.put_object(Bucket=bucket, Key=key, Body=b"")
        return
    fs.create(url, compression_type="uncompressed").close()


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The whole content of `path`."""
    with open_input(os.fspath(path)) as f:
        return f.read()


def size(path: str) -> int:
    """Size of the file at `path` in bytes."""
    if not is_url(path):
        return os.path.getsize(path)
    if _BEAM.get():
        fs = _beam_fs(path)
        try:
            return int(fs.size(path))
        except Exception as exc:
            if _beam_not_found(exc):
                raise InputNotFoundError("no such file", path=path) from exc
            raise
    fs, inner = _fsspec(path)
    try:
        return int(fs.size(inner))
    except FileNotFoundError as exc:
        raise _not_found(path, fs, inner) from exc


def exists(path: str) -> bool:
    """Whether a file (or, where there are directories, a directory) is at `path`."""
    if not is_url(path):
        return os.path.exists(path)
    if _BEAM.get():
        return bool(_beam_fs(path).exists(path))
    fs, inner = _fsspec(path)
    return bool(fs.exists(inner))


def match_files(pattern: str) -> list[str]:
    """Files named by `pattern` (a file, a glob, or a directory's non-hidden files), sorted.

    InputNotFoundError naming `pattern` (and, for a bucket that does not exist, the bucket) when
    it names no file.
    """
    if not is_url(pattern):
        return _match_local(pattern)
    if _BEAM.get():
        return _match_beam(pattern)
    fs, inner = _fsspec(pattern)
    has_magic = _glob.has_magic(inner)
    if not has_magic:
        if fs.isfile(inner):
            return [pattern]
        if fs.isdir(inner):
            files = [
                _full(fs, info["name"], pattern)
                for info in fs.ls(inner, detail=True, refresh=True)
                if info.get("type") == "file" and not _hidden(info["name"])
            ]
            if not files:
                raise InputNotFoundError(
                    "directory holds no files", path=pattern, expected="at least one data file"
                )
            return sorted(files)
        raise _not_found(pattern, fs, inner)
    found = fs.glob(inner, detail=True)
    files = sorted(_full(fs, name, pattern) for name, i in found.items() if i.get("type") == "file")
    if files:
        return files
    error = _not_found(pattern, fs, inner)
    if "bucket" in error.reason:
        raise error
    raise InputNotFoundError("pattern matches no file", path=pattern)


def _hidden(name: str) -> bool:
    return name.rstrip("/").rsplit("/", 1)[-1].startswith((".", "_"))


def _match_local(text: str) -> list[str]:
    if os.path.isdir(text):
        files = [
            os.path.join(text, name)
            for name in sorted(os.listdir(text))
            if not name.startswith((".", "_")) and os.path.isfile(os.path.join(text, name))
        ]
        if not files:
            raise InputNotFoundError(
                "directory holds no files", path=text, expected="at least one data file"
            )
        return files
    if os.path.isfile(text):
        return [text]
    if _glob.has_magic(text):
        files = sorted(p for p in _glob.glob(text) if os.path.isfile(p))
        if files:
            return files
        raise InputNotFoundError("pattern matches no file", path=text)
    raise InputNotFoundError("no such file or directory", path=text)


def _match_beam(pattern: str) -> list[str]:
    fs = _beam_fs(pattern)

    def matched(p: str) -> list[str]:
        try:
            result = fs.match([p])[0]
        except Exception as exc:
            if _beam_not_found(exc):
                return []
            raise
        return [m.path for m in result.metadata_list]

    if not _glob.has_magic(pattern):
        if pattern in matched(pattern):
            return [pattern]
        directory = pattern.rstrip("/") + "/"
        files = sorted(
            p for p in matched(directory + "*") if "/" not in p[len(directory) :] and not _hidden(p)
        )
        if files:
            return files
        raise InputNotFoundError("no such file or directory", path=pattern)
    files = sorted(matched(pattern))
    if not files:
        raise InputNotFoundError("pattern matches no file", path=pattern)
    return files


@contextlib.contextmanager
def staged(final_paths: list[str]) -> Iterator[list[str]]:
    """Temporary paths to write; published onto `final_paths` on success, removed on error.

    All of `final_paths` share one directory. Local: a hidden temporary directory beside them,
    each file renamed into place. URL: a hidden temporary prefix beside them, each object copied
    onto its final key by the store, then the temporary objects deleted. Each file appears whole
    or not at all; the files of one call appear one after another, not all at once.
    """
    first = os.fspath(final_paths[0])
    if not is_url(first):
        directory = os.path.dirname(os.path.abspath(first))
        os.makedirs(directory, exist_ok=True)
        tmp_dir = tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=directory)
        try:
            tmp_paths = [os.path.join(tmp_dir, os.path.basename(p)) for p in final_paths]
            yield tmp_paths
            for tmp, final in zip(tmp_paths, final_paths, strict=True):
                os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)
        return
    directory = first.rsplit("/", 1)[0]
    tmp_dir = f"{directory}/{TEMP_PREFIX}{uuid.uuid4().hex}"
    tmp_paths = [f"{tmp_dir}/{p.rsplit('/', 1)[-1]}" for p in final_paths]
    published = False
    try:
        yield tmp_paths
        published = _publish(tmp_paths, final_paths)
    finally:
        if not published:
            _remove(tmp_paths)


def _publish(tmp_paths: list[str], final_paths: list[str]) -> bool:
    """Copy each temporary object onto its final key; whether the temporary ones are gone."""
    if _BEAM.get():
        # Beam's rename: a copy then a delete on object stores.
        _beam_fs(final_paths[0]).rename(list(tmp_paths), list(final_paths))
        return True
    fs, _ = _fsspec(final_paths[0])
    for tmp, final in zip(tmp_paths, final_paths, strict=True):
        fs.copy(_fsspec(tmp)[1], _fsspec(final)[1])
    return False


def _remove(paths: list[str]) -> None:
    """Delete whichever of `paths` exist (best effort: a failure here must not hide another)."""
    with contextlib.suppress(Exception):
        if _BEAM.get():
            fs = _beam_fs(paths[0])
            present = [p for p in paths if fs.exists(p)]
            if present:
                fs.delete(present)
            return
        fs, _ = _fsspec(paths[0])
        for p in paths:
            inner = _fsspec(p)[1]
            if fs.exists(inner):
                fs.rm_file(inner)


def remove_tree(directory: str) -> None:
    """Remove `directory` and the files under it, if any (best effort, like `_remove`)."""
    if not is_url(directory):
        shutil.rmtree(directory, ignore_errors=True)
        return
    with contextlib.suppress(Exception):
        if _BEAM.get():
            fs = _beam_fs(directory)
            found = fs.match([directory.rstrip("/") + "/*"])[0].metadata_list
            if found:
                fs.delete([m.path for m in found])
            return
        fs, inner = _fsspec(directory)
        if fs.exists(inner):
            fs.rm(inner, recursive=True)


def upload_tree(local_dir: str, url: str) -> list[str]:
    """Publish every file under the local `local_dir` at the same relative name under `url`.

    Each directory's files are published by one `staged` (so each file appears whole); a file
    already at a final name is replaced. Returns the URLs written, sorted.
    """
    by_dir: dict[str, list[str]] = {}
    for root, _, names in os.walk(local_dir):
        rel = os.path.relpath(root, local_dir)
        for name in names:
            by_dir.setdefault("" if rel == "." else rel.replace(os.sep, "/"), []).append(name)
    written: list[str] = []
    for rel, names in sorted(by_dir.items()):
        base = join(url, rel) if rel else url.rstrip("/")
        finals = [join(base, n) for n in sorted(names)]
        with staged(finals) as tmps:
            for name, tmp in zip(sorted(names), tmps, strict=True):
                with open(os.path.join(local_dir, rel, name), "rb") as src, open_output(tmp) as dst:
                    shutil.copyfileobj(src, dst, 16 << 20)
        written += finals
    return sorted(written)


def download_tree(url: str, local_dir: str) -> str:
    """Copy every object under the prefix `url` into the local `local_dir` (same relative
    names); `local_dir`. InputNotFoundError naming `url` when nothing is under it."""
    fs, inner = _fsspec(url)
    prefix = inner.rstrip("/") + "/"
    found = [p for p in fs.find(inner) if p.startswith(prefix)]
    if not found:
        raise _not_found(url, fs, inner)
    for path in found:
        target = os.path.join(local_dir, *path[len(prefix) :].split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        fs.get_file(path, target)
    return local_dir

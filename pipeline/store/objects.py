"""Object storage (``s3://``, ``gs://``) through :mod:`pyarrow.fs`: one PUT per object.

An object appears whole or not at all when its upload completes, so no temp file or rename
is needed; a "move" is a copy then a delete. Credentials, region and endpoint come from
the environment as pyarrow reads them (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_REGION``, ``AWS_ENDPOINT_URL``) or from the URI (``?endpoint_override=...``).
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pipeline.errors import ConfigError, EnvironmentFault
from pipeline.store.layout import shard_key
from pipeline.store.shards import write_shard

SCHEMES = ("s3", "gs", "gcs")


def is_remote(root: str | Path) -> bool:
    """Whether ``root`` is a URL (``scheme://...``) rather than a local path."""
    return "://" in str(root)


def _scheme(uri: str) -> str:
    scheme = uri.split("://", 1)[0].lower()
    if scheme not in SCHEMES:
        raise ConfigError(
            f"output.dir={uri}: unsupported scheme {scheme}://; use a local folder, s3:// or gs://"
        )
    return scheme


def public(uri: str) -> str:
    """``uri`` without the credentials it may hold (``s3://KEY:SECRET@bucket/...``), for
    pages and log lines."""
    scheme, _, rest = uri.partition("://")
    netloc, slash, path = rest.partition("/")
    return f"{scheme}://{netloc.rpartition('@')[2]}{slash}{path}"


def name(uri: str) -> str:
    """The last folder name of an object-store URI's path (``s3://b/sweeps/toy?...``: toy)."""
    path = uri.partition("://")[2].partition("?")[0].rstrip("/")
    return path.rpartition("/")[2]


@functools.lru_cache(maxsize=8)
def open_uri(uri: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem of an object-store URI and the root path in it (no trailing ``/``)."""
    _scheme(uri)
    try:
        fs, path = pafs.FileSystem.from_uri(uri)
    except (pa.ArrowInvalid, ValueError) as err:
        raise ConfigError(f"output.dir={uri} is not a valid object-store URI ({err})") from None
    except OSError as err:
        raise _fault(uri, err, "reach") from None
    return fs, path.rstrip("/")


def _fault(root: str, err: OSError, what: str) -> EnvironmentFault:
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return EnvironmentFault(
        f"cannot {what} the object store of output.dir {root} ({first}); check the endpoint, "
        "credentials and bucket (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...), then rerun"
    )


@contextmanager
def faults(root: str, what: str) -> Iterator[None]:
    """Turn an object store's ``OSError`` into a one-line :class:`EnvironmentFault`."""
    try:
        yield
    except OSError as err:
        raise _fault(root, err, what) from None


def files(fs: pafs.FileSystem, folder: str) -> list[str]:
    """Every object under ``folder`` (recursive; none when it does not exist), sorted."""
    selector = pafs.FileSelector(folder, recursive=True, allow_not_found=True)
    return sorted(i.path for i in fs.get_file_info(selector) if i.type == pafs.FileType.File)


def exists(fs: pafs.FileSystem, path: str) -> bool:
    """Whether the object ``path`` exists."""
    return fs.get_file_info(path).type == pafs.FileType.File


def put(fs: pafs.FileSystem, path: str, data: bytes) -> str:
    """Upload ``data`` as the object ``path`` (it appears whole when the upload ends)."""
    with fs.open_output_stream(path) as out:
        out.write(data)
    return path


def put_shard(fs: pafs.FileSystem, path: str, table: pa.Table) -> str:
    """Upload ``table`` as a zstd Parquet object with page checksums, in one PUT."""
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", write_page_checksum=True)
    return put(fs, path, buffer.getvalue())


def get_text(fs: pafs.FileSystem, path: str) -> str:
    """The UTF-8 text of the object ``path``."""
    with fs.open_input_stream(path) as handle:
        return handle.read().decode("utf-8")


def move(fs: pafs.FileSystem, source: str, target: str) -> None:
    """Copy ``source`` to ``target``, then delete ``source`` (stores have no rename)."""
    fs.copy_file(source, target)
    fs.delete_file(source)


def write_samples(root: str, job_id: str, partition: tuple[str, int], table: pa.Table) -> None:
    """Write a job's samples shard into the output ``root`` (a local folder or a URI), as a
    worker does: atomically on a local path, in one PUT on an object store."""
    key = shard_key(job_id, *partition)
    if not is_remote(root):
        write_shard(table, Path(root) / key)
        return
    fs, base = open_uri(root)
    put_shard(fs, f"{base}/{key}", table)


# Where the object store is (not who may use it): forwarded from the driver to its workers.
FORWARDED = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION")


def worker_env(root: str | Path) -> dict[str, str]:
    """The driver's endpoint and region variables a worker writing to ``root`` needs (none
    for a local folder). Credentials are not forwarded: workers read their own node's."""
    if not is_remote(root):
        return {}
    return {name: os.environ[name] for name in FORWARDED if name in os.environ}

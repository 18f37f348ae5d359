"""Fetching the original files, with a fast offline check so nothing hangs on retries.

tfds retries a failed download for minutes (urllib3 backoff on every file). Before any
download we open one TCP connection per host, all in parallel, bounded by
``PROBE_TIMEOUT_S``; DNS lookups run inside the same threads, so a resolver that hangs is
bounded too. ``CNNLAB_OFFLINE=1`` skips the network entirely.

A download that trickles (fewer than ``STALL_MIN_BYTES`` in ``STALL_WINDOW_S`` seconds) is
abandoned. Nothing half-done carries a final name: a download is written to a ``.part`` file
and renamed once its sha256 matches; a tarball is extracted into a temporary directory, moved
into place, and then a marker lists every file with its size. Leftovers of a killed process
(``.part`` files, temporary directories) are removed by the next fetch or extraction.
"""

import hashlib
import json
import os
import shutil
import socket
import tarfile
import tempfile
import threading
import time
import urllib.parse
import urllib.request

PROBE_TIMEOUT_S = 3.0
STALL_WINDOW_S = 30.0  # a download must bring STALL_MIN_BYTES in every window of this many seconds
STALL_MIN_BYTES = 1024
LEFTOVER_AGE_S = 3600.0  # a .part or temporary directory untouched this long belongs to a dead process


def offline_reason() -> str | None:
    """Why the network must not be used, or None: ``CNNLAB_OFFLINE`` set to a true value."""
    value = os.environ.get("CNNLAB_OFFLINE", "").strip().lower()
    if value not in ("", "0", "false", "no"):
        return f"CNNLAB_OFFLINE={value} is set"
    return None


def _endpoint(url: str) -> tuple[str, int]:
    """The (host, port) a request for ``url`` connects to first: its proxy if one is set."""
    parts = urllib.parse.urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        p = urllib.parse.urlsplit(proxy if "//" in proxy else "//" + proxy)
        return p.hostname or "", p.port or (443 if p.scheme == "https" else 80)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def unreachable(urls, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Checks that every host in ``urls`` accepts a TCP connection within ``timeout`` seconds.

    Returns:
      None when all hosts answered, else a sentence naming the first that did not and why.
    """
    network = [u for u in urls if urllib.parse.urlsplit(u).scheme in ("http", "https", "ftp")]
    endpoints = sorted({_endpoint(u) for u in network})  # file:// needs no network
    errors: dict[tuple[str, int], str] = {}

    def probe(host, port):
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError as e:
            errors[(host, port)] = f"{type(e).__name__}: {e}"

    threads = [threading.Thread(target=probe, args=ep, daemon=True) for ep in endpoints]
    for t in threads:
        t.start()
    for t, ep in zip(threads, endpoints):
        t.join(timeout)  # sequential joins, but all threads started together: ~timeout in all
        if t.is_alive():
            errors.setdefault(ep, f"no answer within {timeout:g} s")
    for ep in endpoints:
        if ep in errors:
            return f"cannot reach {ep[0]}:{ep[1]} ({errors[ep]})"
    return None


def cache_dir(name: str) -> str:
    """Where downloaded originals of ``name`` live: ``$CNNLAB_CACHE_DIR/name`` (default ~/.cache/cnnlab)."""
    root = os.environ.get("CNNLAB_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "cnnlab"
    )
    return os.path.join(root, name)


def target(url: str, directory: str) -> str:
    """The path ``fetch`` saves ``url`` under in ``directory``."""
    return os.path.join(directory, os.path.basename(urllib.parse.urlsplit(url).path))


def _remove_leftovers(directory: str) -> None:
    """Removes ``.part`` files and ``.extract-*`` directories that no live process is writing."""
    now = time.time()
    for entry in os.scandir(directory):
        stale = now - entry.stat(follow_symlinks=False).st_mtime > LEFTOVER_AGE_S
        if stale and entry.name.endswith(".part") and entry.is_file(follow_symlinks=False):
            os.remove(entry.path)
        elif stale and entry.name.startswith(".extract-"):  # a directory, or its marker being written
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.remove(entry.path)


def _copy_watching_progress(url: str, response, out, digest) -> None:
    """Copies ``response`` to ``out``; TimeoutError when a window brings too few bytes."""
    read = getattr(response, "read1", response.read)  # read1 returns what has arrived
    window_start, window_bytes = time.monotonic(), 0
    while True:
        try:
            chunk = read(1 << 20)
        except TimeoutError:  # nothing at all for STALL_WINDOW_S (the socket timeout)
            chunk = None
        now = time.monotonic()
        if chunk is None or (now - window_start >= STALL_WINDOW_S and window_bytes + len(chunk) < STALL_MIN_BYTES):
            got = window_bytes + len(chunk or b"")
            raise TimeoutError(
                f"load: download of {url} stalled: {got} bytes in the last {now - window_start:.0f} s "
                f"(need {STALL_MIN_BYTES} bytes per {STALL_WINDOW_S:g} s); try again later or "
                "download it by hand (see docs/data.md)"
            )
        if not chunk:
            return
        digest.update(chunk)
        out.write(chunk)
        window_bytes += len(chunk)
        if now - window_start >= STALL_WINDOW_S:
            window_start, window_bytes = now, 0


def fetch(url: str, sha256: str, directory: str) -> str:
    """Downloads ``url`` into ``directory`` unless present, checking its sha256.

    Returns:
      The path of the verified file.

    Raises:
      OSError: the download failed (TimeoutError: it stalled). ValueError: the checksum
        does not match. No partial file is left behind, Ctrl-C included.
    """
    os.makedirs(directory, exist_ok=True)
    path = target(url, directory)
    if os.path.isfile(path):
        return path
    _remove_leftovers(directory)
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".", suffix=".part")
    try:
        # The socket timeout bounds connect and each read; _copy_watching_progress bounds a trickle.
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=STALL_WINDOW_S) as r:
            _copy_watching_progress(url, r, out, digest)
        if digest.hexdigest() != sha256:
            raise ValueError(
                f"load: {url} has sha256 {digest.hexdigest()}, expected {sha256}; "
                "the download is corrupt or the file changed upstream"
            )
        os.replace(tmp, path)  # atomic: a half-written file never carries the final name
    finally:  # any exit, KeyboardInterrupt included
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _marker(path: str, directory: str) -> str:
    return os.path.join(directory, "." + os.path.basename(path) + ".extracted")


def extracted(path: str, directory: str) -> bool:
    """Whether ``directory`` holds every file of the tarball ``path``, each at its size.

    The marker that lists them is written only after a complete extraction, so a cache that a
    kill interrupted, or that lost a file since, reads as not extracted.
    """
    try:
        with open(_marker(path, directory)) as f:
            sizes = json.load(f)
    except (OSError, ValueError):  # no marker, or one from an older cnnlab (empty)
        return False
    return (
        isinstance(sizes, dict)
        and bool(sizes)
        and all(
            os.path.isfile(p := os.path.join(directory, name)) and os.path.getsize(p) == size
            for name, size in sizes.items()
        )
    )


def _safe_extract(tar: tarfile.TarFile, path: str, directory: str) -> None:
    if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4
        tar.extractall(directory, filter="data")
        return
    for member in tar.getmembers():
        dest = os.path.realpath(os.path.join(directory, member.name))
        if not (member.isfile() or member.isdir()) or not dest.startswith(os.path.realpath(directory)):
            raise ValueError(f"load: refusing tar member {member.name!r} of {path}")
    tar.extractall(directory)


def extract_tar(path: str, directory: str) -> None:
    """Unpacks a .tar.gz into ``directory`` unless already `extracted`, refusing links and absolute paths.

    Extracts into a temporary directory beside, moves each top-level entry into place
    (replacing a half-extracted one), then writes the marker listing every file and its size.
    """
    if extracted(path, directory):
        return
    _remove_leftovers(directory)
    tmp = tempfile.mkdtemp(dir=directory, prefix=".extract-")
    try:
        with tarfile.open(path, "r:gz") as tar:
            _safe_extract(tar, path, directory=tmp)
        sizes = {
            os.path.relpath(os.path.join(root, f), tmp): os.path.getsize(os.path.join(root, f))
            for root, _, files in os.walk(tmp)
            for f in files
        }
        for entry in os.listdir(tmp):
            dest = os.path.join(directory, entry)
            if os.path.isdir(dest) and not os.path.islink(dest):
                shutil.rmtree(dest)
            elif os.path.lexists(dest):
                os.remove(dest)
            os.replace(os.path.join(tmp, entry), dest)
        with open(tmp + ".marker", "w") as f:
            json.dump(sizes, f)
        os.replace(tmp + ".marker", _marker(path, directory))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if os.path.exists(tmp + ".marker"):
            os.remove(tmp + ".marker")

"""Fetching the original files, with a fast offline check so nothing hangs on retries.

tfds retries a failed download for minutes (urllib3 backoff on every file). Before any
download we open one TCP connection per host, all in parallel, bounded by
``PROBE_TIMEOUT_S``; DNS lookups run inside the same threads, so a resolver that hangs is
bounded too. ``CNNLAB_OFFLINE=1`` skips the network entirely.
"""

import hashlib
import os
import socket
import tarfile
import tempfile
import threading
import urllib.parse
import urllib.request

PROBE_TIMEOUT_S = 3.0
DOWNLOAD_TIMEOUT_S = 60.0  # per socket operation, not per file


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


def fetch(url: str, sha256: str, directory: str) -> str:
    """Downloads ``url`` into ``directory`` unless present, checking its sha256.

    Returns:
      The path of the verified file.

    Raises:
      OSError: the download failed. ValueError: the checksum does not match.
    """
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, os.path.basename(urllib.parse.urlsplit(url).path))
    if os.path.isfile(path):
        return path
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as r:
            while chunk := r.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise ValueError(
                f"load: {url} has sha256 {digest.hexdigest()}, expected {sha256}; "
                "the download is corrupt or the file changed upstream"
            )
        os.replace(tmp, path)  # atomic: a half-written file never carries the final name
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def extract_tar(path: str, directory: str) -> None:
    """Unpacks a .tar.gz into ``directory`` (once), refusing links and absolute paths."""
    marker = os.path.join(directory, "." + os.path.basename(path) + ".extracted")
    if os.path.exists(marker):
        return
    with tarfile.open(path, "r:gz") as tar:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4
            tar.extractall(directory, filter="data")
        else:
            for member in tar.getmembers():
                target = os.path.realpath(os.path.join(directory, member.name))
                if not (member.isfile() or member.isdir()) or not target.startswith(os.path.realpath(directory)):
                    raise ValueError(f"load: refusing tar member {member.name!r} of {path}")
            tar.extractall(directory)
    with open(marker, "w"):
        pass

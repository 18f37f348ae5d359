"""A fresh machine, simulated: no prepared tfds data, no download cache, no network, no Debian dataset package.

What the data layer reads to find data, pointed at nothing: ``TFDS_DATA_DIR`` (an empty
directory), ``CNNLAB_CACHE_DIR`` (empty), ``CNNLAB_OFFLINE=1`` (no download is tried) and
`cnnlab.data.sources.DEBIAN_DIRS` (each system package's directory a path that does not exist).
Only the 5,000 digits embedded in cnnlab remain.
"""

from cnnlab.data import sources


def simulate_fresh_machine(monkeypatch, tmp_path) -> None:
    """Within the test using ``monkeypatch``, the data layer sees a machine with nothing installed or downloaded."""
    for name in ("tfds", "cache"):
        (tmp_path / name).mkdir(exist_ok=True)
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.setenv("CNNLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CNNLAB_OFFLINE", "1")
    for name in list(sources.DEBIAN_DIRS):
        monkeypatch.setitem(sources.DEBIAN_DIRS, name, str(tmp_path / "not-installed" / name))

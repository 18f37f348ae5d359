"""JAX's persistent compilation cache (cnnlab.compile_cache): where the command puts it, that a second
process loads what the first wrote, that it can be turned off, that an unwritable directory is one
warning line and not a crash, and that ``import cnnlab`` leaves JAX's configuration alone.

Each case that compiles runs in a child process: JAX opens its cache once per process, and this
session's own (tests/conftest.py) must not be disturbed.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import pytest

from cnnlab import compile_cache
from cnnlab.studies import _options, _runner

ENV = "CNNLAB_COMPILE_CACHE"
HITS, MISSES = "/jax/compilation_cache/cache_hits", "/jax/compilation_cache/cache_misses"

# The command's route (enable_from_environment, from the environment), then a threshold of 0 s so that
# even this small program is written: the threshold is not what these tests are about.
CHILD = """
import json, sys
import jax, jax.numpy as jnp
from cnnlab import compile_cache
events = []
jax.monitoring.register_event_listener(lambda event, **kw: events.append(event))
where = compile_cache.enable_from_environment(disabled=sys.argv[1] == "disabled")
f = jax.config
limits = [f.jax_persistent_cache_min_compile_time_secs, f.jax_persistent_cache_min_entry_size_bytes,
          f.jax_compilation_cache_max_size]
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
y = jax.jit(lambda x: jnp.tanh(x @ x.T).sum())(jnp.arange(12.0).reshape(3, 4))
print(json.dumps({"where": where and str(where), "dir": jax.config.jax_compilation_cache_dir,
                  "y": float(y), "hits": events.count(HITS), "misses": events.count(MISSES), "limits": limits}))
""".replace("HITS", repr(HITS)).replace("MISSES", repr(MISSES))


def _child(tmp_path: Path, env: dict, disabled: bool = False) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in (ENV, "XDG_CACHE_HOME")}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, "disabled" if disabled else "enabled"],
        env={**clean, "HOME": str(tmp_path / "home"), **env}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def _entries(path: Path) -> set[str]:
    return {p.name for p in path.rglob("*-cache")} if path.exists() else set()


def test_the_directory_comes_from_the_environment(tmp_path):
    home = Path.home()
    assert compile_cache.directory({}) == home / ".cache" / "cnnlab" / "jax"
    for on in ("", "1", "on", " ON "):
        assert compile_cache.directory({ENV: on}) == home / ".cache" / "cnnlab" / "jax", on
    for off in ("0", "off", "no", "false", " Off "):
        assert compile_cache.directory({ENV: off}) is None, off
    assert compile_cache.directory({"XDG_CACHE_HOME": "/srv/xdg"}) == Path("/srv/xdg/cnnlab/jax")
    # The XDG base-directory spec says a relative XDG_CACHE_HOME is invalid and to be ignored.
    assert compile_cache.directory({"XDG_CACHE_HOME": "rel/dir"}) == home / ".cache" / "cnnlab" / "jax"
    assert compile_cache.directory({ENV: str(tmp_path / "c")}) == tmp_path / "c"
    assert compile_cache.directory({ENV: "~/jaxcache"}) == home / "jaxcache"


def test_a_second_process_loads_what_the_first_wrote(tmp_path):
    cache = tmp_path / "cache"
    first = _child(tmp_path, {ENV: str(cache)})
    assert first["dir"] == first["where"] == str(cache)
    assert first["limits"] == [0.1, -1, -1]  # CacheSettings' thresholds reach JAX
    written = _entries(cache)
    assert written and first["misses"] == len(written) and first["hits"] == 0
    second = _child(tmp_path, {ENV: str(cache)})
    assert second["hits"] == len(written) and second["misses"] == 0
    assert _entries(cache) == written  # nothing recompiled, nothing new
    assert second["y"] == first["y"]


def test_the_default_directory_is_under_the_users_cache(tmp_path):
    record = _child(tmp_path, {"XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert record["dir"] == str(tmp_path / "xdg" / "cnnlab" / "jax")
    assert _entries(tmp_path / "xdg" / "cnnlab" / "jax")


@pytest.mark.parametrize("how", ["environment", "option"])
def test_turned_off_it_writes_nothing(tmp_path, how):
    cache = tmp_path / "cache"
    env = {ENV: "0", "XDG_CACHE_HOME": str(tmp_path / "xdg")} if how == "environment" else {ENV: str(cache)}
    record = _child(tmp_path, env, disabled=how == "option")
    assert record["where"] is None and record["dir"] is None
    assert record["misses"] == record["hits"] == 0
    assert not (tmp_path / "xdg").exists() and not cache.exists() and not (tmp_path / "home" / ".cache").exists()


def test_an_unwritable_directory_is_one_warning_line(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    before = jax.config.jax_compilation_cache_dir
    assert compile_cache.enable(blocker / "jax") is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"cnnlab: warning: compilation cache {blocker / 'jax'}: cannot write there (")
    assert f"{ENV}=0" in err
    assert jax.config.jax_compilation_cache_dir == before  # this session's cache is untouched


def test_a_process_with_an_unwritable_cache_compiles_and_warns_once(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    clean = {k: v for k, v in os.environ.items() if k != ENV}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, "enabled"],
        env={**clean, ENV: str(blocker / "jax")}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        f"cnnlab: warning: compilation cache {blocker / 'jax'}: cannot write there (Not a directory); "
        f"compiling without it (set {ENV}=0 to turn it off, or {ENV}=DIR to move it)"
    ]
    record = json.loads(proc.stdout.splitlines()[-1])
    assert record["where"] is None and record["dir"] is None and record["misses"] == 0
    assert record["y"] == pytest.approx(_tanh_gram_sum())


def _tanh_gram_sum() -> float:
    """CHILD's program in NumPy (float64)."""
    import numpy as np

    x = np.arange(12.0).reshape(3, 4)
    return float(np.tanh(x @ x.T).sum())


@pytest.mark.parametrize("argv", [["latent", "no-such-run", "grid"], ["demo", "--out", "/dev/null/demo"]])
def test_latent_and_demo_open_the_cache_and_help_does_not(monkeypatch, capsys, argv):
    from cnnlab import cli

    calls = []
    monkeypatch.setattr(compile_cache, "enable_from_environment", lambda disabled=False: calls.append(disabled))
    assert cli.main(argv) == 2  # each fails on its argument, after opening the cache
    assert calls == [False], capsys.readouterr().err
    try:
        status = cli.main([argv[0], "--help"])
    except SystemExit as e:  # argparse's own --help (demo)
        status = e.code
    assert status == 0 and calls == [False]


def test_importing_cnnlab_leaves_jax_configuration_alone(tmp_path):
    code = (
        "import jax, cnnlab, cnnlab.cli, cnnlab.studies, cnnlab.train, cnnlab.compile_cache\n"
        "jax.jit(lambda x: x * 2)(1.0)\n"
        "print(jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs)"
    )
    env = {**os.environ, ENV: str(tmp_path / "cache"), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["None", "1.0"]  # JAX's own defaults
    assert not (tmp_path / "cache").exists() and not (tmp_path / "xdg").exists()


def test_run_passes_no_compile_cache_to_the_cache(tmp_path, monkeypatch):
    import cnnlab.studies as studies

    calls = []
    monkeypatch.setattr(compile_cache, "enable_from_environment", lambda disabled=False: calls.append(disabled))
    parser = argparse.ArgumentParser()
    _options.add_options(parser)
    for argv, disabled in ((["--no-compile-cache"], True), ([], False)):
        argv = ["--quick", "--out", str(tmp_path / str(disabled)), *argv]
        _runner._prepare(studies.get("conv-basics"), parser.parse_args(argv), argv)
        assert calls.pop() is disabled


def test_a_command_the_tests_start_loads_what_the_test_process_compiled(tmp_path):
    """conftest's environment (the cache, full matmul precision) reaches the processes tests start, so the
    programs there are this process's programs: one compiles, the other loads."""
    import jax.numpy as jnp
    import numpy as np

    # A NumPy input: the lambda is the only program (jnp.arange would compile one of its own). A constant new
    # to each session: no earlier session or child can have written this program.
    shift = float(np.random.default_rng().integers(1, 2**20))
    code = f"jax.jit(lambda x: jnp.tanh(x @ x.T + {shift}).sum())(np.arange(42.0, dtype=np.float32).reshape(6, 7))"
    before = jax.config.jax_persistent_cache_min_compile_time_secs
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)  # write even this small program
    try:
        ours = float(eval(code, {"jax": jax, "jnp": jnp, "np": np}))
    finally:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", before)
    child = (
        "import jax, jax.numpy as jnp, numpy as np\nfrom cnnlab import compile_cache\n"
        "compile_cache.enable_from_environment()\n"
        "hits = []\njax.monitoring.register_event_listener(lambda e, **kw: hits.append(e) if e.endswith('hits') else 0)"
        f"\nprint(float({code}), len(hits))"
    )
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    value, hits = proc.stdout.split()
    assert float(value) == ours and int(hits) == 1

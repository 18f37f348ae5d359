"""Bad options, unwritable directories and broken checkpoints end `cnnlab` in one line on
stderr and exit status 2, before anything loads data or trains."""

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest

import cnnlab.studies as experiments
from cnnlab import cli
from cnnlab.studies import _harness
from cnnlab.studies._config import StudyConfig, setting

ROOT = Path(__file__).resolve().parents[2]


@dataclasses.dataclass(frozen=True)
class _TinyConfig(StudyConfig):
    dataset: Literal["mnist"] = setting("mnist", "unused: the data are blobs")
    epochs: int = setting(1, "training epochs", minimum=1)
    batch_size: int = setting(16, "training batch size", minimum=1)
    learning_rate: float = setting(0.05, "SGD's learning rate", minimum=0)


def _one_line(capsys, argv, status=2) -> str:
    """Runs ``cnnlab ARGV``; asserts the exit status and that stderr is exactly one line."""
    got = cli.main(argv)
    err = capsys.readouterr().err
    assert got == status, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def untouched(monkeypatch):
    """Every study's ``run`` fails the test if it is called: the error must come first."""
    real_get = experiments.get

    def never(r):
        raise AssertionError(f"{r.study.name} started although its options are bad")

    monkeypatch.setattr(experiments, "get", lambda name: dataclasses.replace(real_get(name), run=never))


LR = "--set learning_rate must be a finite number; got"
SEED = "--seed must be a whole number from 0 to 4294967295; got"


@pytest.mark.parametrize("extra,words", [
    (["--set", "epochs=0"], "--set epochs must be at least 1; got 0"),
    (["--set", "epochs=2.5"], "--set epochs must be a whole number; got 2.5"),
    (["--set", "batch_size=0"], "--set batch_size must be at least 1; got 0"),
    (["--set", "batch_size=-3"], "--set batch_size must be at least 1; got -3"),
    (["--set", "learning_rate=[1,2]"], f"{LR} [1, 2]"),
    (["--set", "learning_rate=1e999"], f"{LR} inf"),
    (["--set", "learning_rate=fast"], f"{LR} 'fast'"),
    (["--set", "dataset=imagenet"], "--set dataset must be one of 'mnist', 'fashion_mnist'; got 'imagenet'"),
    (["--set", "momentum=0.9"], "--set momentum: mnist-cnn has no such setting; its settings: dataset, epochs"),
    (["--epochs", "0"], "--epochs must be at least 1; got 0"),
    (["--batch-size", "-3"], "--batch-size must be at least 1; got -3"),
    (["--dataset", "imagenet"], "--dataset must be one of 'mnist', 'fashion_mnist'; got 'imagenet'"),
    (["--seed", "99999999999999999999"], f"{SEED} 99999999999999999999"),
    (["--seed", "-1"], f"{SEED} -1"),
    (["--resume", "--overwrite"], "--overwrite replaces the checkpoints --resume continues from; give one"),
    (["--overwrite"], "--overwrite: a --quick run without --checkpoint-dir DIR writes no checkpoints to replace"),
])  # fmt: skip
def test_bad_option_is_one_line_before_anything_runs(capsys, tmp_path, untouched, extra, words):
    out = tmp_path / "out"
    line = _one_line(capsys, ["run", "mnist-cnn", "--quick", "--out", str(out), *extra])
    assert line.startswith("cnnlab run mnist-cnn: error: ")
    assert words in line
    assert not out.exists()


def test_set_checks_tuples_and_optional_counts(capsys, tmp_path, untouched):
    # latent-2d's classes default to (1, 5, 6); lenet's n_train is None (all) or a count (its --quick 1024).
    line = _one_line(capsys, ["run", "latent-2d", "--out", str(tmp_path), "--set", "classes=(1, 'a')"])
    assert "--set classes must be a tuple of whole numbers; got (1, 'a')" in line
    line = _one_line(capsys, ["run", "lenet", "--out", str(tmp_path), "--set", "n_train=0.5"])
    assert "--set n_train must be a whole number or None; got 0.5" in line


@dataclasses.dataclass(frozen=True)
class _Counted(_TinyConfig):
    n_train: int | None = setting(100, "a count whose None means all", minimum=1)


def test_set_none_only_where_the_study_allows_it(capsys, tmp_path, monkeypatch):
    # A count whose None means "all" (batchnorm's train_size) is typed int | None.
    seen = {}
    study = dataclasses.replace(TINY, config=_Counted)
    run = lambda r: seen.update(dataclasses.asdict(r.cfg))
    monkeypatch.setattr(experiments, "get", lambda name: dataclasses.replace(study, run=run))
    assert cli.main(["run", "tiny", "--quiet", "--out", str(tmp_path), "--set", "n_train=None"]) == 0
    assert seen["n_train"] is None
    capsys.readouterr()
    line = _one_line(capsys, ["run", "tiny", "--out", str(tmp_path), "--set", "learning_rate=None"])
    assert "--set learning_rate must be a finite number; got None" in line
    line = _one_line(capsys, ["run", "tiny", "--out", str(tmp_path), "--set", "n_train=2.5"])
    assert "--set n_train must be a whole number or None; got 2.5" in line


def test_set_takes_the_values_the_options_take(tmp_path, monkeypatch):
    seen = {}
    real = experiments.get("lenet")
    run = lambda r: seen.update(dataclasses.asdict(r.cfg))
    monkeypatch.setattr(experiments, "get", lambda name: dataclasses.replace(real, run=run))
    argv = ["run", "lenet", "--quiet", "--out", str(tmp_path), "--set", "epochs=3", "--set", "learning_rate=1",
            "--set", "n_train=None", "--set", "dataset=fashion_mnist"]  # fmt: skip
    assert cli.main(argv) == 0
    assert (seen["epochs"], seen["n_train"], seen["dataset"]) == (3, None, "fashion_mnist")
    assert seen["learning_rate"] == 1.0 and isinstance(seen["learning_rate"], float)


@pytest.mark.parametrize("where", ["file", "under a file", "/proc"])
def test_checkpoint_dir_that_cannot_be_written(capsys, tmp_path, untouched, where):
    blocker = tmp_path / "file"
    blocker.write_text("")
    ckpt = {"file": blocker, "under a file": blocker / "ck", "/proc": Path("/proc/cnnlab-test/ck")}[where]
    argv = ["run", "mnist-cnn", "--quick", "--out", str(tmp_path / "o"), "--checkpoint-dir", str(ckpt)]
    line = _one_line(capsys, argv)
    assert f"error: --checkpoint-dir {ckpt}: " in line
    assert ("is a file, not a directory" if where == "file" else "cannot write there") in line


def test_out_that_is_a_file(capsys, tmp_path, untouched):
    blocker = tmp_path / "file"
    blocker.write_text("")
    line = _one_line(capsys, ["run", "mnist-cnn", "--quick", "--out", str(blocker)])
    assert f"error: --out {blocker}: is a file, not a directory" in line


@pytest.mark.parametrize("where", ["/proc", "file"])
def test_demo_out_that_cannot_be_written(capsys, tmp_path, monkeypatch, where):
    from cnnlab import demo

    monkeypatch.setattr(demo, "run", lambda out: pytest.fail("the demo ran although --out is unwritable"))
    out = Path("/proc/cnnlab-test") if where == "/proc" else tmp_path / "file"
    if where == "file":
        out.write_text("")
    line = _one_line(capsys, ["demo", "--out", str(out)])
    assert line.startswith(f"cnnlab demo: error: --out {out}: ")


# -- checkpoints: a tiny study that trains in a second ---------------------------------------


def _tiny(r):
    from flax import nnx

    from tests.train._models import Softmax, blobs

    model = Softmax(64, 3, rngs=nnx.Rngs(r.seed))
    optimizer = {"name": "sgd", "learning_rate": r.cfg.learning_rate}
    r.fit(model, blobs(16), loss="softmax_cross_entropy", optimizer=optimizer)
    r.data_info.update(name="blobs", source="tests.train._models.blobs", n_train=16)


TINY = _harness.Study("tiny", "softmax regression, one step", _tiny, config=_TinyConfig)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run of TINY with checkpoints: (its checkpoint dir, a copy whose arrays are deleted)."""
    root = tmp_path_factory.mktemp("tiny")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(experiments, "get", lambda name: TINY)
        assert cli.main(["run", "tiny", "--quiet", "--out", str(root / "o"), "--checkpoint-dir", str(root / "ck")]) == 0
    shutil.copytree(root / "ck", root / "damaged")
    (step,) = (root / "damaged" / "model").iterdir()
    for d in step.glob("state/**/d"):
        shutil.rmtree(d)  # the arrays' data files: metadata intact, contents gone
    return root / "ck", root / "damaged"


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(experiments, "get", lambda name: TINY)


def test_existing_checkpoints_without_resume_are_refused(capsys, tmp_path, trained, tiny):
    ckpt, _ = trained
    before = sorted(p.name for p in (ckpt / "model").iterdir())
    line = _one_line(capsys, ["run", "tiny", "--quiet", "--out", str(tmp_path / "o"), "--checkpoint-dir", str(ckpt)])
    assert line.startswith("cnnlab run tiny: error: ") and str(ckpt / "model") in line
    assert sorted(p.name for p in (ckpt / "model").iterdir()) == before
    assert not (tmp_path / "o" / "metrics.json").exists()


def test_damaged_checkpoint_on_resume_is_one_line(capsys, tmp_path, trained, tiny):
    _, damaged = trained
    argv = ["run", "tiny", "--quiet", "--out", str(tmp_path / "o"), "--checkpoint-dir", str(damaged), "--resume"]
    line = _one_line(capsys, argv)
    assert line.startswith("cnnlab run tiny: error: ") and str(damaged / "model") in line
    assert not (tmp_path / "o" / "metrics.json").exists()


def test_damaged_checkpoint_in_a_real_process_prints_only_that_line(tmp_path, trained):
    # orbax's asyncio tasks log their copy of the error, and its threads call into a closed
    # event loop after the error: a real process shows whether that reaches the terminal.
    _, damaged = trained
    code = (
        "import sys; import cnnlab.studies as experiments; from cnnlab import cli; "
        "from tests.experiments.test_cli_errors import TINY; "
        "experiments.get = lambda name: TINY; sys.exit(cli.main(sys.argv[1:]))"
    )
    argv = ["run", "tiny", "--quiet", "--out", str(tmp_path / "o"), "--checkpoint-dir", str(damaged), "--resume"]
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnnlab run tiny: error: "), proc.stderr


def test_overwrite_reaches_fit_only_with_a_checkpoint_dir(tmp_path, monkeypatch, tiny):
    from cnnlab import train

    calls = []

    class Stop(Exception):
        pass

    def fake_fit(model, data, **kw):
        calls.append(kw)
        raise Stop

    monkeypatch.setattr(train, "fit", fake_fit)
    with pytest.raises(Stop):
        cli.main(["run", "tiny", "--quiet", "--out", str(tmp_path / "o"), "--checkpoint-dir", str(tmp_path / "c"),
                  "--overwrite"])  # fmt: skip
    with pytest.raises(Stop):
        cli.main(["run", "tiny", "--quiet", "--quick", "--out", str(tmp_path / "o")])  # quick: no checkpoints
    assert calls[0]["overwrite"] is True and calls[0]["resume"] is False
    assert "overwrite" not in calls[1] and "checkpoint_dir" not in calls[1]


def test_diverging_training_is_one_line_and_status_1(capsys, tmp_path, monkeypatch):
    from cnnlab import train

    def run(r):  # what fit raises when the loss turns NaN (its detection is tested in tests/train)
        raise train.NonFiniteLossError(
            "fit: the loss became nan at epoch 1, step 2 of 2; stopped.", epoch=1, step=2, history=None, checkpoint=None
        )

    monkeypatch.setattr(experiments, "get", lambda name: dataclasses.replace(TINY, run=run))
    line = _one_line(capsys, ["run", "tiny", "--quiet", "--out", str(tmp_path / "o")], status=1)
    assert line == "cnnlab run tiny: error: fit: the loss became nan at epoch 1, step 2 of 2; stopped."
    assert not (tmp_path / "o" / "metrics.json").exists()


def test_data_no_source_provides_is_one_line(capsys, tmp_path, monkeypatch):
    from cnnlab import data

    def run(r):
        raise data.DataUnavailableError("load: no source could provide mnist split 'train'. Tried:\n- files: none")

    monkeypatch.setattr(experiments, "get", lambda name: dataclasses.replace(TINY, run=run))
    line = _one_line(capsys, ["run", "tiny", "--quiet", "--out", str(tmp_path)])
    assert line == "cnnlab run tiny: error: load: no source could provide mnist split 'train'. Tried: - files: none"

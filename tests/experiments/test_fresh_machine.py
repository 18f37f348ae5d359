"""Every study's ``--quick`` finds its data on a fresh machine: nothing downloaded, no Debian dataset package.

Each study runs in this process under `tests._fresh.simulate_fresh_machine` until its first dataset is
loaded (then the test stops it: training is the other tests' business); what it loaded, and from where,
is checked. batchnorm's whole quick run under the same simulation is in ``test_batchnorm.py``.
"""

import pytest

from cnnlab import data
from cnnlab.data import sources
from cnnlab.studies import EXPERIMENTS, get
from cnnlab.studies._runner import run_study
from tests._fresh import simulate_fresh_machine


class _Loaded(Exception):
    """Raised by the recording loader once a dataset has loaded: the data selection is done."""


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    simulate_fresh_machine(monkeypatch, tmp_path)
    return tmp_path


def test_the_simulated_machine_lacks_fashion_mnist_and_cifar10(fresh):
    for name in ("fashion_mnist", "cifar10"):
        with pytest.raises(data.DataUnavailableError) as e:
            data.load(name, "train")
        tried = dict(e.value.tried)
        assert tried["tfds"].startswith(f"not prepared in {fresh / 'tfds'}")
        assert tried["download"] == "offline: CNNLAB_OFFLINE=1 is set"
        if name == "fashion_mnist":
            assert "does not exist (apt-get install dataset-fashion-mnist)" in tried["debian"]
    assert len(data.load("mnist", "test")) == 1000  # only the embedded digits remain


def _first_load(name, argv, out, monkeypatch) -> list:
    """Runs study ``name`` with ``argv`` until it has loaded a dataset; returns each load's (dataset, split, source)."""
    loads, real = [], sources.load

    def recording_load(dataset, split="train", **kw):
        ds = real(dataset, split, **kw)  # a missing dataset raises here, as it would in the study
        loads.append((dataset, split, ds.source))
        raise _Loaded

    monkeypatch.setattr(sources, "load", recording_load)
    monkeypatch.setattr(data, "load", recording_load)
    with pytest.raises(_Loaded):
        status = run_study(get(name), [*argv, "--quiet", "--out", str(out)])
        pytest.fail(f"{name} {' '.join(argv)} exited with {status} before loading any data")
    return loads


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_quick_run_selects_data_that_is_here(fresh, monkeypatch, name):
    (dataset, split, source), *_ = _first_load(name, ["--quick"], fresh / "out", monkeypatch)
    # On a fresh machine the only images are the embedded digits; every study's quick run must use them.
    assert dataset == "mnist", (name, dataset, source)
    assert "5,000-digit offline MNIST subset" in source


def test_the_check_sees_a_study_whose_data_is_not_here(fresh, monkeypatch, capsys):
    # What the check above would say of batchnorm before it fell back: Fashion-MNIST asked for by name.
    with pytest.raises(pytest.fail.Exception, match="batchnorm --quick --dataset fashion_mnist exited with 2"):
        _first_load("batchnorm", ["--quick", "--dataset", "fashion_mnist"], fresh / "out", monkeypatch)
    assert "dataset 'fashion_mnist' is not available here" in capsys.readouterr().err

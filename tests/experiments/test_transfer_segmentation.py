"""`transfer-segmentation`: seed 002's VGG19 segmenter, frozen then fine-tuned, end to end under --quick
(offline canvases; a Keras weights file; tfds's mock Oxford-IIIT Pet); its settings' errors."""

import os
import time

import numpy as np
import pytest

from cnnlab.studies import _runner
from cnnlab.studies import transfer_segmentation as ts
from tests.experiments._checks import check_run, run_quick

SPLITS = ("train", "validation", "test")
NUMBERS = tuple(f"{p}_{s}_{k}" for p in ("frozen", "fine_tuned") for s in SPLITS for k in ("loss", "accuracy"))


def _decoder_params(w: int) -> int:
    """Hand count of seed 002's decoder after block5_conv2 at block-1 width ``w``: Conv2DTranspose
    layers 8w->4w, 4w->2w, 2w->2w, 2w->w, w->w/2 (3x3), w/2->w/4 (3x3), w/4->1 (1x1), each with a bias."""
    chans = [(8 * w, 4 * w), (4 * w, 2 * w), (2 * w, 2 * w), (2 * w, w), (w, w // 2), (w // 2, w // 4)]
    return sum(9 * a * b + b for a, b in chans) + (w // 4 + 1)


def _encoder_params(w: int) -> int:
    """Hand count of VGG19 up to block5_conv2 at block-1 width ``w``: 3x3 convolutions with biases."""
    chans = [(3, w), (w, w), (w, 2 * w), (2 * w, 2 * w), (2 * w, 4 * w), *[(4 * w, 4 * w)] * 3, (4 * w, 8 * w)]
    chans += [(8 * w, 8 * w)] * 5  # block4_conv2..4, block5_conv1..2
    return sum(9 * a * b + b for a, b in chans)


def test_quick_run_trains_frozen_then_fine_tuned_and_reports_every_split(tmp_path):
    start = time.process_time()
    record = run_quick(ts.STUDY, tmp_path)
    cpu = time.process_time() - start
    check_run(tmp_path, "transfer-segmentation", metrics=NUMBERS + ("background_baseline",), data_name="mnist")
    m, cfg = record["metrics"], record["config"]
    assert (cfg["arch"], cfg["up_to"], cfg["batch_size"]) == ("vgg19", "block5_conv2", 32)  # the seed's
    # Phase 1 trained the decoder only, and the encoder stayed bit for bit as it was.
    assert m["encoder_unchanged_while_frozen"] is True
    assert m["trainable_params_frozen_phase"] == _decoder_params(cfg["width"])
    assert m["frozen_params"] == _encoder_params(cfg["width"])
    assert [len(record["history"][t]) for t in ("frozen", "fine-tuned")] == [cfg["epochs"], cfg["finetune_epochs"]]
    assert 0 < m["background_baseline"] < 1
    for k in NUMBERS:
        assert 0 <= m[k] <= 1 if k.endswith("accuracy") else m[k] > 0
    # fine-tuning goes on from where the frozen phase stopped: lower training loss
    assert m["fine_tuned_train_loss"] < m["frozen_train_loss"]
    report = (tmp_path / "report.md").read_text()
    assert "| phase | train | validation | test |" in report
    assert "not pretrained and this run is not transfer learning" in report
    assert "stayed bit for bit the same" in report
    assert {f["file"] for f in record["figures"]} == {"regions.png", "curves.png"}
    assert set(record["models"]) == {"frozen", "fine-tuned"}
    # the quick run's budget: well under a minute of CPU on two cores (compilation included)
    assert cpu < 60, f"--quick took {cpu:.0f} s of CPU"


def _block1_weights(tmp_path):
    """A legacy-layout weights file of VGG's first block (Keras's own writer), and its kernels."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    L = keras.layers
    convs = [L.Conv2D(64, 3, padding="same", activation="relu", name=f"block1_conv{i}") for i in (1, 2)]
    model = keras.Sequential([keras.Input((32, 32, 3)), *convs])
    path = tmp_path / "vgg19_block1.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return path, [np.asarray(c.kernel.value) for c in convs]


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_a_keras_weights_file_is_loaded_into_the_encoder(tmp_path):
    from cnnlab import runs

    path, kernels = _block1_weights(tmp_path)
    out = tmp_path / "run"
    extra = ("--set", f"weights={path}", "--set", "width=64", "--set", "up_to=block1_pool")
    record = run_quick(ts.STUDY, out, *extra)
    report = (out / "report.md").read_text()
    assert f"Keras vgg19 weights from {path} (2 layers, block1_pool last)" in report
    assert "not transfer learning" not in report
    frozen = runs.load_model(out / record["models"]["frozen"]["path"])
    assert frozen.encoder.preprocess  # ImageNet weights expect Keras's preprocess_input
    for got, want in zip((frozen.encoder.block1_conv1, frozen.encoder.block1_conv2), kernels, strict=True):
        np.testing.assert_array_equal(np.asarray(got.kernel[...]), want)


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        (("weights=/no/such.h5", "width=64"), "--set weights=/no/such.h5: no such file"),
        ((f"weights={__file__}",), "Keras's VGG weights need width=64; got width=8"),
        (("canvas_size=40",), "block5_conv2 downsamples by 16: the image size must be a multiple of 16; got 40"),
        (("up_to=block6_conv1",), "vgg19 has no layer 'block6_conv1'"),
    ],
)
def test_bad_settings_are_one_clear_line(tmp_path, capsys, settings, words):
    argv = ["--quick", "--quiet", "--out", str(tmp_path)]
    for s in settings:
        argv += ["--set", s]
    assert _runner.run_study(ts.STUDY, argv) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if "error:" in ln]  # a data warning may come before
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in err, err


def test_pets_quick_run_under_tfds_mock(tmp_path):
    import tensorflow_datasets as tfds

    from tests.experiments.test_segmentation import _learnable_pets

    with tfds.testing.mock_data(as_data_source_fn=_learnable_pets(80)):
        record = run_quick(ts.STUDY, tmp_path, "--dataset", "oxford_iiit_pet")
    check_run(tmp_path, "transfer-segmentation", metrics=NUMBERS, data_name="oxford_iiit_pet")
    assert record["data"]["n_train"] == 64 and record["data"]["n_test"] == 32  # 64 + 16 validation of 80
    assert record["metrics"]["encoder_unchanged_while_frozen"] is True
    assert "pet and border" in (tmp_path / "report.md").read_text()

"""Seed 004's Keras model trained as the seed trains it, on the data ``cnnlab run mnist-cnn`` uses.

The seed ("MNIST with Conv2d", In [17]-[19]) compiles its network with sparse categorical
cross-entropy and ``Adam()``, fits it for 5 epochs at Keras's default batch of 32 on all
60,000 MNIST training digits, and scores 98.21% on the 10,000 test digits. Offline, cnnlab
has 5,000 real digits (4,000 train / 1,000 test); this script trains the seed's own Keras 3
model (`cnnlab.interop.reference.keras_seed004_cnn`, JAX backend) on that same split, from
several seeds, so that ``cnnlab run mnist-cnn`` (same split, same configuration) has a
like-for-like number. With ``--cnnlab`` it trains `cnnlab.models.MnistCNN()` the way the study
does, from the same seeds, and prints both.

    python benchmarks/seed004_keras.py                   # 3 seeds, the offline split
    python benchmarks/seed004_keras.py --seeds 5 --cnnlab
    python benchmarks/seed004_keras.py --data-dir D      # MNIST's IDX files in D: the seed's data
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np


def load(data_dir):
    """(x_train, y_train, x_test, y_test) as the seed has them: (N, 28, 28) floats in [0, 1], int labels."""
    from cnnlab import data

    kw = dict(data_dir=data_dir, source="files") if data_dir else {}
    train, test = data.load("mnist", "train", **kw), data.load("mnist", "test", **kw)
    scale = lambda ds: (ds.images[..., 0] / 255.0).astype(np.float32)  # noqa: E731  (x_train / 255.)
    return scale(train), train.labels.astype(np.int64), scale(test), test.labels.astype(np.int64), train.source


def keras_run(x, y, x_test, y_test, seed, epochs):
    import keras

    from cnnlab.interop import reference

    keras.utils.set_random_seed(seed)
    model = reference.keras_seed004_cnn(keras)
    model.fit(x, y, epochs=epochs, verbose=0)  # In [18]: batch 32, shuffled every epoch (Keras's defaults)
    return float(model.evaluate(x_test, y_test, verbose=0)[1])  # In [19]: [loss, acc]


def cnnlab_run(x, y, x_test, y_test, seed, epochs):
    from flax import nnx

    from cnnlab import models, train

    model = models.MnistCNN(rngs=nnx.Rngs(seed))
    loss = "softmax_cross_entropy"
    train.fit(model, (x[..., None], y), loss=loss, optimizer="adam", epochs=epochs, batch_size=32, seed=seed,
              verbose=False)  # fmt: skip
    return float(train.evaluate(model, (x_test[..., None], y_test), loss=loss)["accuracy"])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=3, help="training runs, seeds 0..N-1 (default 3)")
    p.add_argument("--epochs", type=int, default=5, help="epochs (the seed's 5)")
    p.add_argument("--data-dir", help="MNIST's IDX files (default: cnnlab's sources, offline the 5,000 digits)")
    p.add_argument("--cnnlab", action="store_true", help="also train cnnlab's MnistCNN() from the same seeds")
    args = p.parse_args()
    x, y, x_test, y_test, source = load(args.data_dir)
    print(f"data: {source}; {len(y)} training and {len(y_test)} test digits; {args.epochs} epochs, batch 32, Adam")
    runs = [("Keras 3, seed 004's model", keras_run)] + ([("cnnlab MnistCNN()", cnnlab_run)] if args.cnnlab else [])
    for name, fn in runs:
        t0, accs = time.perf_counter(), []
        for seed in range(args.seeds):
            accs.append(fn(x, y, x_test, y_test, seed, args.epochs))
            print(f"  {name}, seed {seed}: test accuracy {accs[-1]:.4f}", flush=True)
        spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"{name}: mean {statistics.mean(accs):.4f} (sd {spread:.4f}, min {min(accs):.4f}, "
              f"max {max(accs):.4f}) over {len(accs)} seeds, {time.perf_counter() - t0:.0f} s")  # fmt: skip
    print("seed 004's own number (60,000 training, 10,000 test digits, In [19]): 0.9821")


if __name__ == "__main__":
    main()

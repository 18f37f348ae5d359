"""Seed and learning-rate sweeps: `train.fit_many` (N members in one vmapped program)
against N `train.fit` runs in turn, the way a sweep is written without it.

`models.MnistCNN` with adam on Fashion-MNIST. For each sweep size N and batch size: the
images per second of the whole sweep (N x images per epoch over the epoch's time; for
the runs in turn, the sum of their epoch times), the best of ``--repeats`` epochs after a
first one that compiles; the compilation (first epoch minus a timed one); and the peak
resident memory. Each configuration runs in its own process, so the peak is its own.
The ratio is fit_many's throughput over the runs in turn (above 1: fit_many is faster).

    python benchmarks/many.py                                # N = 1, 2, 4, 8; batches 32 and 128
    python benchmarks/many.py --members 4 16 --batches 128 --examples 12800
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys

import jax
import numpy as np
from flax import nnx

from cnnlab import data, models, train

KW = dict(loss="softmax_cross_entropy", optimizer="adam")


#: ``--data-dir``: Fashion-MNIST's IDX files, where neither tfds nor Debian's package has them.
DATA_DIR = None


def _child(mode: str, members: int, batch: int, examples: int, repeats: int) -> dict:
    ds = data.load("fashion_mnist", data_dir=DATA_DIR)
    x, y = ds.images[:examples], ds.labels[:examples]
    images = (len(x) // batch) * batch
    epochs = 1 + repeats
    if mode == "many":
        _, hists = train.fit_many(lambda rngs: models.MnistCNN(rngs=rngs), list(range(members)), (x, y),
                                  epochs=epochs, batch_size=batch, **KW)  # fmt: skip
        times = np.asarray(hists[0]["time_s"])  # one epoch of every member
        steady, first = float(times[1:].min()), float(times[0])
    else:
        steadies, firsts = [], []
        for seed in range(members):
            h = train.fit(models.MnistCNN(rngs=nnx.Rngs(seed)), (x, y), epochs=epochs, batch_size=batch, seed=seed,
                          verbose=False, **KW)  # fmt: skip
            times = np.asarray(h["time_s"])
            steadies.append(float(times[1:].min()))
            firsts.append(float(times[0]))
        # Later runs reuse the first one's compiled epoch: the sweep compiles once.
        steady, first = sum(steadies), firsts[0] + sum(steadies[1:])
    return {
        "images_per_s": members * images / steady,
        "compile_s": max(first - steady, 0.0),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _run_child(*args) -> dict:
    cmd = [sys.executable, __file__, "--child", *map(str, args)] + (["--data-dir", DATA_DIR] if DATA_DIR else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, nargs="+", default=[1, 2, 4, 8], help="sweep sizes N")
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--examples", type=int, default=6400, help="training images per epoch")
    parser.add_argument("--repeats", type=int, default=2, help="timed epochs after the first; the best is reported")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)  # internal: mode members batch examples repeats
    parser.add_argument("--data-dir", help="directory of Fashion-MNIST's IDX files (else tfds or Debian's package)")
    args = parser.parse_args()
    global DATA_DIR
    DATA_DIR = args.data_dir
    if args.child:
        mode, *rest = args.child
        print(json.dumps(_child(mode, *map(int, rest))))
        return
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__} "
        f"({jax.default_backend()}), MnistCNN + adam, {args.examples} Fashion-MNIST images per epoch; "
        f"best of {args.repeats} epochs after the first (which compiles); each configuration in its own process"
    )
    for batch in args.batches:
        print(f"\nbatch {batch}")
        print("| N | fit_many images/s | fit in turn images/s | fit_many / in turn | compile s (many / in turn) "
              "| peak RSS MB (many / in turn) |")  # fmt: skip
        print("| ---: | ---: | ---: | ---: | ---: | ---: |")
        for n in args.members:
            many = _run_child("many", n, batch, args.examples, args.repeats)
            seq = _run_child("seq", n, batch, args.examples, args.repeats)
            print(
                f"| {n} | {many['images_per_s']:.0f} | {seq['images_per_s']:.0f} | "
                f"{many['images_per_s'] / seq['images_per_s']:.2f} | {many['compile_s']:.1f} / {seq['compile_s']:.1f} "
                f"| {many['peak_rss_mb']:.0f} / {seq['peak_rss_mb']:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()

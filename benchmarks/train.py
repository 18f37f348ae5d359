"""Training throughput: cnnlab.train.fit against PyTorch eager, Keras 3 fit and plain Flax NNX.

The Keras-tutorial MNIST CNN (`cnnlab.models.MnistCNN(activation="relu")`, cnnlab's ReLU
variant of seed 004's network, the one every peer below writes: conv3x3 32 same relu, max2,
conv3x3 16 same relu, max2, dense 10; 12,794 parameters) trained with adam on
Fashion-MNIST, the best of three timed epochs per framework after one warm-up epoch
(which compiles), at batch 32 and 128. Reported as images per second and as cnnlab's
throughput over each peer's (above 1: cnnlab is faster).

With ``--parity``, accuracy instead: each framework trained for one epoch on all 60,000
images from several seeds, test accuracy on all 10,000 test images, mean and spread per
framework and cnnlab's difference to each with its standard error.

- cnnlab scan: `train.fit` (one compiled `lax.scan` per epoch);
- cnnlab per-step: `train.fit(per_step=True)`;
- Flax NNX per-step: `nnx.Conv`/`nnx.Linear`, `nnx.Optimizer`, an `nnx.jit` step in a
  Python loop (flax's examples/mnist style), same data on the device;
- Keras 3 fit: the same `Sequential` on the JAX backend, `model.fit(epochs=1)`;
- PyTorch eager: the same network in NCHW, `torch.optim.Adam`, a Python loop.

    python benchmarks/train.py                      # 6,400 images, batches 32 and 128
    python benchmarks/train.py --examples 60000 --batches 128
    python benchmarks/train.py --examples 20000 --batches 32 --rounds 3  # medians of 3 rounds
    python benchmarks/train.py --parity --seeds 10  # test accuracy after 1 epoch, 10 seeds each
    python benchmarks/train.py --data-dir DIR       # Fashion-MNIST's IDX files in DIR

On a GPU, JAX's peers run on it and PyTorch uses CUDA when its build has it; a peer that
cannot run there (no PyTorch installed) is reported as unavailable with its error, and
the table says which device each peer ran on.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from cnnlab import data, models, train


def _cnnlab(x, y, batch, seed, epochs, per_step):
    model = models.MnistCNN(activation="relu", rngs=nnx.Rngs(seed))  # the peers' ReLU network
    hist = train.fit(
        model,
        (x, y),
        loss="softmax_cross_entropy",
        optimizer="adam",
        epochs=epochs,
        batch_size=batch,
        per_step=per_step,
        seed=seed,
        verbose=False,
    )
    return hist["time_s"], lambda xs: np.asarray(train.predict(model, xs))


class _FlaxCNN(nnx.Module):
    def __init__(self, rngs, keras_init=False):
        # Flax's default kernels are lecun-normal; keras_init draws glorot-uniform ones, as
        # Keras and cnnlab do (biases are zero in all three), for like-for-like accuracy.
        kw = {"kernel_init": nnx.initializers.glorot_uniform()} if keras_init else {}
        self.c1 = nnx.Conv(1, 32, (3, 3), padding="SAME", rngs=rngs, **kw)
        self.c2 = nnx.Conv(32, 16, (3, 3), padding="SAME", rngs=rngs, **kw)
        self.d = nnx.Linear(7 * 7 * 16, 10, rngs=rngs, **kw)

    def __call__(self, x):
        pool = lambda h: nnx.max_pool(h, (2, 2), (2, 2))  # noqa: E731
        h = pool(nnx.relu(self.c2(pool(nnx.relu(self.c1(x))))))
        return self.d(h.reshape(h.shape[0], -1))


def _flax(x, y, batch, seed, epochs, keras_init=False):
    xd, yd = jnp.asarray(x), jnp.asarray(y)
    model = _FlaxCNN(nnx.Rngs(seed), keras_init)
    opt = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)

    @nnx.jit
    def step(model, opt, i):
        xb, yb = xd[i].astype(jnp.float32) / 255, yd[i]

        def loss(model):
            return optax.softmax_cross_entropy_with_integer_labels(model(xb), yb).mean()

        value, grads = nnx.value_and_grad(loss)(model)
        opt.update(model, grads)
        return value

    times = []
    for epoch in range(epochs):
        key = jax.random.fold_in(jax.random.key(seed), epoch)
        idx = np.asarray(data.epoch_indices(key, len(x), batch_size=batch)[0])
        t0 = time.perf_counter()
        for rows in idx:
            v = step(model, opt, rows)
        jax.block_until_ready(v)
        times.append(time.perf_counter() - t0)
    return times, lambda xs: np.asarray(nnx.jit(lambda m, a: m(a))(model, jnp.asarray(xs, jnp.float32) / 255))


def _keras(x, y, batch, seed, epochs):
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ]
    )
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    xf = x.astype(np.float32) / 255
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        model.fit(xf, y, batch_size=batch, epochs=1, verbose=0, shuffle=True)
        times.append(time.perf_counter() - t0)
    return times, lambda xs: np.asarray(model.predict(xs.astype(np.float32) / 255, batch_size=256, verbose=0))


def _torch(x, y, batch, seed, epochs):
    import torch

    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(16 * 7 * 7, 10),
    )
    device = "cuda" if torch.cuda.is_available() else "cpu"  # the data resident there, as for JAX
    net = net.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float32) / 255).to(device)
    yt = torch.from_numpy(y.astype(np.int64)).to(device)
    times = []
    for epoch in range(epochs):
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(1000 * seed + epoch)).to(device)
        t0 = time.perf_counter()
        for s in range(len(x) // batch):
            i = perm[s * batch : (s + 1) * batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xt[i]), yt[i])
            loss.backward()
            opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)

    def predict(xs):
        net.eval()
        with torch.no_grad():
            return net(torch.from_numpy(xs.transpose(0, 3, 1, 2).astype(np.float32) / 255).to(device)).cpu().numpy()

    predict.device = torch.cuda.get_device_name() if device == "cuda" else "cpu"

    return times, predict


PEERS = {
    "cnnlab scan": lambda *a: _cnnlab(*a, per_step=False),
    "cnnlab per-step": lambda *a: _cnnlab(*a, per_step=True),
    "Flax NNX per-step": _flax,
    "Flax NNX per-step, glorot init": lambda *a: _flax(*a, keras_init=True),
    "Keras 3 fit (jax)": _keras,
    "PyTorch eager": _torch,
}


#: ``--data-dir``: Fashion-MNIST's IDX files, where neither tfds nor Debian's package has them.
DATA_DIR = None


def _load(split: str):
    return data.load("fashion_mnist", split, data_dir=DATA_DIR)


def _child(peer: str, batch: int, examples: int, repeats: int = 3) -> dict:
    """Run one framework at one batch size in this process; return its measurements."""
    train_ds, test_ds = _load("train"), _load("test")
    x, y = train_ds.images[:examples], train_ds.labels[:examples]
    steps = len(x) // batch
    times, predict = PEERS[peer](x, y, batch, 0, 1 + repeats)
    logits = predict(test_ds.images[:TEST_EXAMPLES])
    acc = float(np.mean(np.argmax(logits, -1) == test_ds.labels[:TEST_EXAMPLES]))
    return {
        "images_per_s": steps * batch / min(times[1:]),  # the best timed epoch
        "first_epoch_s": times[0],  # includes compilation
        "test_accuracy": acc,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "device": getattr(predict, "device", f"{jax.devices()[0].platform}: {jax.devices()[0].device_kind}"),
    }


def _parity_child(peer: str, batch: int, seeds: int, epochs: int, first_seed: int = 0) -> dict:
    """Test accuracy of one framework after ``epochs`` on all 60,000 images, for each seed."""
    train_ds, test_ds = _load("train"), _load("test")
    accs = []
    for seed in range(first_seed, first_seed + seeds):
        _, predict = PEERS[peer](train_ds.images, train_ds.labels, batch, seed, epochs)
        logits = predict(test_ds.images)
        accs.append(float(np.mean(np.argmax(logits, -1) == test_ds.labels)))
    return {"accuracies": accs}


TEST_EXAMPLES = 5000
THROUGHPUT_PEERS = ("cnnlab scan", "cnnlab per-step", "Flax NNX per-step", "Keras 3 fit (jax)", "PyTorch eager")
PARITY_PEERS = (
    "cnnlab scan",
    "Flax NNX per-step",
    "Flax NNX per-step, glorot init",
    "Keras 3 fit (jax)",
    "PyTorch eager",
)


def _run_child(*args) -> dict:
    """One peer in its own process; ``{"error": ...}`` when it fails (e.g. no PyTorch on a GPU machine)."""
    cmd = [sys.executable, __file__, *map(str, args)]
    if DATA_DIR is not None:
        cmd += ["--data-dir", DATA_DIR]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        return {"error": lines[-1] if lines else f"exit status {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _throughput(args) -> None:
    rounds = args.rounds
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__} "
        f"({jax.default_backend()}), {args.examples} Fashion-MNIST training images, MnistCNN, adam; "
        f"best of {args.repeats} epochs after the first (which compiles), accuracy on {TEST_EXAMPLES} test images "
        f"after {1 + args.repeats} epochs; "
        "each framework in its own process"
        + (
            f"; {rounds} rounds of every framework in turn, medians reported, the ratio being the median of "
            "each round's ratio (range in brackets)"
            if rounds > 1
            else ""
        )
    )
    peers = args.peers or THROUGHPUT_PEERS
    for batch in args.batches:
        runs = [
            {
                name: _run_child(
                    "--child", name, "--batches", batch, "--examples", args.examples, "--repeats", args.repeats
                )
                for name in peers
            }
            for _ in range(rounds)
        ]
        failed = {name: r[name]["error"] for r in runs for name in peers if "error" in r[name]}
        if "cnnlab scan" in failed:
            raise SystemExit(f"cnnlab scan failed: {failed['cnnlab scan']}")
        print(f"\nbatch {batch}")
        print("| framework | images/s | cnnlab scan / it | first epoch s (compile) | test acc | peak RSS MB |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name in peers:
            if name in failed:
                print(f"| {name} | unavailable: {failed[name]} |  |  |  |  |")
                continue
            speed = np.array([r[name]["images_per_s"] for r in runs])
            # Ratios pair each framework with cnnlab's run of the same round: load that
            # drifts over minutes moves both.
            ratio = np.array([r["cnnlab scan"]["images_per_s"] / r[name]["images_per_s"] for r in runs])
            cell = f"{np.median(ratio):.2f}" + (f" [{ratio.min():.2f}-{ratio.max():.2f}]" if rounds > 1 else "")
            first = np.median([r[name]["first_epoch_s"] for r in runs])
            acc = np.median([r[name]["test_accuracy"] for r in runs])
            rss = max(r[name]["peak_rss_mb"] for r in runs)
            print(f"| {name} | {np.median(speed):.0f} | {cell} | {first:.1f} | {acc:.3f} | {rss:.0f} |")
        devices = {name: runs[0][name]["device"] for name in peers if name not in failed}
        print("devices: " + "; ".join(f"{name} on {d}" for name, d in devices.items()))


def _parity(args) -> None:
    """Accuracy parity: each framework trained from ``--seeds`` seeds on the full training set."""
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__}; "
        f"MnistCNN, adam 1e-3, {args.epochs} epoch(s) on all 60,000 Fashion-MNIST training images, "
        f"test accuracy on all 10,000 test images, seeds {args.first_seed}..{args.first_seed + args.seeds - 1}; "
        "each framework in its own process"
    )
    for batch in args.batches:
        res = {
            name: _run_child(
                "--parity-child",
                name,
                "--batches",
                batch,
                "--seeds",
                args.seeds,
                "--epochs",
                args.epochs,
                "--first-seed",
                args.first_seed,
            )
            for name in args.peers or PARITY_PEERS
        }
        bad = {name: r["error"] for name, r in res.items() if "error" in r}
        if bad:
            raise SystemExit(f"--parity: {bad}")
        res = {name: r["accuracies"] for name, r in res.items()}
        ours = np.asarray(next(iter(res.values()))) * 100
        print(f"\nbatch {batch}")
        print("| framework | test acc % (mean ± sd) | min | max | cnnlab - it (points) | per seed |")
        print("| --- | ---: | ---: | ---: | ---: | --- |")
        for name, accs in res.items():
            a = np.asarray(accs) * 100
            sd = a.std(ddof=1) if len(a) > 1 else float("nan")
            # the difference of means and its standard error (independent runs)
            diff = ours.mean() - a.mean()
            se = np.sqrt(ours.var(ddof=1) / len(ours) + a.var(ddof=1) / len(a)) if len(a) > 1 else float("nan")
            cell = "" if name == next(iter(res)) else f"{diff:+.2f} ± {se:.2f}"
            print(
                f"| {name} | {a.mean():.2f} ± {sd:.2f} | {a.min():.2f} | {a.max():.2f} | {cell} "
                f"| {', '.join(f'{v:.2f}' for v in a)} |"
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=6400, help="training images per epoch (throughput)")
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs after the first; the best is reported")
    parser.add_argument(
        "--rounds", type=int, default=1, help="run every framework this many times in turn; medians reported"
    )
    parser.add_argument(
        "--parity", action="store_true", help="accuracy parity instead of throughput: full training set, several seeds"
    )
    parser.add_argument("--seeds", type=int, default=5, help="seeds per framework (--parity)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per run (--parity)")
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed (--parity)")
    parser.add_argument(
        "--peers",
        nargs="+",
        choices=list(PEERS),
        help="frameworks to run (default: all five for throughput, with Flax's glorot-init variant for --parity); "
        "cnnlab scan first",
    )
    parser.add_argument("--data-dir", help="directory of Fashion-MNIST's IDX files (else tfds or Debian's package)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: run one peer, print JSON
    parser.add_argument("--parity-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    global DATA_DIR
    DATA_DIR = args.data_dir
    if args.peers and args.peers[0] != "cnnlab scan" and not (args.child or args.parity_child):
        parser.error(f"--peers must start with 'cnnlab scan' (the ratios are against it); got {args.peers}")
    if args.child:
        print(json.dumps(_child(args.child, args.batches[0], args.examples, args.repeats)))
    elif args.parity_child:
        print(json.dumps(_parity_child(args.parity_child, args.batches[0], args.seeds, args.epochs, args.first_seed)))
    elif args.parity:
        _parity(args)
    else:
        _throughput(args)


if __name__ == "__main__":
    main()

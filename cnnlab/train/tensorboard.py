"""`TensorBoard`: `fit`'s and `fit_many`'s epoch records as TensorBoard scalars.

The event files are written by tensorboardX, a maintained standalone writer (numpy,
packaging and protobuf; no TensorFlow, no PyTorch), installed by the optional extra
``pip install 'cnnlab[tensorboard]'``. It is imported when a `TensorBoard` is made, so
``import cnnlab.train`` works without it.
"""

import numbers
import os
from collections.abc import Sequence

__all__ = ["TensorBoard"]

_EXTRA = "pip install 'cnnlab[tensorboard]'"
# tensorboardX's flush() flushes the file but not the events still queued for its writer
# thread, which writes them and flushes again every flush_secs: that is the delay to disk.
_FLUSH_SECS = 1


class TensorBoard:
    """An ``on_epoch`` callback that writes each epoch's record as TensorBoard scalars.

    Every number in a record except ``epoch`` (``loss``, ``accuracy``, ``val_loss``,
    ``val_accuracy``, ``time_s``, ``examples_per_s``, ...) becomes a scalar whose tag is
    its History key and whose step is the record's 1-based ``epoch``. Values are stored as
    float32 (TensorBoard's ``simple_value``). NaN and inf are written as they are, not
    skipped, so a member that `fit_many` froze (its training records are NaN) shows as
    such; tensorboardX logs "NaN or Inf found in input tensor." for each. Values that are
    not real numbers are not written (records hold none today). tensorboardX writes from a
    background thread, here told to flush every second (its default is two minutes), and
    each epoch ends with a flush, so an epoch's scalars are on disk within about a second
    of its end: a running ``tensorboard --logdir`` (which reloads every 5 s) follows along.

    One *run* (a directory of event files, one curve per tag in TensorBoard) per model:

    - ``fit``: ``logdir/tag``, or ``logdir`` itself without ``tag``;
    - ``fit_many``: ``logdir/tag/<member>`` for each name in ``members``: an int ``s``
      is named ``seed_s``, a string as it is (``"lr_0.01"`` for a rate sweep on one seed).

    So a study training several models writes one `TensorBoard` per model into one
    ``logdir`` with different tags (``"lenet"``, ``"improved"``), and
    ``tensorboard --logdir logdir`` draws them on the same charts.

    Args:
      logdir: the root directory; created if missing.
      tag: one directory name for this model's run(s) under ``logdir``, or None.
      members: for `fit_many`: one name per member, in the order of its ``seeds``
        (usually the seeds themselves). None for `fit`.

    Raises:
      ImportError: tensorboardX is not installed (``pip install 'cnnlab[tensorboard]'``).
      NotADirectoryError: ``logdir`` (or a run directory in it) is a file.
      ValueError: ``tag`` or a member name is not one directory name, or two members
        have the same name.

    Calling it returns None, so it never stops training; to stop early too, combine:
    ``on_epoch=lambda r: tb(r) or r["val_accuracy"] >= 0.92``. It is a context manager;
    `close` it (or leave the ``with``) to finish the files.

    Example:
      >>> from cnnlab import train
      >>> with train.TensorBoard("runs/study", tag="lenet") as tb:  # doctest: +SKIP
      ...     train.fit(model, ds, loss="softmax_cross_entropy", optimizer="adam",
      ...               epochs=10, batch_size=64, val_data=val, on_epoch=tb)
      >>> with train.TensorBoard("runs/study", tag="lenet_seeds", members=[0, 1, 2]) as tb:  # doctest: +SKIP
      ...     train.fit_many(make_model, [0, 1, 2], ds, loss="softmax_cross_entropy",
      ...                    optimizer="adam", epochs=10, batch_size=64, on_epoch=tb)
    """

    def __init__(
        self, logdir: str | os.PathLike, *, tag: str | None = None, members: Sequence[int | str] | None = None
    ):
        try:
            from tensorboardX import SummaryWriter
        except ImportError as e:
            raise ImportError(f"TensorBoard: needs tensorboardX, an optional extra of cnnlab: {_EXTRA}") from e
        root = os.fspath(logdir)
        if tag is not None:
            root = os.path.join(root, _dir_name("tag", tag))
        if members is None:
            self.runs = {None: root}
        else:
            names = [f"seed_{m}" if isinstance(m, numbers.Integral) and not isinstance(m, bool) else m for m in members]
            for name in names:
                _dir_name("a member name", name)
            if not names or len(set(names)) != len(names):
                raise ValueError(
                    f"TensorBoard: members must name each member once, e.g. fit_many's seeds; got {list(members)!r}"
                    " (for a rate sweep on one seed, name them by rate: ['lr_0.1', 'lr_0.01'])"
                )
            self.runs = {name: os.path.join(root, name) for name in names}
        for path in self.runs.values():
            _make_dir(path)
        self._writers = [SummaryWriter(logdir=path, flush_secs=_FLUSH_SECS) for path in self.runs.values()]
        self.closed = False

    def __call__(self, record: dict | Sequence[dict]) -> None:
        """Writes one epoch: `fit`'s record (a dict) or `fit_many`'s records (a list, one per member)."""
        if self.closed:
            raise RuntimeError(f"TensorBoard: called after close(); runs {list(self.runs.values())}")
        many = not isinstance(record, dict)
        if many and None in self.runs:
            raise ValueError(
                f"TensorBoard: got a list of {len(record)} records (fit_many), but it was made without members; "
                "pass members=seeds"
            )
        if not many and None not in self.runs:
            raise ValueError(f"TensorBoard: got one record (fit), but it was made with members={list(self.runs)}")
        records = list(record) if many else [record]
        if len(records) != len(self._writers):
            raise ValueError(
                f"TensorBoard: got {len(records)} records, but members names {len(self._writers)}: {list(self.runs)}"
            )
        for r in records:
            if "epoch" not in r:
                raise ValueError(f"TensorBoard: a record has no 'epoch' to use as the step; keys {sorted(r)}")
        for writer, r in zip(self._writers, records):
            for key, value in r.items():
                if key != "epoch" and isinstance(value, numbers.Real) and not isinstance(value, bool):
                    writer.add_scalar(key, float(value), int(r["epoch"]))
            writer.flush()

    def close(self) -> None:
        """Flushes and closes the event files; calling it again does nothing."""
        if not self.closed:
            for writer in self._writers:
                writer.close()
            self.closed = True

    def __enter__(self) -> "TensorBoard":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TensorBoard({list(self.runs.values())}{', closed' if self.closed else ''})"


def _dir_name(what: str, name) -> str:
    """``name`` if it is one directory name, else ValueError."""
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or os.sep in name:
        raise ValueError(f"TensorBoard: {what} must be one directory name (no '/'); got {name!r}")
    return name


def _make_dir(path: str) -> None:
    """``os.makedirs``, with the file in the way named when there is one."""
    try:
        os.makedirs(path, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as e:
        blocker = path
        while blocker and not os.path.exists(blocker):
            blocker = os.path.dirname(blocker)
        raise NotADirectoryError(
            f"TensorBoard: cannot make the run directory {path}: {blocker} is a file; logdir must be a directory "
            "(it is created if missing)"
        ) from e

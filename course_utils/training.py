"""Training several models the same way and comparing them in one table."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import keras
import numpy as np
import pandas as pd


class EpochTimer(keras.callbacks.Callback):
    """Records the wall-clock seconds of every epoch in ``self.seconds``."""

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def seconds_per_epoch(seconds: Sequence[float]) -> float:
    """Typical epoch time: the mean without the first epoch (which also builds and compiles)."""
    if not seconds:
        raise ValueError("no epochs were timed")
    steady = seconds[1:] if len(seconds) > 1 else seconds
    return float(np.mean(steady))


def num_samples(x: Any) -> int:
    """Number of samples in model inputs: an array, or a list/tuple/dict of arrays (multi-input)."""
    if isinstance(x, Mapping):
        x = list(x.values())
    if isinstance(x, (list, tuple)):
        if not x:
            raise ValueError("the inputs are an empty list or dict")
        sizes = {len(part) for part in x}
        if len(sizes) != 1:
            raise ValueError(
                f"the model's inputs have different numbers of samples: {sorted(sizes)}"
            )
        return sizes.pop()
    return len(x)


def _step_prefix(step: int | None, total: int | None) -> str:
    if step is None:
        return ""
    return f"[{step}/{total}] " if total is not None else f"[{step}] "


@contextmanager
def announce(
    name: str, step: int | None = None, total: int | None = None, verbose: int | None = None
) -> Iterator[dict[str, Any]]:
    """Print a header line before a long step and its elapsed seconds after it.

    ``with announce("LeNet-5", 2, 3): model.fit(..., verbose=profile.verbose)`` prints
    ``[2/3] LeNet-5 ...``, then Keras' epoch lines, then ``[2/3] LeNet-5: done in 41.2 s``, so
    the epoch lines of a loop of trainings say which run they belong to. Put a result in the
    yielded dict under ``"result"`` to have it printed on the last line.
    ``verbose=0`` prints nothing (pass ``profile.verbose``: quiet in CI); ``None`` prints.
    """
    quiet = verbose == 0
    prefix = _step_prefix(step, total)
    if not quiet:
        print(f"{prefix}{name} ...", flush=True)
    start = time.perf_counter()
    info: dict[str, Any] = {}
    yield info
    if not quiet:
        result = f", {info['result']}" if info.get("result") else ""
        print(f"{prefix}{name}: done in {time.perf_counter() - start:.1f} s{result}", flush=True)


def _metric_key(metric: Any) -> str:
    return metric if isinstance(metric, str) else getattr(metric, "name", str(metric))


def compare_models(
    builders: Mapping[str, Callable[[], keras.Model]],
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    epochs: int,
    loss: Any,
    optimizer: str | Callable[[], keras.optimizers.Optimizer] = "adam",
    metric: Any = "accuracy",
    batch_size: int = 128,
    seed: int = 42,
    verbose: int | None = None,
    return_models: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, dict[str, keras.Model]]:
    """Train every model with the same data, optimizer, epochs and seed; one row per model.

    Args:
        builders: ``{name: function that builds a new, uncompiled model}``. Functions, not
            models, so each starts from fresh weights under the same seed.
        train, validation, test: ``(x, y)`` pairs. The test pair is used once, after training.
        optimizer: a name (``"adam"``) or a function returning a new optimizer
            (``lambda: keras.optimizers.Adam(1e-4)``): optimizers keep state, never share one.
        metric: the one metric compiled, reported and maximised (e.g. ``"accuracy"``).
        verbose: ``None`` (default): one line when each model starts and one when it ends
            (``[2/3] LeNet-5: 5 epochs in 41.2 s, last val_accuracy 0.981``);
            ``1`` or ``2``: the same, plus Keras' own progress (``2``: one line per epoch);
            ``0``: quiet. Notebooks pass ``verbose=profile.verbose`` (2 for learners, 0 in CI).

    Returns:
        A DataFrame with columns ``model, parameters, seconds_per_epoch, best_val_<metric>,
        best_epoch, test_<metric>, test_loss`` (no test columns with ``test=None``).
        ``df.attrs["histories"]`` holds each model's ``history.history`` for
        :func:`course_utils.plots.plot_histories`. With ``return_models=True``, returns
        ``(df, {name: trained model})``.
    """
    if not builders:
        raise ValueError("builders is empty: pass {name: function that builds a model}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    for part, pair in (("train", train), ("validation", validation), ("test", test)):
        if part == "test" and pair is None:
            continue
        if not isinstance(pair, tuple) or len(pair) != 2 or num_samples(pair[0]) != len(pair[1]):
            raise ValueError(f"{part} must be an (x, y) pair with as many labels as samples")
    if verbose is not None and verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be None, 0, 1 or 2, got {verbose!r}")
    key = _metric_key(metric)
    for name, build in builders.items():
        if isinstance(build, keras.Model) or not callable(build):
            raise TypeError(
                f"builders[{name!r}] must be a function that builds the model (e.g. `lambda: "
                "make_cnn()`), "
                "so every model starts from fresh weights under the same seed"
            )
    rows, histories, models = [], {}, {}
    for step, (name, build) in enumerate(builders.items(), start=1):
        prefix = _step_prefix(step, len(builders)) if len(builders) > 1 else ""
        if verbose != 0:
            print(f"{prefix}{name}: training {epochs} epochs ...", flush=True)
        start = time.perf_counter()
        keras.utils.set_random_seed(seed)
        model = build()
        model.compile(
            optimizer=optimizer() if callable(optimizer) else optimizer, loss=loss, metrics=[metric]
        )
        timer = EpochTimer()
        history = model.fit(
            *train,
            validation_data=validation,
            epochs=epochs,
            batch_size=batch_size,
            callbacks=[timer],
            verbose=verbose or 0,
        )
        val_key = f"val_{key}"
        if val_key not in history.history:
            raise ValueError(f"history has no {val_key!r}; it has {sorted(history.history)}")
        val = history.history[val_key]
        if verbose != 0:
            print(
                f"{prefix}{name}: {epochs} epochs in {time.perf_counter() - start:.1f} s, "
                f"last {val_key} {val[-1]:.4g}",
                flush=True,
            )
        row = {
            "model": name,
            "parameters": model.count_params(),
            "seconds_per_epoch": round(seconds_per_epoch(timer.seconds), 3),
            f"best_val_{key}": float(np.max(val)),
            "best_epoch": int(np.argmax(val)) + 1,
        }
        if test is not None:
            test_loss, test_metric = model.evaluate(*test, batch_size=batch_size, verbose=0)
            row.update({f"test_{key}": float(test_metric), "test_loss": float(test_loss)})
        rows.append(row)
        histories[name] = history.history
        models[name] = model
    table = pd.DataFrame(rows)
    table.attrs["histories"] = histories
    return (table, models) if return_models else table

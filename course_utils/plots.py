"""Plots the notebooks share. Each returns its matplotlib ``Figure`` and never blocks.

In a notebook the figure is shown when the cell ends; finish the line with ``;`` (or assign
the result) so it is not shown a second time as the cell's value. Every figure has a title:
pass ``title=`` to say what it shows, or get a default one. Epoch axes count from 1 in whole
epochs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def _history_dict(history: Any) -> dict[str, list[float]]:
    """Accept a Keras ``History`` or a plain ``{name: [values per epoch]}`` dict."""
    values = getattr(history, "history", history)
    if not isinstance(values, Mapping) or not values:
        raise ValueError(
            "Pass the History that model.fit() returned (or its .history dict); "
            "got an empty or unknown object."
        )
    return {str(k): list(v) for k, v in values.items()}


def _pick_metric(hist: Mapping[str, Sequence[float]], metric: str | None) -> str | None:
    if metric is not None:
        if metric not in hist:
            raise ValueError(
                f"metric {metric!r} is not in the history; it has: {', '.join(sorted(hist))}"
            )
        return metric
    candidates = [
        k for k in hist if not k.startswith("val_") and k not in ("loss", "learning_rate")
    ]
    return candidates[0] if candidates else None


#: Metric names (or parts of names) for which smaller values are better.
LOWER_IS_BETTER = (
    "loss",
    "error",
    "mae",
    "mse",
    "rmse",
    "msle",
    "mape",
    "crossentropy",
    "hinge",
    "poisson",
    "divergence",
)


def lower_is_better(metric: str) -> bool:
    """Is a smaller ``metric`` better (losses, errors) rather than a larger one (accuracy, AUC)?"""
    name = metric.lower().removeprefix("val_")
    return any(part in name for part in LOWER_IS_BETTER)


def _label_epoch_axes(ax: Any, ylabel: str) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epoch 1, 2, 3, never 1.5
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()


def plot_history(history: Any, metric: str | None = None, title: str | None = None):
    """Loss and one metric per epoch, training vs validation, best validation epoch marked.

    ``title`` defaults to ``"Training history: loss and <metric> per epoch"``.
    """
    plt = _pyplot()
    hist = _history_dict(history)
    if "loss" not in hist:
        raise ValueError(f"The history has no 'loss'; it has: {', '.join(sorted(hist))}")
    metric = _pick_metric(hist, metric)
    names = ["loss"] + ([metric] if metric else [])
    fig, axes = plt.subplots(1, len(names), figsize=(5.5 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        epochs = np.arange(1, len(hist[name]) + 1)
        ax.plot(epochs, hist[name], "o-", label=f"train {name}")
        val = hist.get(f"val_{name}")
        if val is not None:
            ax.plot(epochs, val, "s--", label=f"validation {name}")
            best = int(np.nanargmin(val) if lower_is_better(name) else np.nanargmax(val))
            ax.axvline(
                best + 1, color="gray", linestyle=":", label=f"best validation (epoch {best + 1})"
            )
        _label_epoch_axes(ax, name)
    fig.suptitle(title or f"Training history: {' and '.join(names)} per epoch")
    fig.tight_layout()
    return fig


def plot_histories(
    histories: Mapping[str, Any],
    metric: str = "accuracy",
    validation: bool = True,
    title: str | None = None,
):
    """One curve per model for ``metric`` (validation by default): learning curves side by side.

    ``title`` defaults to ``"Validation <metric> per epoch"`` (``"Training ..."``).
    """
    plt = _pyplot()
    if not histories:
        raise ValueError("histories is empty: pass {model name: History or history dict}")
    key = f"val_{metric}" if validation else metric
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, history in histories.items():
        hist = _history_dict(history)
        if key not in hist:
            raise ValueError(
                f"{name!r} has no {key!r} in its history; it has: {', '.join(sorted(hist))}"
            )
        ax.plot(np.arange(1, len(hist[key]) + 1), hist[key], "o-", label=name)
    _label_epoch_axes(ax, key)
    ax.set_title(title or f"{'Validation' if validation else 'Training'} {metric} per epoch")
    fig.tight_layout()
    return fig


def show_images(
    images: np.ndarray,
    labels: Sequence[Any] | None = None,
    predictions: Sequence[Any] | None = None,
    class_names: Sequence[str] | None = None,
    ncols: int = 8,
    max_images: int = 32,
    cmap: str = "gray",
    vmin: float | None = None,
    vmax: float | None = None,
    title: str | None = None,
):
    """A grid of images titled with their labels; with ``predictions``, wrong ones in red.

    ``title``: a title over the whole grid (what the images are).
    ``images``: ``(N, H, W)``, ``(N, H, W, 1)`` or ``(N, H, W, 3)``, integers 0-255 or floats.
    One-channel images are stretched to their own range unless ``vmin``/``vmax`` fix the values
    shown as black and white (``vmin=0, vmax=255`` keeps brightness comparable between images).
    """
    plt = _pyplot()
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
        raise ValueError(
            f"images must be (N, H, W), (N, H, W, 1) or (N, H, W, 3); got shape {images.shape}"
        )
    if ncols < 1 or max_images < 1:
        raise ValueError("ncols and max_images must be positive")
    for name, seq in (("labels", labels), ("predictions", predictions)):
        if seq is not None and len(seq) != len(images):
            raise ValueError(f"{name} has {len(seq)} entries but there are {len(images)} images")
    grid_title = title
    count = min(len(images), max_images)
    if count == 0:
        raise ValueError("no images to show")
    ncols = min(ncols, count)
    nrows = -(-count // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.4 * ncols, 1.6 * nrows), squeeze=False)

    def name_of(value: Any) -> str:
        return str(class_names[int(value)]) if class_names is not None else str(value)

    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= count:
            continue
        if images.ndim == 3:
            ax.imshow(images[i], cmap=cmap, vmin=vmin, vmax=vmax)
        else:
            ax.imshow(images[i])
        title, color = "", "black"
        if labels is not None:
            title = name_of(labels[i])
        if predictions is not None:
            title = (
                f"{title}→{name_of(predictions[i])}"
                if labels is not None
                else name_of(predictions[i])
            )
            if labels is not None and predictions[i] != labels[i]:
                color = "red"
        ax.set_title(title, fontsize=9, color=color)
    if grid_title:
        fig.suptitle(grid_title)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    class_names: Sequence[str] | None = None,
    normalize: bool = False,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
):
    """Confusion matrix (rows: true class, columns: predicted), drawn by scikit-learn.

    ``title`` defaults to ``"Confusion matrix (rows: true, columns: predicted)"``;
    ``figsize`` defaults to a square of at most 6 inches (10 classes fit without filling the
    screen).
    """
    plt = _pyplot()
    from sklearn.metrics import ConfusionMatrixDisplay

    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.ndim != 1 or y_pred.ndim != 1:
        raise ValueError(
            f"y_true and y_pred must be 1-D class indices, got shapes {y_true.shape} and "
            f"{y_pred.shape} "
            "(for one-hot or probabilities use .argmax(axis=1))"
        )
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} entries and y_pred {len(y_pred)}")
    n = len(class_names) if class_names is not None else int(max(y_true.max(), y_pred.max())) + 1
    if figsize is None:
        side = min(max(0.45 * n + 1.5, 3.5), 6.0)
        figsize = (side, side)
    fig, ax = plt.subplots(figsize=figsize)
    ConfusionMatrixDisplay.from_predictions(
        y_true,
        y_pred,
        labels=list(range(n)),
        display_labels=list(class_names) if class_names is not None else None,
        normalize="true" if normalize else None,
        values_format=".2f" if normalize else "d",
        colorbar=False,
        ax=ax,
    )
    default = "Confusion matrix" + (" (rows normalized)" if normalize else "")
    ax.set_title(title or f"{default}\nrows: true class, columns: predicted")
    fig.tight_layout()
    return fig

import numpy as np
import pytest
from matplotlib.figure import Figure

from course_utils.plots import plot_confusion_matrix, plot_histories, plot_history, show_images

HISTORY = {
    "loss": [1.0, 0.6, 0.4],
    "accuracy": [0.5, 0.7, 0.8],
    "val_loss": [1.1, 0.7, 0.75],
    "val_accuracy": [0.45, 0.68, 0.66],
}


class FakeHistory:
    history = HISTORY


def test_plot_history_returns_a_figure_with_two_panels():
    fig = plot_history(FakeHistory())
    assert isinstance(fig, Figure)
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_ylabel() == "loss" and acc_ax.get_ylabel() == "accuracy"
    labels = [t.get_text() for t in acc_ax.get_legend().get_texts()]
    assert "best validation (epoch 2)" in labels
    assert "best validation (epoch 2)" in [t.get_text() for t in loss_ax.get_legend().get_texts()]


def test_plot_history_loss_only_and_regression_metric():
    assert len(plot_history({"loss": [3.0, 2.0]}).axes) == 1
    fig = plot_history(
        {
            "loss": [3.0, 2.0, 1.9],
            "mae": [1.0, 0.8, 0.7],
            "val_loss": [3, 2.5, 2.6],
            "val_mae": [1.1, 0.7, 0.9],
        }
    )
    assert fig.axes[1].get_ylabel() == "mae"
    # for an error metric the best epoch is the smallest one, not the largest
    assert "best validation (epoch 2)" in [
        t.get_text() for t in fig.axes[1].get_legend().get_texts()
    ]


@pytest.mark.parametrize(
    "name, lower",
    [
        ("loss", True),
        ("val_mae", True),
        ("mean_squared_error", True),
        ("sparse_categorical_crossentropy", True),
        ("accuracy", False),
        ("val_auc", False),
        ("precision", False),
    ],
)
def test_lower_is_better(name, lower):
    from course_utils.plots import lower_is_better

    assert lower_is_better(name) is lower


@pytest.mark.parametrize("bad", [{}, None, {"accuracy": [0.1]}])
def test_plot_history_rejects_bad_histories(bad):
    with pytest.raises(ValueError):
        plot_history(bad)


def test_plot_history_unknown_metric_lists_keys():
    with pytest.raises(ValueError, match="has: accuracy, loss"):
        plot_history(HISTORY, metric="auc")


def test_plot_histories():
    fig = plot_histories({"a": HISTORY, "b": FakeHistory()}, title="cmp")
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b"]
    with pytest.raises(ValueError, match="no 'val_auc'"):
        plot_histories({"a": HISTORY}, metric="auc")
    with pytest.raises(ValueError, match="empty"):
        plot_histories({})


@pytest.mark.parametrize("shape", [(5, 28, 28), (5, 28, 28, 1), (5, 16, 16, 3)])
def test_show_images_shapes(shape):
    images = np.random.default_rng(0).integers(0, 255, size=shape).astype(np.uint8)
    fig = show_images(images, labels=[0, 1, 2, 3, 4], ncols=3)
    assert len(fig.axes) == 6  # 2 rows x 3 columns, one left empty
    assert [ax.get_title() for ax in fig.axes[:5]] == ["0", "1", "2", "3", "4"]


def test_show_images_marks_wrong_predictions_in_red():
    images = np.zeros((3, 8, 8))
    fig = show_images(images, labels=[0, 1, 2], predictions=[0, 2, 2], class_names=["a", "b", "c"])
    titles = [(ax.get_title(), ax.title.get_color()) for ax in fig.axes]
    assert titles == [("a→a", "black"), ("b→c", "red"), ("c→c", "black")]


def test_show_images_limits_the_count():
    fig = show_images(np.zeros((100, 4, 4)), max_images=10, ncols=5)
    assert len(fig.axes) == 10


@pytest.mark.parametrize(
    "images, kwargs, message",
    [
        (np.zeros((2, 4, 4, 2)), {}, "shape"),
        (np.zeros((4, 4)), {}, "shape"),
        (np.zeros((3, 4, 4)), {"labels": [1, 2]}, "labels has 2"),
        (np.zeros((0, 4, 4)), {}, "no images"),
        (np.zeros((2, 4, 4)), {"ncols": 0}, "positive"),
    ],
)
def test_show_images_bad_input(images, kwargs, message):
    with pytest.raises(ValueError, match=message):
        show_images(images, **kwargs)


def test_confusion_matrix_counts():
    fig = plot_confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], class_names=["x", "y", "z"])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["1", "0", "0", "0", "1", "1", "0", "0", "1"]
    normalized = plot_confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], normalize=True)
    assert "0.50" in [t.get_text() for t in normalized.axes[0].texts]


def test_confusion_matrix_bad_input():
    with pytest.raises(ValueError, match="argmax"):
        plot_confusion_matrix(np.eye(3), [0, 1, 2])
    with pytest.raises(ValueError, match="3 entries"):
        plot_confusion_matrix([0, 1, 2], [0, 1])


def test_show_images_fixed_gray_range_keeps_brightness_comparable():
    dark, bright = np.full((4, 4), 40.0), np.full((4, 4), 200.0)
    dark[0, 0] = bright[0, 0] = 0.0
    fig = show_images(np.stack([dark, bright]), vmin=0, vmax=255)
    limits = [ax.images[0].get_clim() for ax in fig.axes[:2]]
    assert limits == [(0, 255), (0, 255)]
    fig = show_images(np.stack([dark, bright]))  # default: each image stretched to its own range
    assert [ax.images[0].get_clim() for ax in fig.axes[:2]] == [(0.0, 40.0), (0.0, 200.0)]


def _x_ticks(ax):
    ax.figure.canvas.draw()
    low, high = ax.get_xlim()
    return [tick for tick in ax.get_xticks() if low <= tick <= high]


def test_epoch_axes_have_integer_ticks_from_one():
    two = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.6]}
    for fig in (plot_history(two), plot_histories({"a": two}, metric="loss")):
        ticks = _x_ticks(fig.axes[0])
        assert ticks == [1.0, 2.0], ticks
        assert fig.axes[0].get_lines()[0].get_xdata().tolist() == [1, 2]


def test_history_plots_have_default_titles():
    fig = plot_history(HISTORY)
    assert fig.get_suptitle() == "Training history: loss and accuracy per epoch"
    assert plot_history(HISTORY, title="mine").get_suptitle() == "mine"
    assert plot_histories({"a": HISTORY}).axes[0].get_title() == "Validation accuracy per epoch"
    fig = plot_histories({"a": HISTORY}, metric="loss", validation=False)
    assert fig.axes[0].get_title() == "Training loss per epoch"


def test_show_images_optional_title():
    assert show_images(np.zeros((2, 4, 4)), title="two blanks").get_suptitle() == "two blanks"


def test_confusion_matrix_title_and_size():
    fig = plot_confusion_matrix(np.arange(10), np.arange(10))
    assert fig.axes[0].get_title().startswith("Confusion matrix")
    width, height = fig.get_size_inches()
    assert width == height <= 6  # ten classes fit without filling the screen
    fig = plot_confusion_matrix([0, 1], [1, 1], title="two classes", figsize=(4, 3))
    assert fig.axes[0].get_title() == "two classes"
    assert fig.get_size_inches().tolist() == [4, 3]

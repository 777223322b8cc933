import re

import keras
import numpy as np
import pandas as pd
import pytest

from course_utils.training import EpochTimer, announce, compare_models, seconds_per_epoch


def _data(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")
    return x, y


TRAIN, VAL, TEST = _data(256, 0), _data(64, 1), _data(64, 2)


def linear():
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])


def hidden():
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )


def test_compare_models_table():
    table = compare_models(
        {"linear": linear, "hidden": hidden},
        TRAIN,
        VAL,
        TEST,
        epochs=3,
        loss="sparse_categorical_crossentropy",
        optimizer=lambda: keras.optimizers.Adam(0.05),
        batch_size=32,
    )
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == [
        "model",
        "parameters",
        "seconds_per_epoch",
        "best_val_accuracy",
        "best_epoch",
        "test_accuracy",
        "test_loss",
    ]
    assert table["model"].tolist() == ["linear", "hidden"]
    assert table["parameters"].tolist() == [10, 58]
    assert (table["seconds_per_epoch"] > 0).all()
    assert (
        table["best_val_accuracy"].between(0, 1).all() and table["best_epoch"].between(1, 3).all()
    )
    # a linearly separable problem: both models learn it
    assert (table["test_accuracy"] > 0.8).all()
    histories = table.attrs["histories"]
    assert set(histories) == {"linear", "hidden"} and len(histories["linear"]["val_accuracy"]) == 3


def test_compare_models_is_reproducible_and_can_return_models():
    args = ({"linear": linear}, TRAIN, VAL, TEST)
    kwargs = dict(epochs=2, loss="sparse_categorical_crossentropy", batch_size=32)
    first, models = compare_models(*args, **kwargs, return_models=True)
    second = compare_models(*args, **kwargs)
    assert first["test_loss"].iloc[0] == pytest.approx(second["test_loss"].iloc[0], rel=1e-5)
    assert isinstance(models["linear"], keras.Model)


def test_compare_models_without_a_test_set_never_touches_it(monkeypatch):
    evaluated, original = [], keras.Model.evaluate

    def spy(self, x=None, *args, **kwargs):  # fit() calls evaluate() for the validation data too
        evaluated.append(x is TEST[0])
        return original(self, x, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "evaluate", spy)
    compare_models(
        {"linear": linear}, TRAIN, VAL, TEST, epochs=1, loss="sparse_categorical_crossentropy"
    )
    assert any(evaluated)  # the spy sees the test set when there is one...
    evaluated.clear()
    table = compare_models(
        {"linear": linear}, TRAIN, VAL, None, epochs=1, loss="sparse_categorical_crossentropy"
    )
    assert not any(evaluated)  # ...and never without one
    assert list(table.columns) == [
        "model",
        "parameters",
        "seconds_per_epoch",
        "best_val_accuracy",
        "best_epoch",
    ]


def test_compare_models_accepts_multi_input_models():
    def two_inputs():
        a, b = keras.Input((2,), name="a"), keras.Input((2,), name="b")
        merged = keras.layers.Concatenate()([keras.layers.Dense(4)(a), keras.layers.Dense(4)(b)])
        return keras.Model([a, b], keras.layers.Dense(2, activation="softmax")(merged))

    def split(pair):
        x, y = pair
        return {"a": x[:, :2], "b": x[:, 2:]}, y

    table = compare_models(
        {"two": two_inputs},
        split(TRAIN),
        split(VAL),
        split(TEST),
        epochs=1,
        loss="sparse_categorical_crossentropy",
    )
    assert table["parameters"].iloc[0] == 2 * (2 * 4 + 4) + (8 * 2 + 2)


def test_num_samples():
    from course_utils.training import num_samples

    x = np.zeros((5, 3))
    assert num_samples(x) == num_samples([x, x]) == num_samples({"a": x}) == 5
    with pytest.raises(ValueError, match="different numbers"):
        num_samples([x, x[:2]])
    with pytest.raises(ValueError, match="empty"):
        num_samples({})


def test_compare_models_rejects_models_instead_of_builders():
    with pytest.raises(TypeError, match="function that builds"):
        compare_models(
            {"m": linear()}, TRAIN, VAL, TEST, epochs=1, loss="sparse_categorical_crossentropy"
        )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(builders={}), "empty"),
        (dict(epochs=0), "epochs"),
        (dict(train=(TRAIN[0], TRAIN[1][:10])), "train must be"),
        (dict(test=TEST[0]), "test must be"),
    ],
)
def test_compare_models_bad_arguments(kwargs, message):
    args = dict(
        builders={"linear": linear},
        train=TRAIN,
        validation=VAL,
        test=TEST,
        epochs=1,
        loss="sparse_categorical_crossentropy",
    )
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        compare_models(**args)


def test_epoch_timer_records_each_epoch():
    model = linear()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    timer = EpochTimer()
    model.fit(*TRAIN, epochs=3, verbose=0, callbacks=[timer])
    assert len(timer.seconds) == 3 and all(s > 0 for s in timer.seconds)


def test_seconds_per_epoch_skips_the_first_epoch():
    assert seconds_per_epoch([5.0, 1.0, 2.0]) == 1.5
    assert seconds_per_epoch([4.0]) == 4.0
    with pytest.raises(ValueError):
        seconds_per_epoch([])


def _compare_two(**kwargs):
    return compare_models(
        {"linear": linear, "hidden": hidden},
        TRAIN,
        VAL,
        TEST,
        epochs=2,
        loss="sparse_categorical_crossentropy",
        batch_size=32,
        **kwargs,
    )


def test_compare_models_prints_one_line_per_model_by_default(capsys):
    _compare_two()
    lines = capsys.readouterr().out.splitlines()
    done = [line for line in lines if re.search(r"in \d+\.\d s", line)]
    assert len(done) == 2, lines
    for step, (line, name) in enumerate(zip(done, ["linear", "hidden"], strict=True), start=1):
        assert line.startswith(f"[{step}/2] {name}: 2 epochs in ") and "val_accuracy" in line
    # a start line per model too, so a learner sees which model is training
    assert [line for line in lines if line.endswith("...")] == [
        "[1/2] linear: training 2 epochs ...",
        "[2/2] hidden: training 2 epochs ...",
    ]
    assert len(lines) == 4  # Keras itself stays quiet


def test_compare_models_verbose_2_adds_keras_epoch_lines(capsys):
    _compare_two(verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert len([line for line in lines if re.search(r"in \d+\.\d s", line)]) == 2
    assert sum("Epoch" in line for line in lines) == 2 * 2


def test_compare_models_verbose_0_is_quiet(capsys):
    _compare_two(verbose=0)
    assert capsys.readouterr().out == ""


def test_compare_models_rejects_an_unknown_verbose():
    with pytest.raises(ValueError, match="verbose"):
        _compare_two(verbose=3)


def test_announce_frames_a_step_with_elapsed_seconds(capsys):
    with announce("run A", 1, 3) as info:
        print("Epoch 1/1")
        info["result"] = "accuracy 0.5"
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "[1/3] run A ..." and lines[1] == "Epoch 1/1"
    assert re.fullmatch(r"\[1/3\] run A: done in \d+\.\d s, accuracy 0\.5", lines[2])
    with announce("run B", verbose=0):
        pass
    assert capsys.readouterr().out == ""

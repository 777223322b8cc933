"""course_utils.cache: the one file hash and the one atomic writer."""

import hashlib
import os

import pytest

from course_utils import cache


def test_file_digest_matches_hashlib(tmp_path):
    path = tmp_path / "blob.bin"
    content = bytes(range(256)) * 5000  # more than one 1 MiB block
    path.write_bytes(content)
    assert cache.file_digest(path) == hashlib.sha256(content).hexdigest()
    assert cache.file_digest(path, "md5") == hashlib.md5(content).hexdigest()
    assert cache.sha256_hex(content) == hashlib.sha256(content).hexdigest()
    assert cache.sha256_hex("é\n") == hashlib.sha256("é\n".encode()).hexdigest()


@pytest.mark.parametrize("data", [b"bytes\r\n\x00", "text é\r\nline\n"])
def test_atomic_write_writes_exactly_what_it_is_given(tmp_path, data):
    path = tmp_path / "new" / "folder" / "file.txt"
    cache.atomic_write(path, data)
    expected = data.encode("utf-8") if isinstance(data, str) else data
    assert path.read_bytes() == expected  # no newline translation, parents created
    assert os.listdir(path.parent) == ["file.txt"]  # no temporary file left behind


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "gradebook.csv"
    path.write_text("old\n")

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(cache.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cache.atomic_write(path, "new\n")
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["gradebook.csv"]

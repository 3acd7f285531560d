"""Training checkpoints: an interrupted fit started again ends with the weights and history of an
uninterrupted one; runs never read each other's files; bad files are named."""
from __future__ import annotations

import json

import numpy as np
import pytest

from estimators.architectures import get_architecture
from estimators.checkpoint import CheckpointError, checkpoint_path, training_fingerprint
from estimators.networks import init_params, radial_grid
from estimators.training import TrainingSet, train_network

from test_training import TINY, _tiny_features, small_set  # noqa: F401 (a fixture)

EPOCHS = 4


class _Interrupt(Exception):
    pass


class _StopAfter:
    """A progress object that interrupts training after ``n`` models (like a killed process)."""

    def __init__(self, n):
        self.n, self.seen = n, 0

    def update(self, k):
        self.seen += k
        if self.seen > self.n:
            raise _Interrupt


@pytest.fixture(scope="module")
def sets(small_set):
    paths, glob = small_set
    feats = _tiny_features(paths)
    train = TrainingSet(feats, [None] * 8, glob, ["a"] * 4 + ["b"] * 4)
    val = TrainingSet(feats[2:], [None] * 6, glob[2:], ["c"] * 3 + ["d"] * 3)
    return train, val


def _train(train, val, seed=0, **kw):
    spec = get_architecture(TINY)
    params = init_params(spec, seed, np.float64)
    return train_network(params, spec, radial_grid(spec), train, xp=np, dtype=np.float64,
                         epochs=EPOCHS, batch_size=4, learning_rate=3e-3, clip_norm=1.0,
                         global_weight=1.0, random_state=seed, val=val, patience=EPOCHS,
                         rank_weight=1.0, groups_per_batch=2, lr_schedule="cosine",
                         calibrate=True, **kw)


def _same_run(a, b):
    for k in a[0]:
        np.testing.assert_array_equal(a[0][k], b[0][k], err_msg=k)
    drop = ("seconds",)
    np.testing.assert_equal([{k: v for k, v in h.items() if k not in drop} for h in a[1]],
                            [{k: v for k, v in h.items() if k not in drop} for h in b[1]])


def test_interrupted_fit_resumes_to_the_uninterrupted_result(sets, tmp_path):
    train, val = sets
    reference = _train(train, val)
    # checkpointing changes nothing
    _same_run(reference, _train(train, val, checkpoint_dir=tmp_path / "full"))
    # killed in the third epoch (two epochs saved), then started again
    folder = tmp_path / "cut"
    with pytest.raises(_Interrupt):
        _train(train, val, checkpoint_dir=folder, progress=_StopAfter(2 * len(train) + 2))
    (ckpt,) = folder.glob("train-*.npz")
    with np.load(ckpt) as z:
        assert len(json.loads(str(z["meta"][()]))["history"]) == 2
    resumed = _train(train, val, checkpoint_dir=folder, progress=_StopAfter(10 ** 9))
    _same_run(reference, resumed)
    assert len(reference[1]) == EPOCHS and "calibration_scale" in resumed[1][-1]
    # a finished run started again trains nothing (an interrupt at the first model would fire)
    again = _train(train, val, checkpoint_dir=folder, progress=_StopAfter(EPOCHS * len(train)))
    _same_run(reference, again)


def test_runs_have_their_own_files(sets, tmp_path):
    train, val = sets
    spec = get_architecture(TINY)
    p0, p1 = init_params(spec, 0, np.float64), init_params(spec, 1, np.float64)
    s = {"epochs": 2}
    fp = training_fingerprint(p0, s, train, val)
    assert fp == training_fingerprint(p0, dict(s), train, val)
    relabelled = TrainingSet(train.items, train.local, np.asarray(train.glob) * 0.5, train.groups)
    others = {training_fingerprint(p1, s, train, val), training_fingerprint(p0, {"epochs": 3},
              train, val), training_fingerprint(p0, s, relabelled, val),
              training_fingerprint(p0, s, train, None)}
    assert fp not in others and len(others) == 4
    _train(train, None, checkpoint_dir=tmp_path)
    _train(train, None, seed=1, checkpoint_dir=tmp_path)
    assert len(list(tmp_path.glob("train-*.npz"))) == 2
    assert not list(tmp_path.glob("*.part"))


def test_unusable_checkpoint_is_named(sets, tmp_path):
    train, val = sets
    _train(train, None, checkpoint_dir=tmp_path)
    (ckpt,) = tmp_path.glob("train-*.npz")
    ckpt.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=str(ckpt.name)):
        _train(train, None, checkpoint_dir=tmp_path)
    # a file under this run's name written by another run
    other = tmp_path / "other"
    _train(train, None, seed=1, checkpoint_dir=other)
    (theirs,) = other.glob("train-*.npz")
    theirs.replace(ckpt)
    with pytest.raises(CheckpointError, match="another training run"):
        _train(train, None, checkpoint_dir=tmp_path)
    assert checkpoint_path(tmp_path, "abc").name == "train-abc.npz"

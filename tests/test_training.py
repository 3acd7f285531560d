"""Training recipe: group-aware minibatches, learning-rate schedule, ranking loss, calibration,
per-group model selection, on-the-fly featurization."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.stats import spearmanr

from estimators.architectures import get_architecture
from estimators.batching import collate
from estimators.features import featurize
from estimators.networks import batch_to_device, forward, init_params, radial_grid
from estimators.training import (TrainingSet, calibrate_output, group_batches, learning_rate_at,
                                 per_group_spearman, _rank_pairs, _loss_fn, _device_targets,
                                 train_network)

from conftest import SHARED

TINY = dict(name="tiny", lmax=2, n_radial=3, sigma=2.0, r_max=8.0, r_n=12.0, d_t=10,
            n_atom_types=168, embed=4, switch=4, edge_embed=2, graph=[3, 1], leak=0.05,
            blocks=[3])


def test_group_batches_cover_each_model_once():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(7), [20, 3, 17, 8, 1, 30, 9]).astype(str)
    for gpb in (0, 1, 2, 4):
        batches = group_batches(groups, 16, gpb, rng)
        flat = np.concatenate(batches)
        assert sorted(flat.tolist()) == list(range(len(groups)))
        assert max(len(b) for b in batches) <= 16
        if gpb == 2:
            # full runs of 8: most minibatches hold exactly two groups' runs -> ranking pairs
            with_pairs = sum(any(np.sum(groups[b] == g) >= 2 for g in set(groups[b]))
                             for b in batches)
            assert with_pairs >= 0.8 * len(batches)


def test_learning_rate_schedule():
    total, peak = 1000, 1e-3
    lr = np.array([learning_rate_at(s, total, peak) for s in range(total)])
    warm = int(round(0.03 * total))
    np.testing.assert_allclose(lr[:warm], peak * np.arange(1, warm + 1) / warm)
    assert math.isclose(lr[warm], peak, rel_tol=1e-12)
    assert np.all(np.diff(lr[warm:]) <= 1e-18)
    assert math.isclose(lr[-1], 0.05 * peak, rel_tol=1e-2)
    mid = warm + (total - warm) // 2
    assert math.isclose(lr[mid], 0.05 * peak + 0.5 * 0.95 * peak, rel_tol=1e-2)
    assert learning_rate_at(5, total, peak, "constant") == peak
    with pytest.raises(ValueError, match="lr_schedule"):
        learning_rate_at(0, 10, peak, "linear")


def test_rank_pairs_only_within_groups_and_beyond_margin():
    groups = np.array(["a", "a", "b", "b", "a"])
    y = np.array([0.9, 0.5, 0.3, 0.31, np.nan])
    P = _rank_pairs(groups, y, 0.02)
    assert P.shape == (1, 5)
    np.testing.assert_array_equal(P[0], [1, -1, 0, 0, 0])


def test_per_group_spearman_matches_scipy():
    rng = np.random.default_rng(3)
    groups = np.repeat(["x", "y", "z"], [10, 12, 2])
    true = rng.uniform(size=24)
    pred = true + rng.normal(scale=0.2, size=24)
    expected = np.mean([spearmanr(pred[groups == g], true[groups == g])[0] for g in ("x", "y")])
    assert math.isclose(per_group_spearman(pred, true, groups), expected, rel_tol=1e-12)
    assert math.isnan(per_group_spearman(pred[:2], true[:2], groups[:2]))


@pytest.fixture(scope="module")
def small_set():
    folder = SHARED / "data" / "casp13" / "T1006" / "models"
    if not folder.is_dir():
        pytest.skip("CASP13 data not available")
    import json
    labels = json.loads((folder.parent / "labels.json").read_text())
    paths = sorted(folder.iterdir())[:8]
    glob = [labels[p.name]["lddt"] for p in paths]
    return [str(p) for p in paths], glob


def _tiny_features(paths):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [featurize(p, lmax=2, n_radial=3, dtype=np.float64) for p in paths]


def _tiny_batch(paths, seed):
    """(spec, float64 parameters, features, batch, device arrays) of the tiny network."""
    spec = get_architecture(TINY)
    feats = _tiny_features(paths)
    batch = collate(feats)
    return (spec, init_params(spec, seed, np.float64), feats, batch,
            batch_to_device(batch, np, np.float64))


def test_calibration_folds_into_output_layer(small_set):
    paths, glob = small_set
    spec = get_architecture(TINY)
    params = init_params(spec, 0, np.float64)
    dev = batch_to_device(collate(_tiny_features(paths[:3])), np, np.float64)
    o = forward(params, spec, dev, radial_grid(spec))
    new, (a, b) = calibrate_output(params, [0.2, 0.4, 0.6], [0.3, 0.5, 0.7])
    assert math.isclose(a, 1.0) and math.isclose(b, 0.1)
    np.testing.assert_allclose(forward(new, spec, dev, radial_grid(spec)), a * o + b, atol=1e-12)
    new, (a, b) = calibrate_output(params, [0.2, 0.4, 0.6], [0.5, 0.5, 0.5 + 1e-9])
    assert a == 0.2                                     # clipped, no collapse to a constant


def test_ranking_term_gradient_orders_a_pair(small_set):
    """The ranking term alone raises the better model's score and lowers the worse one's."""
    from autograd import grad
    paths, glob = small_set
    spec, params, feats, batch, dev = _tiny_batch(paths[:2], seed=1)
    node_y = [np.full(f.n_nodes, np.nan) for f in feats]           # no squared-error terms
    model_y = np.array([np.nan, np.nan])
    targets = _device_targets(batch, node_y, model_y, np, np.float64)
    P = np.array([[1.0, -1.0]])                                    # model 0 is the better one
    loss = _loss_fn(spec, radial_grid(spec), dev, *targets, P, 1.0, 1.0, 0.05)
    g = grad(loss)(params)
    step = {k: params[k] - 1e-3 * g[k] if k in g else params[k] for k in params}
    avg = targets[-1]
    before = avg @ forward(params, spec, dev, radial_grid(spec))
    after = avg @ forward(step, spec, dev, radial_grid(spec))
    assert (after[0] - after[1]) > (before[0] - before[1])


def test_lazy_training_set_equals_eager(small_set):
    """Featurizing per minibatch trains exactly like precomputed features."""
    paths, glob = small_set
    spec = get_architecture(TINY)
    kw = dict(lmax=2, n_radial=3, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        feats = [featurize(p, **kw) for p in paths]
        groups = np.array(["g0", "g0", "g0", "g0", "g1", "g1", "g1", "g1"])
        local = [None] * len(paths)
        eager = TrainingSet(feats, local, glob, groups)
        lazy = TrainingSet([(lambda p=p: p) for p in paths], local, glob, groups,
                           featurize=lambda s: featurize(s, **kw))
        out = []
        for data in (eager, lazy):
            params = init_params(spec, 0, np.float64)
            best, hist = train_network(
                params, spec, radial_grid(spec), data, xp=np, dtype=np.float64, epochs=2,
                batch_size=4, learning_rate=1e-3, clip_norm=1.0, global_weight=1.0,
                random_state=0, val=eager, patience=5, rank_weight=1.0, groups_per_batch=2,
                lr_schedule="cosine", calibrate=True)
            out.append((best, hist))
    for k in out[0][0]:
        np.testing.assert_array_equal(out[0][0][k], out[1][0][k])
    assert [h["loss"] for h in out[0][1]] == [h["loss"] for h in out[1][1]]
    assert "val_group_spearman" in out[0][1][0] and "calibration_scale" in out[0][1][-1]


def test_adam_skips_a_step_with_non_finite_gradients():
    # a NaN or inf gradient leaves the weights and the moments as they were (and is counted);
    # finite steps go on from there as if it had not happened
    from estimators.training import Adam
    params = {"w": np.array([1.0, -2.0]), "b": np.array([0.5])}
    good = {"w": np.array([0.1, 0.2]), "b": np.array([-0.3])}
    ref = Adam(params, learning_rate=0.1, clip_norm=1.0)
    expected = ref.step(params, good)
    for bad_value in (np.nan, np.inf):
        opt = Adam(params, learning_rate=0.1, clip_norm=1.0)
        bad = {"w": np.array([bad_value, 0.2]), "b": np.array([-0.3])}
        after = opt.step(params, bad)
        assert opt.skipped == 1 and opt.t == 0
        for k in params:
            np.testing.assert_array_equal(after[k], params[k])
            assert not opt.m[k].any() and not opt.v[k].any()
        again = opt.step(after, good)
        for k in params:
            np.testing.assert_array_equal(again[k], expected[k])
    unclipped = Adam(params, learning_rate=0.1)
    unclipped.step(params, {"w": np.array([np.nan, 0.0]), "b": np.array([0.0])})
    assert unclipped.skipped == 1


def test_within_model_term_is_the_centred_squared_error(small_set):
    """within_weight adds mean over labelled residues of (r_i - rbar_m)^2, r = o - y, rbar_m the
    mean of r over model m's labelled residues: checked against a direct computation, zero
    gradient for a common shift of all predictions, and its gradient by finite differences."""
    from autograd import grad
    paths, _ = small_set
    spec, params, feats, batch, dev = _tiny_batch(paths[:3], seed=2)
    rng = np.random.default_rng(4)
    node_y = [rng.uniform(0.2, 0.9, f.n_nodes) for f in feats]
    for y in node_y:
        y[rng.choice(len(y), 5, replace=False)] = np.nan            # unlabelled residues
    node_y[2][:] = np.nan                                            # a model without labels
    model_y = np.array([0.5, 0.6, np.nan])
    targets = _device_targets(batch, node_y, model_y, np, np.float64)
    grid = radial_grid(spec)
    base = _loss_fn(spec, grid, dev, *targets, None, 1.0, 0.0, 0.05)
    with_term = _loss_fn(spec, grid, dev, *targets, None, 1.0, 0.0, 0.05, 0.7)
    o = forward(params, spec, dev, grid)
    want, n = 0.0, 0
    for s, y in zip(batch.node_slices, node_y):
        r = (o[s] - y)[np.isfinite(y)]
        want += ((r - r.mean()) ** 2).sum() if r.size else 0.0
        n += r.size
    assert math.isclose(with_term(params) - base(params), 0.7 * want / n, rel_tol=1e-10)
    # a common shift of every prediction (the output bias) leaves the term unchanged
    term = lambda p: with_term(p) - base(p)                                      # noqa: E731
    assert abs(grad(term)(params)["mu_t"]) < 1e-12
    # its gradient along a random direction of one weight, by central differences
    key = "graph0_ws" if "graph0_ws" in params else sorted(params)[0]
    direction = rng.normal(size=np.shape(params[key]))
    g = np.sum(grad(term)(params)[key] * direction)
    h = 1e-6
    plus = dict(params, **{key: params[key] + h * direction})
    minus = dict(params, **{key: params[key] - h * direction})
    assert math.isclose(g, (term(plus) - term(minus)) / (2 * h), rel_tol=1e-5, abs_tol=1e-10)


def test_loss_weights_are_checked():
    from estimators.qa_estimator import SixDQAEstimator
    for name, value in (("within_weight", -0.1), ("rank_weight", float("nan")),
                        ("global_weight", -1)):
        with pytest.raises(ValueError, match=f"{name} must be finite and >= 0"):
            SixDQAEstimator(**{name: value}).fit(["unused.pdb"], [0.5])

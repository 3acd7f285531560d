"""SixDQAEstimator and the networks: gradients, learning, invariance, persistence, sklearn."""
import json
import warnings

import autograd.numpy as anp
import numpy as np

from fourier6d import random_rotations
import pytest
from autograd.test_util import check_grads

from estimators.architectures import get_architecture, ARCHITECTURES
from estimators.batching import collate
from estimators.features import featurize
from estimators.networks import init_params, forward, batch_to_device, radial_grid, count_params
from estimators.qa_estimator import SixDQAEstimator
from estimators.structures import read_structure

TINY = dict(name="tiny", lmax=2, n_radial=3, sigma=2.0, r_max=8.0, r_n=12.0, d_t=10,
            n_atom_types=168, embed=3, blocks=[3, 2], switch=3, edge_embed=2, graph=[3, 1], leak=0.05)


def test_architectures_are_plain_data_and_validated():
    for name in ARCHITECTURES:
        spec = get_architecture(name)
        assert json.loads(json.dumps(spec)) == spec
    with pytest.raises(ValueError, match="unknown architecture"):
        get_architecture("resnet")
    with pytest.raises(ValueError, match="graph"):
        get_architecture(dict(TINY, graph=[3, 2]))
    counts = {n: count_params(init_params(n)) for n in ARCHITECTURES}
    assert counts["baseline"] < counts["6dcnn-1"] < counts["6dcnn-2"]


@pytest.fixture(scope="module")
def tiny_batch(request):
    from conftest import SHARED
    path = SHARED / "data" / "casp13" / "T0953s1" / "models"
    if not path.exists():
        pytest.skip("shared data missing")
    s = read_structure(str(sorted(path.iterdir())[0]))
    f = featurize(s, lmax=TINY["lmax"], n_radial=TINY["n_radial"], dtype=np.float64)
    return s, f


def test_whole_network_gradient(tiny_batch):
    _, f = tiny_batch
    spec = get_architecture(TINY)
    grid = radial_grid(spec)
    dev = batch_to_device(collate([f]), np, np.float64)
    # away from the kinks of the leaky ReLUs: zero-initialised biases put some pre-activations
    # within a finite-difference step of 0, where the one-sided analytic derivative and the
    # central difference legitimately differ (about 1 in 8 random directions for graph0_b)
    rng = np.random.default_rng(7)
    params = {k: v if k == "switch_scale" else v + 0.05 * rng.standard_normal(np.shape(v))
              for k, v in init_params(spec, 0, np.float64).items()}
    np.random.seed(0)                    # check_grads draws its directions from np.random
    y = np.linspace(0.2, 0.9, dev["n_nodes"])
    keys = sorted(k for k in params if k != "switch_scale")

    def loss(*vals):
        p = dict(params)
        p.update(zip(keys, vals))
        return anp.mean((forward(p, spec, dev, grid) - y) ** 2)

    vals = [params[k] for k in keys]
    for i in range(len(keys)):
        def partial(v, i=i):
            vv = list(vals)
            vv[i] = v
            return loss(*vv)
        check_grads(partial, modes=["rev"], order=1)(vals[i])


@pytest.mark.parametrize("arch", ["6dcnn-1", "6dcnn-2"])
def test_float32_network_backward_stays_float32(tiny_batch, arch):
    # every gradient and the cotangent reaching the embedding are float32: a float64
    # cotangent anywhere (e.g. autograd's VJPs of where/einsum/mean) would run the whole
    # backward pass in float64 at twice the memory traffic
    import fourier6d.embedding as emb_mod
    from autograd import grad
    from autograd.extend import defvjp
    s, _ = tiny_batch
    spec = dict(get_architecture(arch), **{k: TINY[k] for k in ("lmax", "n_radial")})
    f = featurize(s, lmax=spec["lmax"], n_radial=spec["n_radial"], dtype=np.float32)
    dev = batch_to_device(collate([f]), np, np.float32)
    params = init_params(spec, 0, np.float32)
    y = np.linspace(0.2, 0.9, dev["n_nodes"]).astype(np.float32)
    seen = []
    original = emb_mod._vjp_emb

    def spy(ans, basis, types, emb):
        inner = original(ans, basis, types, emb)
        return lambda g: (seen.append(g.dtype), inner(g))[1]
    defvjp(emb_mod._embed, emb_mod._vjp_basis, None, spy)
    try:
        grads = grad(lambda p: anp.sum((forward(p, spec, dev, radial_grid(spec)) - y) ** 2)
                     * np.float32(1.0 / len(y)))(params)
    finally:
        defvjp(emb_mod._embed, emb_mod._vjp_basis, None, original)
    assert seen == [np.float32]
    assert {k: g.dtype for k, g in grads.items() if g.dtype != np.float32} == {}


def test_predictions_invariant_to_rigid_motion(tiny_batch, rng):
    s, f = tiny_batch
    spec = get_architecture(TINY)
    grid = radial_grid(spec)
    params = init_params(spec, 1, np.float64)
    R, t = random_rotations(rng=rng), rng.normal(size=3) * 20
    s2 = type(s)(**{**s.__dict__, "coords": s.coords @ R.T + t})
    f2 = featurize(s2, lmax=TINY["lmax"], n_radial=TINY["n_radial"], dtype=np.float64)
    o1 = forward(params, spec, batch_to_device(collate([f]), np, np.float64), grid)
    o2 = forward(params, spec, batch_to_device(collate([f2]), np, np.float64), grid)
    assert np.abs(o1 - o2).max() < 1e-6


@pytest.fixture(scope="module")
def casp_small():
    from conftest import casp_models
    return casp_models("T0953s1", 8)


def _tiny_estimator(**kw):
    params = dict(architecture=TINY, epochs=3, batch_size=4, learning_rate=3e-3, random_state=0)
    params.update(kw)
    return SixDQAEstimator(**params)


def test_fit_predict_save_load(casp_small, tmp_path):
    models, local = casp_small
    est = _tiny_estimator(epochs=6).fit(models, local)
    losses = [h["loss"] for h in est.history_]
    assert losses[-1] < losses[0]
    assert all(k.endswith("_") for k in ("params_", "spec_", "history_", "n_params_"))
    pred = est.predict(models[:3])
    assert len(pred) == 3 and all(p.shape == (len(y),) for p, y in zip(pred, local[:3]))
    assert all(np.nanmin(p) >= 0 and np.nanmax(p) <= 1 for p in pred)
    g = est.predict_global(models[:3])
    np.testing.assert_allclose(g, [np.nanmean(p) for p in pred])
    est.save(tmp_path / "m.npz")
    est2 = SixDQAEstimator.load(tmp_path / "m.npz")
    for a, b in zip(pred, est2.predict(models[:3])):
        np.testing.assert_array_equal(a, b)


def test_fit_is_deterministic(casp_small):
    models, local = casp_small
    a = _tiny_estimator(epochs=1).fit(models[:4], local[:4]).predict(models[:2])
    b = _tiny_estimator(epochs=1).fit(models[:4], local[:4]).predict(models[:2])
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_global_labels_and_unfitted_errors(casp_small):
    models, local = casp_small
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        _tiny_estimator().predict(models[:1])
    with pytest.raises(ValueError, match="labels"):
        _tiny_estimator().fit(models[:3], local[:2])
    glob = [float(np.nanmean(y)) for y in local[:4]]
    est = _tiny_estimator(epochs=1).fit(models[:4], glob)
    assert np.isfinite(est.predict_global(models[:1])).all()
    # runtime settings only: what the network computes cannot be changed this way
    assert est.set_runtime(n_jobs=1, verbose=0, errors="raise", device="cpu") is est
    assert est.errors == "raise"
    with pytest.raises(ValueError, match="runtime"):
        est.set_runtime(epochs=3)
    assert est.epochs == 1


def test_sklearn_clone_pipeline_gridsearch(casp_small):
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV, GroupKFold
    from sklearn.pipeline import Pipeline
    from estimators.featurizer import StructureFeaturizer
    models, local = casp_small
    est = _tiny_estimator(epochs=1)
    c = clone(est)
    assert c.get_params() == est.get_params()
    c.set_params(learning_rate=0.01)
    assert c.learning_rate == 0.01 and est.learning_rate == 3e-3
    pipe = Pipeline([("feat", StructureFeaturizer(lmax=TINY["lmax"], n_radial=TINY["n_radial"])),
                     ("qa", _tiny_estimator(epochs=1))])
    pipe.fit(models[:4], local[:4])
    assert len(pipe.predict(models[:2])) == 2
    groups = np.repeat([0, 1, 2, 3], 2)
    search = GridSearchCV(_tiny_estimator(epochs=1), {"learning_rate": [1e-3, 1e-2]},
                          cv=GroupKFold(n_splits=2))
    search.fit(models, local, groups=groups)
    assert search.best_params_["learning_rate"] in (1e-3, 1e-2)


def test_predict_keeps_good_results_when_one_input_is_bad(casp_small, tmp_path):
    models, local = casp_small
    est = _tiny_estimator(epochs=1).fit(models[:4], local[:4])
    bad = tmp_path / "empty.pdb"
    bad.write_text("")
    est.set_params(errors="warn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = est.predict([models[0], str(bad), models[1]])
    assert out[1] is None and out[0] is not None and out[2] is not None
    est.set_params(errors="raise")
    with pytest.raises(ValueError, match="empty.pdb"):
        est.predict([str(bad)])


def test_predict_streams_models_in_chunks(casp_small, tmp_path, monkeypatch):
    # with chunks of 2 models, a bad input in the middle: same predictions as all at once
    import estimators.qa_estimator as qa
    models, local = casp_small
    est = _tiny_estimator(epochs=1, errors="warn").fit(models[:4], local[:4])
    bad = tmp_path / "empty.pdb"
    bad.write_text("")
    inputs = [models[0], models[1], str(bad), models[2], models[3]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = est.predict(inputs)
        calls = []
        chunk = qa.SixDQAEstimator._predict_chunk
        monkeypatch.setattr(qa, "PREDICT_CHUNK", 2)
        monkeypatch.setattr(qa.SixDQAEstimator, "_predict_chunk",
                            lambda self, m: calls.append(len(m)) or chunk(self, m))
        chunked = est.predict(inputs)
    assert calls == [2, 2, 1]
    assert chunked[2] is None and whole[2] is None
    for a, b in zip(whole, chunked):
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_fit_accepts_a_mix_of_features_and_structures(casp_small):
    """Training inputs may mix ProteinFeatures with files (or decoys built on demand)."""
    models, local = casp_small
    ref = _tiny_estimator(epochs=1).fit(models[:4], local[:4])
    feats = ref._features(models[:2], ref.spec_)
    mixed = _tiny_estimator(epochs=1).fit(feats + list(models[2:4]), local[:4])
    for a, b in zip(ref.predict(models[:2]), mixed.predict(models[:2])):
        np.testing.assert_array_equal(a, b)


def test_local_smoothing_smooths_each_models_scores_along_its_chain(casp_small):
    from estimators.smoothing import smooth_along_chain
    from estimators.structures import read_structure
    models, local = casp_small
    est = _tiny_estimator(epochs=1, local_smoothing=0.0).fit(models[:4], local[:4])
    raw = est.predict(models[:2])
    smooth = est.set_params(local_smoothing=2.0).predict(models[:2])
    for path, r, s in zip(models[:2], raw, smooth):
        ca = read_structure(path).backbone()[1]
        np.testing.assert_allclose(s, smooth_along_chain(r, ca, 2.0), rtol=0, atol=1e-12)
        assert np.nanstd(np.diff(s)) < np.nanstd(np.diff(r))
    np.testing.assert_allclose(est.predict_global(models[:2]), [np.nanmean(p) for p in smooth])
    for bad in (-1.0, float("inf")):
        with pytest.raises(ValueError, match="local_smoothing"):
            est.set_params(local_smoothing=bad).predict(models[:1])
    assert SixDQAEstimator().local_smoothing == 0.0       # the default (see its docstring)

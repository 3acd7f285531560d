"""SeedEnsembleQAEstimator: networks of one recipe with different seeds, predictions averaged;
model files of several networks; the command line with an ensemble."""
import json

import numpy as np
import pytest
from sklearn.base import clone

from estimators.ensemble import SeedEnsembleQAEstimator
from estimators.model_file import (ModelFileError, read_model_file, read_model_networks,
                                   write_model_files)
from estimators.pretrained import load_model
from estimators.qa_estimator import SixDQAEstimator

TINY = dict(name="tiny", lmax=2, n_radial=3, sigma=2.0, r_max=8.0, r_n=12.0, d_t=10,
            n_atom_types=168, embed=3, blocks=[3, 2], switch=3, edge_embed=2, graph=[3, 1],
            leak=0.05)


@pytest.fixture(scope="module")
def casp_small():
    from conftest import casp_models
    return casp_models("T0953s1", 6)


def _template(**kw):
    return SixDQAEstimator(**dict(dict(architecture=TINY, epochs=1, batch_size=4,
                                       learning_rate=3e-3), **kw))


def _with_metadata(path, out, edit):
    """Copy the model file ``path`` to ``out`` with its JSON metadata changed by ``edit``."""
    import io
    import zipfile
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    meta = json.loads(str(np.load(path)["metadata"][()]))
    edit(meta)
    buf = io.BytesIO()
    np.save(buf, np.array(json.dumps(meta)))
    members["metadata.npy"] = buf.getvalue()
    with zipfile.ZipFile(out, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    return out


@pytest.fixture(scope="module")
def fitted(casp_small):
    models, local = casp_small
    return SeedEnsembleQAEstimator(_template(), seeds=(3, 7)).fit(models[:4], local[:4])


def test_members_are_the_template_with_each_seed(casp_small, fitted):
    # each network equals the template fitted alone with its seed (bitwise); the ensemble's
    # prediction is their mean, its global score the mean over scored residues
    models, local = casp_small
    assert [e.random_state for e in fitted.estimators_] == [3, 7]
    assert fitted.n_params_ == sum(e.n_params_ for e in fitted.estimators_)
    assert len(fitted.history_) == 2
    alone = [_template(random_state=s).fit(models[:4], local[:4]).predict(models[4:])
             for s in (3, 7)]
    pred = fitted.predict(models[4:])
    for k, p in enumerate(pred):
        np.testing.assert_array_equal(alone[0][k], fitted.estimators_[0].predict(models[4:])[k])
        np.testing.assert_allclose(p, (alone[0][k] + alone[1][k]) / 2, rtol=0, atol=1e-15)
        assert p.shape == (len(local[4 + k]),)
    assert not np.array_equal(alone[0][0], alone[1][0])          # the seeds differ
    np.testing.assert_allclose(fitted.predict_global(models[4:]),
                               [np.nanmean(p) for p in pred])
    assert np.isfinite(fitted.score(models[4:], local[4:]))


def test_save_load_roundtrip(casp_small, fitted, tmp_path):
    # one file holds both networks; load_model gives the ensemble back with equal predictions;
    # the one-network reader refuses the file by name
    models, _ = casp_small
    path = fitted.save(tmp_path / "ens.npz")
    back = load_model(path)
    assert isinstance(back, SeedEnsembleQAEstimator)
    assert back.seeds == (3, 7) and len(back.estimators_) == 2
    for a, b in zip(fitted.predict(models[4:]), back.predict(models[4:])):
        np.testing.assert_array_equal(a, b)
    networks, meta = read_model_networks(path)
    assert len(networks) == 2 and meta["ensemble"]["seeds"] == [3, 7]
    assert networks[1][1]["spec"] == networks[0][1]["spec"]
    with pytest.raises(ModelFileError, match="ens.npz.*ensemble of 2 networks"):
        read_model_file(path)
    with pytest.raises(ModelFileError, match="ensemble of 2"):
        SixDQAEstimator.load(path)
    # runtime overrides reach every network
    assert all(e.device == "cpu" and e.n_jobs == 2
               for e in load_model(path, n_jobs=2).estimators_)


def test_model_file_of_several_networks_is_checked(fitted, tmp_path):
    # a missing weight of the second network, or a broken 'networks' entry: one-line errors
    contents = [e._file_contents() for e in fitted.estimators_]
    path = write_model_files(tmp_path / "ok.npz", contents)
    assert len(read_model_networks(path)[0]) == 2
    cut = dict(contents[1][0])
    cut.pop(sorted(cut)[0])
    bad = write_model_files(tmp_path / "bad.npz", [contents[0], (cut, contents[1][1])])
    with pytest.raises(ModelFileError, match=r"bad\.npz.*missing weight.*net1__"):
        read_model_networks(bad)
    _with_metadata(path, tmp_path / "nets.npz",                # 1 description, 2 sets of weights
                   lambda meta: meta.update(networks=[meta["networks"][0]]))
    with pytest.raises(ModelFileError, match="networks"):
        read_model_networks(tmp_path / "nets.npz")
    spec2 = dict(contents[1][1], spec=dict(contents[1][1]["spec"], lmax=3))
    with pytest.raises(ValueError, match="share their architecture"):
        write_model_files(tmp_path / "mixed.npz", [contents[0], (contents[1][0], spec2)])
    # one network: a plain model file
    one = write_model_files(tmp_path / "one.npz", contents[:1])
    assert isinstance(load_model(one), SixDQAEstimator)


def test_parameters_and_sklearn_conventions(casp_small):
    models, local = casp_small
    est = SeedEnsembleQAEstimator(_template(), seeds=(0, 1), n_jobs=1)
    assert clone(est).get_params()["seeds"] == (0, 1)
    assert "estimator__epochs" in est.get_params(deep=True)
    for seeds in ((), (1, 1), ("a",)):
        with pytest.raises(ValueError, match="seeds"):
            SeedEnsembleQAEstimator(_template(), seeds=seeds).fit(models[:4], local[:4])
    with pytest.raises(TypeError, match="SixDQAEstimator"):
        SeedEnsembleQAEstimator(estimator=object()).fit(models[:4], local[:4])
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        est.predict(models[:1])
    with pytest.raises(ValueError, match="runtime"):
        est.set_runtime(epochs=3)
    # device / errors / verbose of the ensemble reach every network
    fitted_cpu = SeedEnsembleQAEstimator(_template(), seeds=(0,), errors="warn").fit(
        models[:4], local[:4])
    assert fitted_cpu.estimators_[0].errors == "warn"


def test_parallel_fit_and_failed_inputs(casp_small, fitted):
    # networks trained in two processes equal those trained one after the other (BLAS
    # rounding aside); an input that cannot be read gives None under errors='warn'
    models, local = casp_small
    par = SeedEnsembleQAEstimator(_template(), seeds=(3, 7), n_jobs=2).fit(models[:4], local[:4])
    for a, b in zip(par.predict(models[4:]), fitted.predict(models[4:])):
        np.testing.assert_allclose(a, b, atol=1e-6)
    par.set_params(errors="warn")
    from estimators.structures import StructureWarning
    with pytest.warns(StructureWarning):
        out = par.predict([None, models[4]])
    assert out[0] is None and out[1].shape == (len(local[4]),)


def test_command_line_trains_and_scores_an_ensemble(casp_small, fitted, tmp_path, monkeypatch):
    # 'fourier6d score --model' with an ensemble file scores with the mean of its networks
    from estimators.cli import main
    models, _ = casp_small
    path = fitted.save(tmp_path / "ens.npz")
    out = tmp_path / "scores"
    assert main(["score", "--model", str(path), "-o", str(out), "--no-progress", models[4]]) == 0
    rows = (out / "scores.csv").read_text().splitlines()
    assert len(rows) == 2
    want = fitted.predict_global(models[4:5])[0]
    assert abs(float(rows[1].split(",")[1]) - want) < 5e-4


def test_from_estimators_equals_the_ensemble_fit(casp_small, fitted, tmp_path):
    # networks trained one run per seed and combined predict exactly what the ensemble trained
    # in one fit predicts; an ensemble given among them contributes all its networks
    models, local = casp_small
    alone = [_template(random_state=s).fit(models[:4], local[:4]) for s in (3, 7)]
    combined = SeedEnsembleQAEstimator.from_estimators(alone)
    assert combined.seeds == (3, 7) and combined.n_params_ == fitted.n_params_
    for a, b in zip(combined.predict(models[4:]), fitted.predict(models[4:])):
        np.testing.assert_array_equal(a, b)
    three = SeedEnsembleQAEstimator.from_estimators(
        [fitted, _template(random_state=11).fit(models[:4], local[:4])])
    assert three.seeds == (3, 7, 11) and len(three.estimators_) == 3
    back = load_model(three.save(tmp_path / "three.npz"))
    assert back.seeds == (3, 7, 11)
    for a, b in zip(three.predict(models[4:5]), back.predict(models[4:5])):
        np.testing.assert_array_equal(a, b)


def test_from_estimators_refuses_what_is_not_one_recipe(casp_small, fitted):
    from sklearn.exceptions import NotFittedError
    models, local = casp_small
    one = fitted.estimators_[0]
    with pytest.raises(ValueError, match="at least two networks, got 1"):
        SeedEnsembleQAEstimator.from_estimators([one])
    with pytest.raises(ValueError, match=r"different seeds, got \[3, 3\]"):
        SeedEnsembleQAEstimator.from_estimators([one, one])
    with pytest.raises(NotFittedError, match="network 1"):
        SeedEnsembleQAEstimator.from_estimators([one, _template(random_state=5)])
    with pytest.raises(TypeError, match="got str"):
        SeedEnsembleQAEstimator.from_estimators([one, "model.npz"])
    other = dict(TINY, blocks=[2, 2])
    wider = _template(architecture=other, random_state=5).fit(models[:4], local[:4])
    with pytest.raises(ValueError, match="share one architecture"):
        SeedEnsembleQAEstimator.from_estimators([one, wider])
    unseeded = _template(random_state=None).fit(models[:4], local[:4])
    with pytest.raises(ValueError, match="integer random_state"):
        SeedEnsembleQAEstimator.from_estimators([one, unseeded])


def test_command_line_combines_model_files(casp_small, fitted, tmp_path, capsys):
    # 'fourier6d combine' writes the ensemble of separately trained networks; it refuses to
    # overwrite an input and names a bad input file
    from estimators.cli import main
    models, _ = casp_small
    paths = [str(e.save(tmp_path / f"seed{e.random_state}.npz")) for e in fitted.estimators_]
    out = tmp_path / "both.npz"
    assert main(["combine", "-o", str(out), *paths]) == 0
    assert "2 networks, seeds 3, 7" in capsys.readouterr().out
    back = load_model(out)
    for a, b in zip(back.predict(models[4:]), fitted.predict(models[4:])):
        np.testing.assert_array_equal(a, b)
    assert main(["combine", "-o", paths[0], *paths]) == 2
    assert "would overwrite" in capsys.readouterr().err
    assert main(["combine", "-o", str(tmp_path / "x.npz"), paths[0]]) == 2
    assert "at least two networks" in capsys.readouterr().err
    (tmp_path / "bad.npz").write_text("not a model")
    assert main(["combine", "-o", str(tmp_path / "y.npz"), paths[0],
                 str(tmp_path / "bad.npz")]) == 2
    assert "bad.npz" in capsys.readouterr().err


def test_checkpoint_dir_gives_each_seed_its_file_and_stays_out_of_model_files(casp_small,
                                                                              tmp_path):
    # the estimator's checkpoint_dir reaches training: one file per seed; fitting again reads
    # them and gives the same networks; model files do not record the folder
    models, local = casp_small
    folder = tmp_path / "ckpt"
    ens = SeedEnsembleQAEstimator(_template(epochs=2, checkpoint_dir=str(folder)),
                                  seeds=(3, 7)).fit(models[:4], local[:4])
    assert len(list(folder.glob("train-*.npz"))) == 2
    again = _template(epochs=2, checkpoint_dir=str(folder), random_state=7).fit(models[:4],
                                                                               local[:4])
    for k, v in ens.estimators_[1].params_.items():
        np.testing.assert_array_equal(v, again.params_[k])
    assert len(list(folder.glob("train-*.npz"))) == 2
    path = again.save(tmp_path / "m.npz")
    _, meta = read_model_file(path)
    assert "checkpoint_dir" not in meta["estimator_params"]
    assert SixDQAEstimator.load(path).checkpoint_dir is None


def test_score_offset_shifts_the_mean_and_travels_in_the_model_file(casp_small, fitted,
                                                                     tmp_path, capsys):
    # the offset is added to the mean of the networks and clipped to [0, 1]; it is a parameter
    # (fit leaves it), saved in the file, read back, given by 'fourier6d combine --score-offset',
    # and a bad stored value is a one-line error naming the file
    from estimators.cli import main
    models, _ = casp_small
    plain = fitted.predict(models[4:])
    shifted = clone(fitted).set_params(score_offset=-0.2)
    shifted._set_fitted(fitted.estimators_)
    for a, b in zip(plain, shifted.predict(models[4:])):
        np.testing.assert_allclose(b, np.clip(a - 0.2, 0.0, 1.0), atol=1e-6)
    back = load_model(shifted.save(tmp_path / "off.npz"))
    assert back.score_offset == pytest.approx(-0.2)
    for a, b in zip(shifted.predict(models[4:]), back.predict(models[4:])):
        np.testing.assert_array_equal(a, b)
    assert load_model(fitted.save(tmp_path / "plain.npz")).score_offset == 0.0
    with pytest.raises(ValueError, match="score_offset"):
        clone(fitted).set_params(score_offset=np.nan)._set_fitted(
            fitted.estimators_).predict(models[4:5])
    paths = [str(e.save(tmp_path / f"s{e.random_state}.npz")) for e in fitted.estimators_]
    out = tmp_path / "comb.npz"
    assert main(["combine", "-o", str(out), "--score-offset", "-0.2", *paths]) == 0
    assert "score offset -0.2000" in capsys.readouterr().out
    assert load_model(out).score_offset == pytest.approx(-0.2)
    assert main(["combine", "-o", str(tmp_path / "z.npz"), "--score-offset", "3", *paths]) == 2
    assert "--score-offset must be a finite number" in capsys.readouterr().err
    # a stored offset out of range: refused by name
    _with_metadata(out, tmp_path / "badoff.npz",
                   lambda meta: meta["ensemble"].update(score_offset=7))
    with pytest.raises(ModelFileError, match=r"badoff\.npz.*score_offset"):
        load_model(tmp_path / "badoff.npz")

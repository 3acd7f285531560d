"""Model files: metadata, round trip, and a clean one-line refusal of every bad file."""
import io
import json
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from conftest import REPO
from estimators.architectures import get_architecture
from estimators.model_file import (MAX_UNCOMPRESSED_BYTES, ModelFileError, read_model_file,
                                   write_model_file)
from estimators.networks import init_params
from estimators.pretrained import pretrained_path
from estimators.qa_estimator import SixDQAEstimator

TINY = dict(name="tiny", lmax=2, n_radial=3, sigma=2.0, r_max=8.0, r_n=12.0, d_t=10,
            n_atom_types=168, embed=3, blocks=[3], switch=3, edge_embed=2, graph=[3, 1], leak=0.05)


def _fitted(groups=("T1", "T2")):
    est = SixDQAEstimator(architecture=TINY)
    est.spec_ = get_architecture(TINY)
    est.params_ = init_params(est.spec_, 0, np.float32)
    est.history_ = [{"epoch": 1, "loss": 0.1}]
    est.n_params_ = 10
    est.n_train_models_ = 4
    est.training_groups_ = list(groups)
    return est


def _arrays(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _npz(path, arrays):
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return path


def test_round_trip_with_metadata(tmp_path):
    est = _fitted()
    path = est.save(tmp_path / "m.npz")
    arrays = _arrays(path)
    assert arrays["metadata"].shape == () and arrays["metadata"].dtype.kind == "U"
    meta = json.loads(str(arrays["metadata"]))
    assert meta["format_version"] == 2 and meta["training_groups"] == ["T1", "T2"]
    assert meta["spec"]["embed"] == 3 and "lmax" in meta["featurization"]
    assert meta["arrays"]["embed"] == [168, 3]
    back = SixDQAEstimator.load(path, n_jobs=2)
    assert back.training_groups_ == ["T1", "T2"] and back.n_jobs == 2
    assert back.spec_ == est.spec_ and back.n_train_models_ == 4
    for k, v in est.params_.items():
        np.testing.assert_array_equal(back.params_[k], v)
    assert not list(tmp_path.glob(".*tmp"))            # written via a temporary name


def test_extra_scalar_spec_entries_are_kept(tmp_path):
    est = _fitted()
    est.spec_ = dict(est.spec_, some_new_width=1.5, another_flag=True)
    back = SixDQAEstimator.load(est.save(tmp_path / "m.npz"))
    assert back.spec_["some_new_width"] == 1.5 and back.spec_["another_flag"] is True


@pytest.mark.skipif(not pretrained_path().is_file(), reason="no shipped model")
def _format1_file(path):
    """A model file in the first format (weights as param__ arrays, JSON as uint8 bytes; no
    smooth cut-off keys in the spec, no training groups), as files written before format 2."""
    est = _fitted()
    spec = {k: v for k, v in est.spec_.items() if k not in ("atom_fade", "edge_fade")}
    meta = {"format_version": 1, "spec": spec,
            "estimator_params": {k: v for k, v in est.get_params().items()
                                 if k not in ("architecture", "atom_fade", "edge_fade",
                                              "rank_weight", "groups_per_batch", "lr_schedule",
                                              "calibrate")},
            "history": est.history_, "n_params": 10}
    arrays = {f"param__{k}": np.asarray(v) for k, v in est.params_.items()}
    arrays["meta_json"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return path, est


def test_old_format_files_still_load(tmp_path):
    path, est = _format1_file(tmp_path / "format1.npz")
    params, meta = read_model_file(path)
    assert meta["format_version"] == 1 and "embed" in params
    loaded = SixDQAEstimator.load(path)
    assert loaded.training_groups_ is None
    # written before smooth cut-offs: read with the hard cut-offs it was trained with
    assert loaded.spec_["atom_fade"] == 0.0 and loaded.spec_["edge_fade"] == 0.0
    for k, v in est.params_.items():
        np.testing.assert_array_equal(loaded.params_[k], v)


def test_shipped_model_is_current_format():
    # two 6DCNN-2 (message passing), seeds 0 and 1, in a format-2 file, with their training groups
    from estimators.ensemble import SeedEnsembleQAEstimator
    from estimators.model_file import read_model_networks
    from estimators.pretrained import load_model
    networks, meta = read_model_networks(pretrained_path())
    assert meta["format_version"] == 2 and len(networks) == 2
    assert meta["ensemble"]["seeds"] == [0, 1]
    assert all("embed" in params for params, _ in networks)
    est = load_model(pretrained_path())
    assert isinstance(est, SeedEnsembleQAEstimator) and est.seeds == (0, 1)
    for net in est.estimators_:
        assert net.spec_["name"] == "6dcnn-2" and len(net.spec_["blocks"]) == 2
        assert net.n_params_ == 77110
        assert {"T0953s1", "T0967", "T0974s1", "T1006"} <= set(net.training_groups_)


def _bad_files(tmp_path):
    """(name, path, expected message part) of damaged or hostile model files."""
    good = _fitted().save(tmp_path / "good.npz")
    data = good.read_bytes()
    arrays = _arrays(good)
    meta = json.loads(str(arrays["metadata"]))
    out = []

    def add(name, path, needle):
        out.append((name, path, needle))

    add("missing", tmp_path / "missing.npz", "cannot read")
    (tmp_path / "empty.npz").write_bytes(b"")
    add("empty", tmp_path / "empty.npz", "empty")
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    add("truncated", tmp_path / "truncated.npz", "corrupt")
    flipped = bytearray(data)
    for i in range(200, len(flipped) - 200, 97):
        flipped[i] ^= 0xFF
    (tmp_path / "corrupted.npz").write_bytes(bytes(flipped))
    add("corrupted bytes", tmp_path / "corrupted.npz", "")
    (tmp_path / "text.npz").write_text("not a model\n")
    add("text", tmp_path / "text.npz", "not an .npz")
    (tmp_path / "pickle.npz").write_bytes(pickle.dumps({"embed": np.zeros(3)}))
    add("pickle", tmp_path / "pickle.npz", "pickle")
    obj = dict(arrays)
    obj["param__embed"] = np.array([object()] * 3, dtype=object)
    p = tmp_path / "object.npz"
    with open(p, "wb") as fh:
        np.savez(fh, **obj)
    add("object (pickled) array", p, "pickled")
    add("no metadata", _npz(tmp_path / "nometa.npz",
                            {k: v for k, v in arrays.items() if k != "metadata"}), "metadata")
    add("metadata not JSON", _npz(tmp_path / "badjson.npz",
                                  dict(arrays, metadata=np.array("{not json"))), "metadata")
    add("metadata not an object", _npz(tmp_path / "list.npz",
                                       dict(arrays, metadata=np.array("[1, 2]"))), "object")
    add("future format version",
        _npz(tmp_path / "v9.npz", dict(arrays, metadata=np.array(json.dumps(
            dict(meta, format_version=9))))), "version")
    add("invalid spec",
        _npz(tmp_path / "spec.npz", dict(arrays, metadata=np.array(json.dumps(
            dict(meta, spec=dict(meta["spec"], graph=[3, 2])))))), "architecture")
    add("absurd spec",
        _npz(tmp_path / "huge.npz", dict(arrays, metadata=np.array(json.dumps(
            dict(meta, spec=dict(meta["spec"], embed=10 ** 6, blocks=[10 ** 6])))))), "weights")
    add("missing weight", _npz(tmp_path / "miss.npz",
                               {k: v for k, v in arrays.items() if k != "param__switch_w"}),
        "missing weight")
    add("unknown array", _npz(tmp_path / "extra.npz", dict(arrays, junk=np.zeros(4))),
        "unexpected")
    add("wrong shape", _npz(tmp_path / "shape.npz",
                            dict(arrays, param__embed=np.zeros((10, 3), np.float32))), "shape")
    nan = arrays["param__switch_w"].copy()
    nan.flat[5] = np.nan
    add("NaN weight", _npz(tmp_path / "nan.npz", dict(arrays, param__switch_w=nan)), "non-finite")
    inf = arrays["param__embed"].copy()
    inf.flat[0] = np.inf
    add("inf weight", _npz(tmp_path / "inf.npz", dict(arrays, param__embed=inf)), "non-finite")
    add("integer weight", _npz(tmp_path / "int.npz",
                               dict(arrays, param__embed=arrays["param__embed"].astype(np.int64))),
        "float")
    # a zip bomb: 1 GiB of zeros in about 1 MB (written by streaming, never held in memory)
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, v in arrays.items():
            buf = io.BytesIO()
            np.save(buf, v)
            zf.writestr(f"{k}.npy", buf.getvalue())
        with zf.open("zeros.npy", "w", force_zip64=True) as fh:
            chunk = bytes(2 ** 24)
            for _ in range(MAX_UNCOMPRESSED_BYTES * 2 // len(chunk)):
                fh.write(chunk)
    add("zip bomb", bomb, "limit")
    # a member whose zip header lies about its size (declared small, decompresses large)
    liar = tmp_path / "liar.npz"
    with zipfile.ZipFile(liar, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, v in arrays.items():
            buf = io.BytesIO()
            np.save(buf, v)
            raw = buf.getvalue()
            if k == "param__embed":
                raw = raw + bytes(10 ** 6)      # more bytes than the shape needs
            zf.writestr(f"{k}.npy", raw)
    add("array longer than its shape", liar, "")
    # a header claiming a huge shape with a small body
    hdr = tmp_path / "header.npz"
    with zipfile.ZipFile(hdr, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, v in arrays.items():
            buf = io.BytesIO()
            np.save(buf, v)
            raw = buf.getvalue()
            if k == "param__embed":
                raw = raw.replace(b"(168, 3)", b"(168000000, 3)".ljust(8)[:14])
            zf.writestr(f"{k}.npy", raw)
    add("header with a huge shape", hdr, "")
    add("folder", tmp_path, "not a regular file")
    return out


def test_bad_model_files_are_refused_cleanly(tmp_path):
    cases = _bad_files(tmp_path)
    assert len(cases) >= 20
    for name, path, needle in cases:
        with pytest.raises(ModelFileError) as info:
            SixDQAEstimator.load(path)
        msg = str(info.value)
        assert str(path) in msg, name
        assert needle.lower() in msg.lower(), (name, msg)
        assert "\n" not in msg, name


def test_write_refuses_non_finite_weights(tmp_path):
    params = init_params(get_architecture(TINY), 0, np.float32)
    params["embed"][0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        write_model_file(tmp_path / "m.npz", params, {"spec": get_architecture(TINY)})
    assert not (tmp_path / "m.npz").exists()


def test_cli_bad_model_is_one_line(tmp_path):
    nan_path = _bad_files(tmp_path)
    nan_file = next(p for n, p, _ in nan_path if n == "NaN weight")
    r = subprocess.run([sys.executable, "-m", "estimators.cli", "score",
                        str(REPO / "examples" / "T1006_ACOMPMOD_TS1.pdb"), "--model",
                        str(nan_file), "-o", str(tmp_path / "out")], capture_output=True,
                       text=True, cwd=REPO, timeout=300)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "non-finite" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()          # refused before the output folder is made


def test_fit_records_training_groups_and_round_trips(shared_dir, tmp_path):
    models = sorted((shared_dir / "data" / "casp13" / "T0953s1" / "models").iterdir())[:4]
    models = [str(m) for m in models]
    est = SixDQAEstimator(architecture=TINY, epochs=1, batch_size=2, validation_fraction=0)
    est.fit(models, [0.3, 0.5, 0.6, 0.4], groups=np.array(["T2", "T1", "T2", "T1"]))
    assert est.training_groups_ == ["T1", "T2"]
    back = SixDQAEstimator.load(est.save(tmp_path / "m.npz"))
    assert back.training_groups_ == ["T1", "T2"]
    assert back.metadata_["featurization"]["lmax"] == TINY["lmax"]
    for a, b in zip(est.predict(models[:2]), back.predict(models[:2])):
        np.testing.assert_array_equal(a, b)

"""save/load and pickling."""

import pickle

import numpy as np
import pytest

import nncore


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_round_trip_is_exact(tmp_path, dtype):
    rng = np.random.default_rng(0)
    X, Y = rng.uniform(size=(50, 4)), rng.uniform(size=(50, 2))
    net = nncore.Network([4, 6, 2], activation="tanh", dtype=dtype, seed=3)
    net.fit(X, Y, epochs=2, batch_size=8, optimizer="adam")
    net.save(tmp_path / "m.npz")
    back = nncore.load(tmp_path / "m.npz")
    assert back.params.dtype == net.params.dtype
    assert back.params.tobytes() == net.params.tobytes()
    assert back.sizes == net.sizes and back.activations == net.activations
    assert back.history == net.history
    # continued training from the loaded file equals continuing the original
    net.fit(X, Y, epochs=2, batch_size=8, optimizer="adam")
    back.fit(X, Y, epochs=2, batch_size=8, optimizer="adam")
    assert back.params.tobytes() == net.params.tobytes()


def test_pickle_round_trip():
    net = nncore.Network([3, 4, 1], seed=1)
    back = pickle.loads(pickle.dumps(net))
    assert back.params.tobytes() == net.params.tobytes()
    back.weights[0][0, 0] = 5.0
    assert back.params[1] == 5.0  # views are rebuilt


def test_foreign_file_is_refused(tmp_path):
    np.savez(tmp_path / "x.npz", a=np.arange(3))
    with pytest.raises(ValueError, match="not a valid nncore model"):
        nncore.load(tmp_path / "x.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a valid nncore model"):
        nncore.load(tmp_path / "junk.npz")


def test_meta_round_trip(tmp_path):
    net = nncore.Network([2, 3, 2], seed=0)
    net.meta = {"classes": ["cat", "dog"], "scale": {"offset": [0.5, 1.0], "factor": [2, 4]},
                "features": None}
    net.save(tmp_path / "m.npz")
    assert nncore.load(tmp_path / "m.npz").meta == net.meta
    # an explicit meta wins over net.meta; a network without one loads with {}
    from nncore import io
    io.save(net, tmp_path / "n.npz", meta={"task": "classify"})
    assert nncore.load(tmp_path / "n.npz").meta == {"task": "classify"}
    nncore.Network([2, 1], seed=0).save(tmp_path / "plain.npz")
    assert nncore.load(tmp_path / "plain.npz").meta == {}


@pytest.mark.parametrize("meta", [["not", "a", "dict"], {"x": object()}, {"a": np.arange(2)}])
def test_meta_must_be_json(tmp_path, meta):
    net = nncore.Network([2, 1], seed=0)
    with pytest.raises(TypeError, match="meta must"):
        nncore.io.save(net, tmp_path / "m.npz", meta=meta)
    assert not (tmp_path / "m.npz").exists()


def test_meta_that_is_not_an_object_is_refused(tmp_path):
    import json

    nncore.Network([2, 1], seed=0).save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as f:
        arrays = {k: f[k] for k in f.files}
    header = json.loads(arrays["header"].tobytes())
    header["meta"] = [1, 2]
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="meta field is not a JSON object"):
        nncore.load(tmp_path / "bad.npz")

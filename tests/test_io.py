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

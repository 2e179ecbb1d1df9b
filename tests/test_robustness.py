"""Divergence and interruption lose nothing; the kernels release the GIL; the same
seed gives the same bits."""

import _thread
import hashlib
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import nncore
import nncore.network as network_module
import nncore.training as training_module


def _data(n=64, n_in=4, n_out=1, scale=10.0, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_in)) * scale, rng.normal(size=(n, n_out)) * scale


def _consistent(net):
    """Every history list has one entry per completed epoch, all finite, and the
    parameters are finite."""
    lengths = {k: len(v) for k, v in net.history.items()}
    assert len(set(lengths.values())) <= 1, lengths
    n = next(iter(lengths.values()), 0)
    assert n == net._epochs_done
    assert np.isfinite(net.params).all()
    assert all(np.isfinite(v).all() for v in net.history.values())
    return n


# ---------------------------------------------------------------- divergence

def _blow_up_at_epoch_3(epoch, lr0):
    return 1e-5 if epoch < 2 else 1e4


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum"])
def test_divergence_raises_and_restores_the_last_finite_epoch(dtype, optimizer):
    X, Y = _data()
    kw = dict(activation="relu", output="identity", seed=0, dtype=dtype)
    fit_kw = dict(batch_size=8, optimizer=optimizer, learning_rate=1e-5)
    net = nncore.Network([4, 16, 1], **kw)
    seen = []
    with pytest.raises(nncore.DivergenceError) as exc:
        net.fit(X, Y, epochs=5, lr_schedule=_blow_up_at_epoch_3,
                callbacks=[lambda e, logs: seen.append(net.params.copy())], **fit_kw)
    assert isinstance(exc.value, FloatingPointError)
    msg = str(exc.value)
    assert "epoch 3" in msg and "smaller learning_rate" in msg and "scale the inputs" in msg
    # stopped at that epoch, history up to there, the last finite parameters
    assert _consistent(net) == 2
    assert net.params.tobytes() == seen[-1].tobytes()
    # ... and the optimiser state and shuffling stream too: continuing equals a
    # network that trained the two good epochs and then continued
    twin = nncore.Network([4, 16, 1], **kw)
    twin.fit(X, Y, epochs=2, **fit_kw)
    assert twin.params.tobytes() == net.params.tobytes()
    net.fit(X, Y, epochs=2, **fit_kw)
    twin.fit(X, Y, epochs=2, **fit_kw)
    assert _consistent(net) == 4
    assert twin.params.tobytes() == net.params.tobytes()


def test_divergence_warns_when_asked():
    X, Y = _data()
    net = nncore.Network([4, 16, 1], activation="relu", output="identity", seed=0)
    with pytest.warns(RuntimeWarning, match=r"diverged in epoch 3.*smaller learning_rate"):
        out = net.fit(X, Y, epochs=5, batch_size=8, learning_rate=1e-5,
                      lr_schedule=_blow_up_at_epoch_3, on_divergence="warn")
    assert out is net
    assert _consistent(net) == 2


def test_divergence_in_the_first_epoch_keeps_the_initial_parameters():
    X, Y = _data(scale=1e3)
    net = nncore.Network([4, 16, 1], activation="relu", output="identity", seed=1)
    before = net.params.copy()
    with pytest.raises(nncore.DivergenceError, match="smaller learning_rate"):
        net.fit(X, Y, epochs=3, batch_size=4, learning_rate=1e3)
    assert net.params.tobytes() == before.tobytes()
    assert _consistent(net) == 0


def test_divergence_with_validation_data_keeps_history_aligned():
    X, Y = _data()
    net = nncore.Network([4, 16, 1], activation="relu", output="identity", seed=0)
    with pytest.raises(nncore.DivergenceError):
        net.fit(X, Y, epochs=5, batch_size=8, learning_rate=1e-5, validation_split=0.25,
                lr_schedule=_blow_up_at_epoch_3)
    assert set(net.history) >= {"loss", "val_loss", "lr", "time"}
    assert _consistent(net) == 2


# ---------------------------------------------------------------- interruption

FIT = dict(batch_size=8, optimizer="adam", learning_rate=0.01)


def _net(seed=3):
    return nncore.Network([4, 8, 2], activation="tanh", seed=seed)


def _xy(n=96):
    rng = np.random.default_rng(5)
    X = rng.uniform(-1, 1, size=(n, 4))
    return X, np.c_[np.sin(X[:, 0]), X[:, 1] * X[:, 2]]


def _replay(n_epochs, X, Y, **kw):
    """A network trained uninterrupted for n_epochs, in one fit."""
    net = _net()
    if n_epochs:
        net.fit(X, Y, epochs=n_epochs, **{**FIT, **kw})
    return net


def _assert_like_uninterrupted(net, X, Y, **kw):
    n = _consistent(net)
    twin = _replay(n, X, Y, **kw)
    assert net.params.tobytes() == twin.params.tobytes()
    assert net.history["loss"] == twin.history.get("loss", [])
    # and it continues exactly where an uninterrupted run would be
    net.fit(X, Y, epochs=2, **{**FIT, **kw})
    twin.fit(X, Y, epochs=2, **{**FIT, **kw})
    assert net.params.tobytes() == twin.params.tobytes()
    assert _consistent(net) == n + 2


def test_keyboard_interrupt_from_a_callback():
    X, Y = _xy()
    net = _net()
    seen = []

    def interrupt_at_epoch_3(epoch, logs):
        seen.append(net.params.copy())
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        net.fit(X, Y, epochs=10, callbacks=[interrupt_at_epoch_3], **FIT)
    # the third epoch had completed when its callback ran: it is kept
    assert _consistent(net) == 3
    assert net.params.tobytes() == seen[-1].tobytes()
    _assert_like_uninterrupted(net, X, Y)


class _InterruptingClock:
    """Stands in for the time module inside nncore.training: raises
    KeyboardInterrupt at its n-th call, i.e. at a chosen point of an epoch's
    bookkeeping, as a signal arriving between two bytecodes would."""

    def __init__(self, n):
        self.n = n

    def perf_counter(self):
        self.n -= 1
        if self.n == 0:
            raise KeyboardInterrupt
        return time.perf_counter()


@pytest.mark.parametrize("call", range(1, 9))
def test_interrupt_anywhere_in_the_epoch_bookkeeping(monkeypatch, call):
    X, Y = _xy()
    net = _net()
    monkeypatch.setattr(training_module, "time", _InterruptingClock(call))
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, Y, epochs=10, **FIT)
    monkeypatch.undo()
    _assert_like_uninterrupted(net, X, Y)


def test_interrupt_during_the_validation_loss(monkeypatch):
    X, Y = _xy()
    Xv, Yv = X[:16], Y[:16]
    net = _net()
    calls = []
    real_loss = nncore.Network.loss

    def loss(self, *a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_loss(self, *a, **k)

    monkeypatch.setattr(nncore.Network, "loss", loss)
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, Y, epochs=10, validation_data=(Xv, Yv), **FIT)
    monkeypatch.undo()
    assert _consistent(net) == 2
    _assert_like_uninterrupted(net, X, Y, validation_data=(Xv, Yv))


def _run_until_interrupted(net, X, Y, arm):
    """fit 'forever' (30 s at most) until the interrupt armed by ``arm`` lands."""
    t_end = time.monotonic() + 30

    def safety(epoch, logs):
        return time.monotonic() > t_end

    arm()
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, Y, epochs=10**7, callbacks=[safety], **FIT)


@pytest.mark.parametrize("delay", [0.02, 0.07, 0.15, 0.31])
@pytest.mark.parametrize("n", [96, 6000], ids=["short-epochs", "long-epochs"])
def test_sigalrm_mid_fit(delay, n):
    X, Y = _xy(n)
    net = _net()

    def handler(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, handler)
    try:
        _run_until_interrupted(
            net, X, Y, lambda: signal.setitimer(signal.ITIMER_REAL, delay))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    _assert_like_uninterrupted(net, X, Y)


@pytest.mark.parametrize("delay", [0.03, 0.11, 0.2])
@pytest.mark.parametrize("n", [96, 6000], ids=["short-epochs", "long-epochs"])
def test_interrupt_main_from_another_thread(delay, n):
    X, Y = _xy(n)
    net = _net()
    timer = threading.Timer(delay, _thread.interrupt_main)
    # (Python's own SIGINT handler: a shell starts a background job with SIGINT
    # ignored, and interrupt_main then does nothing)
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _run_until_interrupted(net, X, Y, timer.start)
    finally:
        timer.cancel()
        timer.join()
        signal.signal(signal.SIGINT, old)
    _assert_like_uninterrupted(net, X, Y)


# ---------------------------------------------------------------- threads

class _KernelSpy:
    """Delegates to nncore._kernels, timing what another thread does meanwhile."""

    def __init__(self, kernels, counter):
        self._k = kernels
        self._counter = counter
        self.progress = []

    def __getattr__(self, name):
        return getattr(self._k, name)

    def _spy(self, fn, *args, **kw):
        c0 = self._counter[0]
        out = fn(*args, **kw)
        self.progress.append(self._counter[0] - c0)
        return out

    def train_epoch(self, *a, **k):
        return self._spy(self._k.train_epoch, *a, **k)

    def forward(self, *a, **k):
        return self._spy(self._k.forward, *a, **k)


def test_another_thread_runs_while_the_kernels_compute(monkeypatch):
    counter = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            counter[0] += 1

    spy = _KernelSpy(network_module._kernels, counter)
    monkeypatch.setattr(network_module, "_kernels", spy)  # predict
    monkeypatch.setattr(training_module, "_kernels", spy)  # fit
    rng = np.random.default_rng(0)
    # each call computes for a few hundred ms, so that on a busy machine the
    # spinning thread is certainly scheduled at some point during it
    X, Y = rng.uniform(size=(12000, 64)), rng.uniform(size=(12000, 10))
    net = nncore.Network([64, 64, 10], seed=0)
    try:
        from threadpoolctl import threadpool_limits
        limits = threadpool_limits(1)  # BLAS on one core, the spinner on the other
    except ImportError:  # pragma: no cover
        limits = None
    t = threading.Thread(target=spin, daemon=True)
    t.start()
    try:
        net.fit(X, Y, epochs=2, batch_size=16)
        net.predict(np.tile(X, (20, 1)))
    finally:
        stop.set()
        t.join()
        if limits is not None:
            limits.restore_original_limits()
    assert len(spy.progress) == 3
    # holding the GIL through a call would leave the spinning thread at exactly 0
    assert min(spy.progress) > 100, spy.progress


def test_predict_from_four_threads_equals_serial():
    rng = np.random.default_rng(1)
    net = nncore.Network([20, 32, 16, 5], activation="relu", output="softmax", seed=2)
    chunks = [rng.normal(size=(int(n), 20)) for n in rng.integers(1, 1500, size=12)]
    serial = [net.predict(c).tobytes() for c in chunks]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(5):
            parallel = list(pool.map(lambda c: net.predict(c).tobytes(), chunks))
            assert parallel == serial
        losses = list(pool.map(lambda c: net.loss(c, np.full((len(c), 5), 0.2)), chunks))
    assert losses == [net.loss(c, np.full((len(c), 5), 0.2)) for c in chunks]


def test_concurrent_fit_on_one_network_is_refused():
    X, Y = _xy(200)
    net = _net()
    started, tried = threading.Event(), threading.Event()
    errors = []

    def hold(epoch, logs):
        if epoch == 0:
            started.set()
            tried.wait(30)

    def train():
        try:
            net.fit(X, Y, epochs=5, callbacks=[hold], **FIT)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    t = threading.Thread(target=train)
    t.start()
    try:
        assert started.wait(30)
        with pytest.raises(RuntimeError, match=r"fit is already running on this network.*copy"):
            net.fit(X, Y, epochs=1, **FIT)
    finally:
        tried.set()
        t.join()
    assert not errors
    # the refused call did not disturb the running one
    assert _consistent(net) == 5
    assert net.params.tobytes() == _replay(5, X, Y).params.tobytes()
    # and once it is done, fit works again
    net.fit(X, Y, epochs=1, **FIT)


def test_separate_networks_train_in_parallel_threads_like_serially():
    X, Y = _xy(300)
    serial = [_replay(3, X, Y).params.tobytes() for _ in range(4)]
    nets = [_net() for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: n.fit(X, Y, epochs=3, **FIT), nets))
    assert [n.params.tobytes() for n in nets] == serial


# ---------------------------------------------------------------- determinism

def _trained_digest(dtype, optimizer, seed=11):
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(200, 6))
    Y = (X[:, :2] > 0.5).astype(float)
    net = nncore.Network([6, 12, 2], activation="relu", dtype=dtype, seed=seed)
    net.fit(X, Y, epochs=4, batch_size=7, optimizer=optimizer, shuffle=True,
            weight_decay=1e-4)
    return hashlib.sha256(net.params.tobytes()).hexdigest()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_same_seed_same_bits_run_to_run(dtype, optimizer):
    assert _trained_digest(dtype, optimizer) == _trained_digest(dtype, optimizer)
    assert _trained_digest(dtype, optimizer) != _trained_digest(dtype, optimizer, seed=12)


def test_same_seed_same_bits_in_a_fresh_process():
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(__import__("pathlib").Path(__file__).parent)!r})
        from test_robustness import _trained_digest
        print(*[_trained_digest(d, o) for d in ("float64", "float32")
                for o in ("sgd", "adam")])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    assert out == [_trained_digest(d, o) for d in ("float64", "float32") for o in ("sgd", "adam")]

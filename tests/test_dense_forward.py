"""The forward product nncore computes without BLAS (AVX-512, _dense.h) against the
pure-Python reference, and against the BLAS path it replaces.

Its tiles are 8 rows x 3 vectors of neurons (8 a vector in float64, 16 in float32),
with tails of 4 and 1 rows and of 1-3 vectors (the last one masked): the widths and
chunk sizes here land on every one of them in both dtypes. Calls over fewer than 512
rows (_DENSE_CALL_MIN_ROWS; a pass of at least 64 and at most _DENSE_SHORT_PASS_WORK
multiply-adds excepted, in float32 one of 256 inputs or more) and products of fewer
than 64 (NN_DENSE_MIN_ROWS) go to BLAS, and in float32 those of fewer than 256 for
which the weights would be packed afresh (a minibatch's): the calls here take 520
rows or more, besides the short passes of test_short_passes_take_the_dense_product."""

import platform
import sys
import warnings

import numpy as np
import pytest
from conftest import assert_close

import nncore
from nncore import _kernels, _parallel, reference

WIDTHS = [1, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 33, 47, 48, 49, 100]
CHUNKS = [64, 65, 67, 71, 72, 200]  # rows a product (the last chunk of 520: 8 to 456)
ROWS = 520


@pytest.fixture(params=[True, False], ids=["dense", "blas"])
def path(request):
    before = _kernels._dense_forward(request.param)
    yield request.param
    _kernels._dense_forward(before)


def _twins(sizes, seed, activation="tanh", output="sigmoid", dtype=np.float64):
    rng = np.random.default_rng(seed)
    net = nncore.Network(sizes, activation=activation, output=output, loss="mse", seed=seed,
                         dtype=dtype)
    net.params = net.params + rng.normal(0, 0.3, net.n_params)  # biases matter too
    ref = reference.Network(sizes, activation=activation, output=output, loss="mse",
                            seed=seed)
    ref.params = [float(p) for p in net.params]  # (float32's values, in double)
    return net, ref, rng


def _on_and_off(switch, f):
    """f() with the kernels' switch on, then off (the setting restored)."""
    out = []
    for on in (True, False):
        before = switch(on)
        try:
            out.append(f())
        finally:
            switch(before)
    return out


def _on_both_paths(f):
    """f() with the dense product on, then off."""
    return _on_and_off(_kernels._dense_forward, f)


def _avx512():
    try:
        with open("/proc/cpuinfo") as f:
            return " avx512f " in f.read().replace("\n", " ")
    except OSError:
        return False


@pytest.mark.skipif(not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
                    reason="the dense product is built for x86-64; the flags come from "
                    "/proc/cpuinfo")
def test_it_runs_where_the_processor_has_avx512():
    # (the reference tests below pass on either path: this one says which ran)
    assert _kernels._dense_forward_available() == _avx512()


@pytest.mark.parametrize("n_out", WIDTHS)
def test_every_tile_against_the_reference(n_out, path, dtype, monkeypatch):
    net, ref, rng = _twins([13, n_out, 3], n_out, dtype=dtype)
    X = rng.uniform(-2, 2, (ROWS, 13)).astype(dtype)
    Y = rng.uniform(0, 1, (ROWS, 3)).astype(dtype)
    Xl, Yl = X.astype(float).tolist(), Y.astype(float).tolist()
    out, grad = ref.predict(Xl), ref.gradient(Xl, Yl)
    for rows in CHUNKS:
        monkeypatch.setattr(_parallel, "CHUNK_ROWS", rows)
        assert_close(net.predict(X), out, dtype)
        assert_close(net.gradient(X, Y), grad, dtype)


@pytest.mark.parametrize("n_in", [1, 2, 9, 130])
def test_every_input_width_against_the_reference(n_in, path, dtype):
    net, ref, rng = _twins([n_in, 30, 10], n_in, activation="relu", output="softmax",
                           dtype=dtype)
    X = rng.uniform(-1, 1, (ROWS, n_in)).astype(dtype)
    assert_close(net.predict(X), ref.predict(X.astype(float).tolist()), dtype)


def test_a_pass_over_few_rows_leaves_the_products_to_blas(dtype):
    # (no pack for passes under 64 rows, none of whose products would take it, nor
    # for short passes of more work than _DENSE_SHORT_PASS_WORK: BLAS may take two
    # threads for them; 784-100-3 over 100 rows is 7.9 Mi multiply-adds)
    # (and in float32 for narrow inputs)
    cases = [([13, 100, 3], 63), ([784, 100, 3], 100), ([784, 100, 3], 511)]
    if dtype == np.float32:
        cases.append(([13, 100, 3], 200))
    for sizes, rows in cases:
        net, _, rng = _twins(sizes, 3, dtype=dtype)
        X = rng.uniform(-2, 2, (rows, sizes[0])).astype(dtype)
        Y = rng.uniform(0, 1, (rows, 3)).astype(dtype)
        dense, blas = _on_both_paths(lambda net=net, X=X, Y=Y: net.gradient(X, Y))
        np.testing.assert_array_equal(dense, blas)


@pytest.mark.parametrize("rows", [65, 130, 160])
def test_short_passes_take_the_dense_product(rows, dtype):
    """Passes from 64 rows on (predict beyond its lean path's 64, the loss and
    gradient) pack the weights: they agree with the reference, and round as the
    dense product does, not as BLAS, where the processor has it."""
    # (float32 from 256 inputs; 160 rows of 256-100-3: just under the work bound)
    n_in = 13 if dtype == np.float64 else 256
    net, ref, rng = _twins([n_in, 100, 3], rows, dtype=dtype)
    X = rng.uniform(-2, 2, (rows, n_in)).astype(dtype)
    Y = rng.uniform(0, 1, (rows, 3)).astype(dtype)
    Xl, Yl = X.astype(float).tolist(), Y.astype(float).tolist()
    dense, blas = _on_both_paths(lambda: (net.predict(X), net.gradient(X, Y)))
    assert_close(dense[0], ref.predict(Xl), dtype)
    assert_close(dense[1], ref.gradient(Xl, Yl), dtype)
    if _kernels._dense_forward_available():
        assert not np.array_equal(dense[0], blas[0])


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("blocks", [None, 64], ids=["whole", "blocks64"])
def test_training_against_the_reference(threads, blocks, path, dtype, monkeypatch):
    # 300-row minibatches, whole or split in two: each thread's rows take the dense
    # product (float32 from 256 rows a thread: its halves' 150 go to BLAS).  In cache
    # blocks of 64 rows (which the dense product takes in float64) the weights are
    # packed once a minibatch, and its blocks' gradients added before the one update
    monkeypatch.setattr(_parallel, "BLOCK_ROWS", blocks)
    net, ref, rng = _twins([20, 30, 5], 5, activation="sigmoid", output="sigmoid",
                           dtype=dtype)
    X = rng.uniform(-2, 2, (600, 20)).astype(dtype)
    Y = rng.uniform(0, 1, (600, 5)).astype(dtype)
    net.fit(X, Y, epochs=3, batch_size=300, learning_rate=0.5, n_threads=threads)
    ref.fit(X.astype(float).tolist(), Y.astype(float).tolist(), epochs=3, batch_size=300,
            learning_rate=0.5)
    assert_close(net.params, ref.params, dtype)
    assert_close(net.history["loss"], ref.history["loss"], dtype)


def test_the_dense_and_blas_paths_train_the_same_network():
    rng = np.random.default_rng(3)
    X = rng.random((600, 784))
    y = rng.integers(0, 10, 600)

    def fit():
        net = nncore.Network([784, 100, 10], activation="relu", output="softmax",
                             loss="cross_entropy", seed=0)
        net.fit(X, np.eye(10)[y], epochs=2, batch_size=200, optimizer="adam",
                learning_rate=1e-3, n_threads=1)
        return net.params.copy(), net.predict(X)

    dense, blas = _on_both_paths(fit)
    assert_close(dense[0], blas[0], np.float64)
    assert_close(dense[1], blas[1], np.float64)


@pytest.mark.parametrize("way, threads, blocks", [
    ("layer", 1, None), ("layer", 2, None), ("layer", 1, 64), ("layer", 2, 64),
    ("look-ahead", 1, None)])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("inputs", ["uniform", "blank"])
def test_rows_gathered_by_the_first_product_train_as_rows_copied_first(
        way, threads, blocks, optimizer, inputs, dtype, monkeypatch):
    """A shuffled minibatch's rows, gathered from X by the first layer's dense product
    as it reads them (nn_dense_fwd_gather_d/f), or copied to the minibatch buffer
    before it: the same network to the last bit.  613 rows in minibatches of 300
    (float32 packs a minibatch's weights from 256 rows): groups of 8 rows and the
    tails of 4 and 1; in the layer's pass, whole minibatches and blocks of 64 rows,
    one thread or two (float32's halves of 150 rows a thread go to BLAS, and are
    copied first); and in the look-ahead's first panel (forced: panels of 2 neurons,
    the dense kernel from 1 row), which lists the inputs zero in a group of rows for
    the other panels whether it gathers the rows or reads the copy."""
    if blocks is not None:
        monkeypatch.setattr(_parallel, "BLOCK_ROWS", blocks)
    rng = np.random.default_rng(8)
    X = rng.uniform(-1, 1, (613, 50)).astype(dtype) if inputs == "uniform" \
        else _blank_inputs(rng, 613, 50, dtype)
    Y = np.eye(3, dtype=dtype)[rng.integers(0, 3, 613)]

    def fit():
        net = nncore.Network([50, 40, 3], activation="relu", output="softmax",
                             loss="cross_entropy", seed=8, dtype=dtype)
        net.fit(X, Y, epochs=3, batch_size=300, optimizer=optimizer, learning_rate=0.05,
                n_threads=threads)
        return net.params.copy()

    panels = _kernels._panel_steps(*((2, 0, (1, 2**62)) if way == "look-ahead"
                                     else (0, None, None)))
    ahead = _kernels._panel_lookahead(True, 1)
    before = _kernels._gather_rows_in_product(True)
    try:
        gathered = fit()
        _kernels._gather_rows_in_product(False)
        copied = fit()
    finally:
        _kernels._gather_rows_in_product(before)
        _kernels._panel_lookahead(*ahead)
        _kernels._panel_steps(*panels)
    np.testing.assert_array_equal(gathered, copied)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_input_is_named_by_its_row(bad, path, dtype):
    net, _, rng = _twins([40, 30, 2], 1, dtype=dtype)
    X = rng.uniform(-1, 1, (600, 40)).astype(dtype)
    X[137, 11] = bad
    with pytest.raises(ValueError, match=r"row 137\b.*column 11\b"):
        net.predict(X)


def test_a_pass_too_wide_to_pack_agrees_with_blas(dtype):
    # 784 -> 256 packs into 0.8 MB in float32; in float64, 1.6 MB exceeds the size
    # limit and BLAS takes that layer, the pack the next
    net, _, rng = _twins([784, 256, 24], 2, activation="relu", dtype=dtype)
    X = rng.uniform(0, 1, (ROWS, 784)).astype(dtype)
    dense, blas = _on_both_paths(lambda: net.predict(X))
    assert_close(dense, blas, dtype)


def test_more_layers_than_the_packs_ready_bits_agree_with_blas():
    # layers from the 65th on are packed again for every product (no ready bit)
    net, _, rng = _twins([9] * 71 + [2], 71, activation="tanh")
    X = rng.uniform(-1, 1, (ROWS, 9))
    Y = rng.uniform(0, 1, (ROWS, 2))
    dense, blas = _on_both_paths(lambda: (net.predict(X), net.gradient(X, Y)))
    assert_close(dense[0], blas[0], np.float64)
    assert_close(dense[1], blas[1], np.float64)


def test_a_pass_spread_over_threads_agrees_with_blas(dtype):
    # 20,000 rows of 784-100-10: enough work for predict's and gradient's threads,
    # each of which packs the weights for its own chunks
    rng = np.random.default_rng(4)
    net = nncore.Network([784, 100, 10], activation="relu", output="softmax",
                         loss="cross_entropy", seed=4, dtype=dtype)
    X = rng.random((20_000, 784)).astype(dtype)
    Y = np.eye(10, dtype=dtype)[rng.integers(0, 10, 20_000)]
    dense, blas = _on_both_paths(lambda: (net.predict(X), net.gradient(X, Y)))
    assert_close(dense[0], blas[0], dtype)
    assert_close(dense[1], blas[1], dtype)


def test_a_narrow_network_keeps_whole_chunks_where_the_dense_product_takes_them(dtype):
    """784-30-10 on two threads: BLAS's products go in chunks of 32 rows, the dense
    kernel's in whole ones (it streams them at the memory's pace; the chunks of 32
    left a second thread no faster than one), a float32 gradient's pass in 32
    either way.  The same outputs and gradients from both."""
    sizes = [784, 30, 10]
    rng = np.random.default_rng(6)
    net = nncore.Network(sizes, seed=6, dtype=dtype)
    X = rng.random((3_000, 784)).astype(dtype)
    Y = np.eye(10, dtype=dtype)[rng.integers(0, 10, 3_000)]
    chunks, grads = {}, {}
    for enabled in (True, False):
        before = _kernels._dense_forward(enabled)
        try:
            dense = enabled and _kernels._dense_forward_available()
            assert _parallel.pass_chunk_rows(3_000, 2, sizes, dtype) == (
                _parallel.CHUNK_ROWS if dense else _parallel.SMALL_CHUNK_ROWS)
            # a gradient's pass too, in float64 (float32's BLAS gradient product
            # prefers the small chunks)
            assert _parallel.pass_chunk_rows(3_000, 2, sizes, dtype, gradient=True) == (
                _parallel.CHUNK_ROWS if dense and dtype == np.float64
                else _parallel.SMALL_CHUNK_ROWS)
            # too few rows for the dense kernel, or a first layer too large for its
            # pack (20,000 inputs, 1.3 MB): BLAS's small chunks
            assert _parallel.pass_chunk_rows(500, 2, sizes, dtype) == _parallel.SMALL_CHUNK_ROWS
            assert _parallel.pass_chunk_rows(3_000, 2, [20_000, 1, 1], dtype) == \
                _parallel.SMALL_CHUNK_ROWS
            out = np.empty((3_000, 10), dtype=dtype)
            _kernels.forward(net.params, net.spec.sizes, net.spec.acts, X, out,
                             net._workspace(3_000, 2), 2)
            chunks[enabled] = out
            grads[enabled] = net.gradient(X, Y)
        finally:
            _kernels._dense_forward(before)
    assert_close(chunks[True], chunks[False], dtype)
    assert_close(grads[True], grads[False], dtype)
    assert_close(chunks[True], net.predict(X), dtype)
    assert_close(net.loss(X, Y), float(np.mean(np.sum((chunks[False] - Y) ** 2, axis=1))),
                 np.float64 if dtype == np.float64 else np.float32)



def _blank_inputs(rng, n, n_in, dtype):
    """Inputs zero as images' margins are: each column zero with its own probability
    from 0 to 1, so that some are zero in every row and others in some groups of 8
    rows and not in others, those at either end most often (a minibatch's first and
    last non-zero inputs vary); some rows wholly zero; negative zeros among them."""
    X = rng.uniform(-1, 1, (n, n_in))
    p = np.linspace(0, 1, n_in)
    rng.shuffle(p)
    edge = max(1, n_in // 8)
    p[:edge] = p[-edge:] = np.linspace(0.99, 1, edge)
    X[rng.random((n, n_in)) < p] = 0.0
    X[rng.choice(n, 9, replace=False)] = 0.0
    X[(X == 0) & (rng.random((n, n_in)) < 0.3)] = -0.0
    return X.astype(dtype)


def _skipping(f):
    """f() with zero inputs passed over, then not."""
    return _on_and_off(_kernels._skip_zero_inputs, f)


@pytest.mark.parametrize("n_out", [25, 49, 100])
def test_inputs_zero_in_whole_groups_against_the_reference(n_out, path, dtype, monkeypatch):
    # (more than one panel of neurons: 3 vectors, 24 in float64 and 48 in float32;
    # the later panels pass over the inputs the first found zero in all 8 rows)
    net, ref, rng = _twins([40, n_out, 3], n_out, activation="relu", dtype=dtype)
    X = _blank_inputs(rng, ROWS, 40, dtype)
    Y = rng.uniform(0, 1, (ROWS, 3)).astype(dtype)
    Xl, Yl = X.astype(float).tolist(), Y.astype(float).tolist()
    out, grad = ref.predict(Xl), ref.gradient(Xl, Yl)
    for rows in (64, 67, 200):
        monkeypatch.setattr(_parallel, "CHUNK_ROWS", rows)
        assert_close(net.predict(X), out, dtype)
        assert_close(net.gradient(X, Y), grad, dtype)


@pytest.mark.parametrize("threads", [1, 2])
def test_passing_over_zero_inputs_changes_no_bit(threads, dtype):
    """Each output is the bias plus the products in the order of the inputs whether
    or not the zero ones are passed over (adding a zero product rounds nothing): the
    same predictions to the last bit, in passes and in training's gathered
    minibatches (float32 packs a minibatch's weights from 256 rows).  The first
    layer's weight gradient is zero at the inputs blank in a whole minibatch at
    either end, and BLAS's product over the others rounds a few of its sums
    differently (by an ulp: its kernels split a narrower matrix otherwise): the
    same gradients and trained networks to the dtype's rounding."""
    rng = np.random.default_rng(11)
    X = _blank_inputs(rng, 1_200, 300, dtype)
    Y = np.eye(10, dtype=dtype)[rng.integers(0, 10, 1_200)]

    def run():
        net = nncore.Network([300, 100, 10], activation="relu", output="softmax",
                             loss="cross_entropy", seed=11, dtype=dtype)
        out = [net.predict(X), net.gradient(X, Y)]
        net.fit(X, Y, epochs=2, batch_size=300, optimizer="adam", learning_rate=1e-3,
                n_threads=threads)
        out += [net.params.copy(), net.predict(X)]
        # (plain SGD's step is fused into the gradient's product; with weight decay
        # the weights of the inputs left out are scaled)
        net.fit(X, Y, epochs=1, batch_size=300, n_threads=threads,
                optimizer=nncore.optimizers.SGD(0.05, weight_decay=0.01))
        return out + [net.params.copy()]

    skipped, whole = _skipping(run)
    np.testing.assert_array_equal(skipped[0], whole[0])
    for a, b in zip(skipped[1:], whole[1:]):
        assert_close(a, b, dtype)


@pytest.mark.parametrize("column", [7, 0, 39], ids=["inside", "first", "last"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_weight_of_an_input_zero_everywhere_makes_nan(bad, column, dtype):
    """0 * inf and 0 * NaN are NaN: a product may pass over zero inputs only while
    the weights it leaves out are finite.  A weight gone non-finite (a diverged fit)
    on an input zero in every row, inside or at either end, gives NaN on the dense
    path, which passes over the inputs zero in a group, as on BLAS's, and as with
    nothing passed over."""
    net, _, rng = _twins([40, 60, 3], 2, activation="identity", output="identity",
                         dtype=dtype)
    X = _blank_inputs(rng, ROWS, 40, dtype)
    X[:, column] = 0.0
    # neuron 55's weight: in a later panel of the dense kernel's, which passes over
    # zero inputs (in place: assigning params refuses non-finite values, training
    # does not)
    net.params[55 * 41 + 1 + column] = bad
    dense, blas = _on_both_paths(lambda: net.predict(X))
    skipped, whole = _skipping(lambda: _on_both_paths(lambda: net.predict(X[:40]))[1])
    assert np.isnan(whole).all()
    for out in (dense, blas, skipped):
        assert np.isnan(out).all()


MARGIN_OPTIMIZERS = {
    "sgd": (lambda: nncore.optimizers.SGD(0.3), lambda: reference.SGD(0.3)),
    "sgd-decay": (lambda: nncore.optimizers.SGD(0.1, weight_decay=0.05),
                  lambda: reference.SGD(0.1, weight_decay=0.05)),
    "momentum": (lambda: nncore.optimizers.SGD(0.1, momentum=0.8),
                 lambda: reference.SGD(0.1, momentum=0.8)),
    "nesterov-decay": (lambda: nncore.optimizers.SGD(0.1, momentum=0.8, nesterov=True,
                                                     weight_decay=0.01),
                       lambda: reference.SGD(0.1, momentum=0.8, nesterov=True,
                                             weight_decay=0.01)),
    "adam": (lambda: nncore.optimizers.Adam(0.01), lambda: reference.Adam(0.01)),
}


@pytest.mark.parametrize("optimizer", MARGIN_OPTIMIZERS)
def test_inputs_blank_at_the_ends_train_against_the_reference(optimizer, dtype, first_layer):
    """Minibatches of 5 rows whose inputs are zero from either end to a different
    point in each row, and one minibatch of rows wholly zero: the first layer's
    weight gradient over the inputs between the minibatch's first and last non-zero
    ones only, every optimiser's step (SGD's fused into the product, with and without
    the weight decay that scales the weights left out; momentum's into its velocity)
    against the reference's, after the whole gradient or panel by panel."""
    make, make_ref = MARGIN_OPTIMIZERS[optimizer]
    net, ref, rng = _twins([30, 8, 3], 9, dtype=dtype)
    X = rng.uniform(-1, 1, (40, 30))
    for i in range(40):
        X[i, :rng.integers(2, 12)] = 0.0
        X[i, 30 - rng.integers(1, 10):] = 0.0
    X[10:15] = 0.0
    X = X.astype(dtype)
    Y = rng.uniform(0, 1, (40, 3)).astype(dtype)
    _train_against_the_reference(net, ref, X, Y, make, make_ref, 5, dtype)


def _train_against_the_reference(net, ref, X, Y, make, make_ref, batch_size, dtype):
    """Three epochs of the twins from the same start: the same parameters and losses."""
    net.fit(X, Y, epochs=3, batch_size=batch_size, optimizer=make())
    ref.fit(X.astype(float).tolist(), Y.astype(float).tolist(), epochs=3,
            batch_size=batch_size, optimizer=make_ref())
    assert_close(net.params, ref.params, dtype)
    assert_close(net.history["loss"], ref.history["loss"], dtype)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_a_diverged_fit_on_blank_inputs_gives_nan_as_blas_does(solver, dtype):
    """Deltas gone infinite or NaN make the whole weight gradient NaN, inputs blank in
    every row included (0 * inf is NaN): the margins are passed over only while the
    deltas are finite, so a fit that diverges and trains on (as the drop-in does,
    after scikit-learn) ends with the same NaN as without."""
    from nncore._sklearn_base import train_network

    rng = np.random.default_rng(5)
    X = rng.uniform(0, 1, (64, 30))
    X[:, :6] = X[:, -5:] = 0.0
    X = X.astype(dtype)
    Y = (rng.uniform(-1, 1, (64, 2)) * np.finfo(dtype).max / 10).astype(dtype)

    def run():
        net = nncore.Network([30, 20, 2], activation="relu", output="identity", loss="mse",
                             seed=5, dtype=dtype)
        opt = nncore.optimizers.Adam(1e9) if solver == "adam" else nncore.optimizers.SGD(1e9)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            train_network(net, X, Y, None, opt, epochs=3, batch_size=16, shuffle=False,
                          on_divergence="continue", stop_nonfinite=False)
        return net.params.copy()

    skipped, whole = _skipping(run)
    margins = whole[:20 * 31].reshape(20, 31)[:, np.r_[1:7, 26:31]]
    assert np.isnan(margins).all()
    np.testing.assert_array_equal(skipped, whole)


def test_a_wide_input_lists_its_inputs_off_the_stack(dtype):
    # a group's list of inputs lives on the stack up to 2,048 inputs
    # (NN_DENSE_KS_STACK), in memory of its own beyond: 3,000 inputs to 30 neurons
    # (float64) or 60 (float32) still pack under 1 MB
    n_out = 30 if dtype == np.float64 else 60
    net, _, rng = _twins([3000, n_out, 2], 3, activation="relu", dtype=dtype)
    assert _kernels._dense_layer_packs(3000, n_out, dtype == np.float64)
    X = _blank_inputs(rng, ROWS, 3000, dtype)
    skipped, whole = _skipping(lambda: net.predict(X))
    np.testing.assert_array_equal(skipped, whole)
    dense, blas = _on_both_paths(lambda: net.predict(X))
    assert_close(dense, blas, dtype)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_groups_of_rows_with_zero_inputs_train_against_the_reference(optimizer, dtype,
                                                                     first_layer):
    """Minibatches of 16 rows (two groups of 8) of inputs zero in some groups: the
    products pass over them in a layer's pass, and in the look-ahead, whose panels
    (2 neurons here) are each a single panel of the dense kernel's, the first panel
    lists each group's inputs and the others take its lists.  Against the
    reference, every way the first layer is updated."""
    make, make_ref = MARGIN_OPTIMIZERS[optimizer]
    net, ref, rng = _twins([40, 12, 3], 4, activation="relu", dtype=dtype)
    X = _blank_inputs(rng, 64, 40, dtype)
    Y = rng.uniform(0, 1, (64, 3)).astype(dtype)
    _train_against_the_reference(net, ref, X, Y, make, make_ref, 16, dtype)

"""Backpropagation against central finite differences (float64)."""

import numpy as np
import pytest

import nncore


def central_differences(net, X, Y, h=1e-6):
    p0 = net.params.copy()
    g = np.empty_like(p0)
    for i in range(p0.size):
        net.params[i] = p0[i] + h
        up = net.loss(X, Y)
        net.params[i] = p0[i] - h
        down = net.loss(X, Y)
        net.params[i] = p0[i]
        g[i] = (up - down) / (2 * h)
    return g


@pytest.mark.parametrize("sizes", [[3, 1], [2, 3, 1], [4, 5, 3], [3, 4, 4, 2]])
def test_backprop_equals_finite_differences(sizes):
    rng = np.random.default_rng(len(sizes))
    net = nncore.Network(sizes, seed=1)
    net.params = net.params + rng.normal(0, 0.5, net.n_params)
    X = rng.normal(size=(6, sizes[0]))
    Y = rng.uniform(size=(6, sizes[-1]))
    g = net.gradient(X, Y)
    fd = central_differences(net, X, Y)
    # central differences are accurate to O(h^2) ~ 1e-12 plus rounding of
    # loss/h ~ 1e-16/1e-6 = 1e-10: 1e-7 relative to the gradient's scale is safe
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7 * np.abs(fd).max())

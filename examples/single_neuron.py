"""The lecture's single neuron, forwards and backwards.

One sigmoid neuron with bias b = -2 and weights W = [-1, 0.5, 10] sees
x = [4, -2, 1] with target y = 1; the cost is the lecture's
C = (y~ - y)^2.  Every number below comes from nncore's compiled kernels.

    python examples/single_neuron.py
"""

import numpy as np

import nncore
from nncore.explain import gradcheck, trace

net = nncore.Network([3, 1], output="sigmoid", loss="mse", seed=0)
net.biases[0][:] = -2.0
net.weights[0][0] = [-1.0, 0.5, 10.0]
x = np.array([4.0, -2.0, 1.0])
y = 1.0

print("the parameter vector [b, w_1, w_2, w_3]:", net.params.tolist())
z = net.biases[0][0] + net.weights[0][0] @ x
print(f"z = b + W x = -2 + (-1)(4) + (0.5)(-2) + (10)(1) = {z:g}")
print()

t = trace(net, x, y)
print(t)
print()
layer = t.layers[0]
steps = [
    ("y~ = sigma(z)", t.output[0]),
    ("C = (y~ - y)^2", t.cost),
    ("dC/dy~ = 2 (y~ - y)", layer.dC_da[0]),
    ("dy~/dz = sigma(z) (1 - sigma(z))", layer.act_prime[0]),
    ("dC/dz = dC/dy~ * dy~/dz", layer.delta[0]),
    ("dC/db = dC/dz * 1", layer.bias_grad[0]),
]
for what, value in steps:
    print(f"{what:<33} = {value:.10f}")
print(f"{'dC/dW = dC/dz * x':<33} = ["
      + ", ".join(f"{g:.10f}" for g in layer.weight_grad[0]) + "]")
print()
print(f"as on the lecture's slide: z = {layer.z[0]:g}, y~ = {t.output[0]:.4f}, "
      f"dC/dy~ = {layer.dC_da[0]:.4f}, dC/dz = {layer.delta[0]:.3g}")
print()
err = gradcheck(net, x[None], [[y]])
print(f"gradient check against central differences: {'passed' if err < 1e-6 else 'FAILED'}")

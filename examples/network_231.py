"""The lecture's 2-3-1 network: 13 parameters in one vector, and their gradient.

The 2-3-1 network has three hidden neurons with a bias and two weights each
and one output neuron with a bias and three weights: 3 * (2 + 1) + 1 * (3 + 1)
= 13 numbers, stored as ONE vector w_0 ... w_12, neuron by neuron, bias first.
Its gradient has the same 13 entries in the same order.

    python examples/network_231.py
"""

import numpy as np

import nncore
from nncore.explain import gradient_table, trace

net = nncore.Network([2, 3, 1], activation="sigmoid", output="sigmoid", loss="mse", seed=0)
print(f"{net!r}: {net.n_params} parameters")
print()
print("the parameter vector, and what each entry is:")
p = 0
for layer, (n_in, n_out) in enumerate(zip(net.sizes[:-1], net.sizes[1:], strict=True),
                                       start=1):
    for j in range(n_out):
        source = "input " if layer == 1 else f"neuron {layer - 1}."
        names = [f"bias of neuron {layer}.{j}"] + [f"weight from {source}{k} to neuron {layer}.{j}"
                                               for k in range(n_in)]
        for name in names:
            print(f"  w_{p:<2} = {net.params[p]:+.6f}   {name}")
            p += 1
print()
print("weights[0] and biases[0] are views of w_0 ... w_8:")
print("  W_1 =", np.array2string(net.weights[0], precision=6, prefix="  W_1 = "))
print("  b_1 =", net.biases[0])

# XOR: the four corners of the square
X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = np.array([[0.0], [1.0], [1.0], [0.0]])
print()
print("one example, x = [0, 1], y = 1, node by node:")
print(trace(net, X[1], Y[1]))
print()
print("the gradient of every parameter for every example, and their average:")
print(gradient_table(net, X, Y, examples=4))
print()
g = net.gradient(X, Y)
print("grad C = net.gradient(X, Y), the same 13 numbers as the average column:")
print("  [" + ", ".join(f"{v:.6f}" for v in g) + "]")

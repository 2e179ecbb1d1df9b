"""Training by gradient descent: W = W_old - r grad C(W_old), the cost falling.

First the lecture's rule written out: compute grad C over all training
digits with backpropagation and step against it.  Then the same network
trained with minibatches by Network.fit, one compiled call per epoch.

    python examples/gradient_descent.py
"""

import nncore
from nncore.datasets import digits_split, one_hot

X_train, X_test, y_train, y_test = digits_split()
Y_train, Y_test = one_hot(y_train, 10), one_hot(y_test, 10)

net = nncore.Network([64, 16, 10], activation="sigmoid", output="sigmoid", loss="mse", seed=0)
r = 3.0
print(f"gradient descent on {len(X_train)} digits, {net.n_params} parameters, r = {r}")
print(f"  step   0: C = {net.loss(X_train, Y_train):.4f}")
for step in range(1, 201):
    net.params -= r * net.gradient(X_train, Y_train)
    if step % 25 == 0:
        print(f"  step {step:3d}: C = {net.loss(X_train, Y_train):.4f}")
print(f"  test accuracy after 200 steps: {net.accuracy(X_test, Y_test):.3f}")

print()
net = nncore.Network([64, 16, 10], activation="sigmoid", output="sigmoid", loss="mse", seed=0)
net.fit(X_train, Y_train, epochs=20, batch_size=10, learning_rate=3.0)
print("minibatch gradient descent (Network.fit, batch_size=10, r = 3.0):")
for epoch, loss in enumerate(net.history["loss"], start=1):
    if epoch == 1 or epoch % 4 == 0:
        print(f"  epoch {epoch:2d}: C = {loss:.4f}")
print(f"  test accuracy after 20 epochs: {net.accuracy(X_test, Y_test):.3f}")

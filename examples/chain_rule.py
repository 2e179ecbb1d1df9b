"""The chain rule, step by step: the lecture's f(h(g(m(x)))) at x = 1.

m(z) = -z, g(z) = exp(z), h(z) = z + 1, f(z) = 1/z.  Each stage's local
derivative is multiplied along the chain; backpropagation carries the product
from the output side (df/dh, df/dg, df/dm, df/dx).  A small nudge of x from 1
to 1.1 estimates the same derivative by a finite difference.

    python examples/chain_rule.py
"""

from nncore.explain import chain

c = chain([("m", "neg"), ("g", "exp"), ("h", "add1"), ("f", "inv")], x=1.0, nudge=0.1)
print(c)
print()
m, g, h, f = c.rows
print(f"as on the lecture's slide (2 decimals): h = {h.value:.2f}, df/dh = {f.backward:.2f}, "
      f"df/dm = {g.backward:.2f}, df/dx = {m.backward:.2f}")
print(f"the chain rule and the nudge differ by {c.derivative - c.nudge_estimate:.4f}: "
      f"a nudge of 0.1 is not infinitely small")

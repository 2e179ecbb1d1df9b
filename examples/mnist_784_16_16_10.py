"""The lecture's 784-16-16-10 network and its per-example gradient table.

784 inputs (a 28x28 image), two hidden layers of 16 sigmoid neurons and 10
outputs, one per digit: 16 * (784 + 1) + 16 * (16 + 1) + 10 * (16 + 1) = 13,002
parameters, one vector w_0 ... w_13001.  For every training image
backpropagation gives all 13,002 partial derivatives; the table shows a few
images' columns and the average over all of them, which is grad C.

Without arguments it uses the digits bundled with nncore (8x8 pixels, each
blown up to a 3x3 block and padded to 28x28, as MNIST centres its digits).
Given MNIST's IDX files (a folder holding train-images-idx3-ubyte and
train-labels-idx1-ubyte, optionally .gz, or the two files) it uses those.

    python examples/mnist_784_16_16_10.py [MNIST_DIR | IMAGES LABELS] [--samples N]
"""

import argparse
import gzip
from pathlib import Path

import numpy as np

import nncore
from nncore.datasets import load_digits, one_hot
from nncore.explain import gradient_table


def read_idx(path) -> np.ndarray:
    """An IDX file (MNIST's format): magic 0x0000 <type 0x08> <ndim>, the
    big-endian uint32 dimensions, then unsigned bytes."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"),
                 stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(f"no {stem}[.gz] in {folder}")


def load_mnist(paths, n):
    if len(paths) == 1:
        folder = Path(paths[0])
        paths = [find(folder, "train-images-idx3-ubyte"),
                 find(folder, "train-labels-idx1-ubyte")]
    images, labels = read_idx(paths[0])[:n], read_idx(paths[1])[:n]
    return images.reshape(len(images), -1) / 255.0, labels.astype(np.int64), "MNIST"


def load_upsampled_digits(n):
    digits = load_digits(scale=True)
    big = np.kron(digits.images[:n], np.ones((3, 3)))  # 8x8 -> 24x24
    big = np.pad(big, ((0, 0), (2, 2), (2, 2)))  # -> 28x28, centred
    return big.reshape(len(big), -1), digits.target[:n], "bundled digits upsampled to 28x28"


parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("mnist", nargs="*", help="MNIST folder, or images and labels IDX files")
parser.add_argument("--samples", type=int, default=2000, help="images to use (default 2000)")
args = parser.parse_args()
if len(args.mnist) > 2:
    parser.error("give a folder, or the images and labels files")
X, y, source = (load_mnist(args.mnist, args.samples) if args.mnist
                else load_upsampled_digits(args.samples))
Y = one_hot(y, 10)

net = nncore.Network([784, 16, 16, 10], activation="sigmoid", output="sigmoid", seed=0)
print(f"{net!r}")
counts = [f"{n_out} * ({n_in} + 1)"
          for n_in, n_out in zip(net.sizes[:-1], net.sizes[1:], strict=True)]
print(f"parameters: {' + '.join(counts)} = {net.n_params:,}")
print(f"params is one vector of shape {net.params.shape}; weights[0] is a "
      f"{net.weights[0].shape} view of it")
print(f"data: {len(X)} images of {X.shape[1]} pixels ({source})")
print()
# w_0 is neuron 1.0's bias and w_(1 + k) its weight from pixel k: the border
# pixels are blank in every image, so their weights get no gradient; show the
# first few, a few from the middle of the image (row 14) and the last few.
middle = 1 + 14 * 28 + 10
print(gradient_table(net, X, Y, examples=6,
                     rows=[0, 1, 2, *range(middle, middle + 5), 13000, 13001]))
print()
G = net.per_sample_gradients(X[:6], Y[:6])
print(f"net.per_sample_gradients(X[:6], Y[:6]).shape = {G.shape}")

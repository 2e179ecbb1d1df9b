"""Training on a Dask cluster: the average over all the training data as a map-reduce.

Starts a LocalCluster of worker processes on this machine, puts the training images
in a dask array chunked by rows (each worker holds some of the blocks), fits
nncore.dask.MLPClassifier with L-BFGS -- every loss evaluation is summed over the
blocks by the workers that hold them, the parameters go out and one gradient comes
back -- and prints the accuracy on the held-out images, predicted blockwise.

Without arguments it uses the digits bundled with nncore (8x8 pixels); given
MNIST's IDX folder (train-* and t10k-* files, optionally .gz) it uses those.  On a
real cluster only the cluster changes: Client("tcp://scheduler:8786") instead of
the LocalCluster (see the README's "More than one machine").

    python examples/dask_mnist.py [MNIST_DIR] [--workers 2] [--iterations 50]
"""

import argparse
import time

import dask.array as da
from distributed import Client, LocalCluster

import nncore.dask
from nncore.datasets import digits_split, read_data


def load(folder):
    if folder is None:
        X_train, X_test, y_train, y_test = digits_split()
        return X_train, X_test, y_train, y_test, "bundled digits"
    train, test = read_data(folder, subset="train"), read_data(folder, subset="test")
    return (train.data / 255.0, test.data / 255.0, train.target, test.target, "MNIST")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mnist", nargs="?", help="a folder holding MNIST's IDX files")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--iterations", type=int, default=50, help="L-BFGS iterations")
    args = parser.parse_args()
    X_train, X_test, y_train, y_test, source = load(args.mnist)

    with LocalCluster(n_workers=args.workers, threads_per_worker=1,
                      dashboard_address=None) as cluster, Client(cluster):
        rows = -(-len(X_train) // (2 * args.workers))  # two blocks per worker
        X = da.from_array(X_train, chunks=(rows, X_train.shape[1]))
        y = da.from_array(y_train, chunks=rows)
        print(f"data: {len(X_train)} training images of {X.shape[1]} pixels ({source}) in "
              f"{X.numblocks[0]} blocks on {args.workers} workers")
        clf = nncore.dask.MLPClassifier(hidden_layer_sizes=(100,), max_iter=args.iterations,
                                        random_state=0)
        start = time.perf_counter()
        clf.fit(X, y)
        seconds = time.perf_counter() - start
        print(f"L-BFGS: {clf.n_iter_} iterations in {seconds:.1f} s, loss {clf.loss_:.4f}")
        accuracy = clf.score(da.from_array(X_test, chunks=(rows, X_test.shape[1])), y_test)
        print(f"accuracy on {len(X_test)} held-out images: {float(accuracy):.3f}")


if __name__ == "__main__":
    main()

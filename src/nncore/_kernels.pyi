"""Stub of nncore._kernels: the Python entry points of the compiled kernels.

Every floating argument of one call has the same dtype, float32 or float64 (the
kernels are fused over both), hence the one type variable ``_F`` per signature.
Arrays must be C-contiguous; inputs may be read-only.  tests/test_stub.py checks
this file against the compiled module: keep them in step.
"""

from typing import Any, TypedDict, TypeVar

import numpy as np
from numpy.typing import NDArray

_F = TypeVar("_F", np.float32, np.float64)

class _EpochConfig(TypedDict):
    """How one epoch of train_epoch runs (the C struct it takes)."""

    batch_size: int
    shuffle: int
    metric: int
    block_rows: int
    n_threads: int
    stop_nonfinite: int

class _OptConfig(TypedDict):
    """An optimiser's update (the C struct the kernels take; built by nncore.optimizers)."""

    kind: int
    learning_rate: float
    weight_decay: float
    alpha: float
    momentum: float
    beta1: float
    beta2: float
    epsilon: float

ACTIVATION_IDS: dict[str, int]
LOSS_IDS: dict[str, int]
OPTIMIZER_IDS: dict[str, int]
METRIC_IDS: dict[str | None, int]
LEAKY_SLOPE: float
STATUS_OK: int
STATUS_NONFINITE: int
SHUFFLE_NONE: int
SHUFFLE_RNG: int
SHUFFLE_GIVEN: int
# Build facts (Cython version, debug build, ...), set by setup.py at build time.
BUILD_INFO: dict[str, Any]
# Whether the build has OpenMP, and the most threads train_epoch takes.
OPENMP: bool
MAX_THREADS: int
DENSE_CALL_MIN_ROWS: int

# --- the network kernels -------------------------------------------------------

def n_params(sizes: NDArray[np.intp]) -> int: ...
def workspace_size(
    sizes: NDArray[np.intp], bmax: int, train: bool = False, optimizer: bool = False,
    x_rows: bool = True,
) -> int: ...
def forward(
    params: NDArray[_F],
    sizes: NDArray[np.intp],
    acts: NDArray[np.intc],
    X: NDArray[_F] | None,
    out: NDArray[_F],
    workspace: NDArray[_F],
    n_threads: int = 1,
    check_finite: bool = False,
    X_data: NDArray[_F] | None = None,
    X_indices: NDArray[np.intp] | None = None,
    X_indptr: NDArray[np.intp] | None = None,
) -> int: ...
def pass_workspace_size(
    sizes: NDArray[np.intp], rows: int, n_threads: int = 1, gradient: bool = False
) -> int: ...
def loss_gradient(
    params: NDArray[_F],
    sizes: NDArray[np.intp],
    acts: NDArray[np.intc],
    loss: int,
    X: NDArray[_F] | None,
    Y: NDArray[_F],
    sample_weight: NDArray[_F] | None,
    grad: NDArray[_F],
    workspace: NDArray[_F],
    want_grad: bool = True,
    n_threads: int = 1,
    X_data: NDArray[_F] | None = None,
    X_indices: NDArray[np.intp] | None = None,
    X_indptr: NDArray[np.intp] | None = None,
) -> float: ...
def per_sample_gradients(
    params: NDArray[_F],
    sizes: NDArray[np.intp],
    acts: NDArray[np.intc],
    loss: int,
    X: NDArray[_F],
    Y: NDArray[_F],
    out: NDArray[_F],
    workspace: NDArray[_F],
) -> float: ...
def train_epoch(
    params: NDArray[_F],
    sizes: NDArray[np.intp],
    acts: NDArray[np.intc],
    loss: int,
    X: NDArray[_F] | None,
    Y: NDArray[_F],
    sample_weight: NDArray[_F] | None,
    order: NDArray[np.intp],
    rng: NDArray[np.uint64],
    opt: _OptConfig,
    opt_state: NDArray[_F] | None,
    step: NDArray[np.uint64],
    workspace: NDArray[_F],
    epoch: _EpochConfig,
    X_data: NDArray[_F] | None = None,
    X_indices: NDArray[np.intp] | None = None,
    X_indptr: NDArray[np.intp] | None = None,
) -> tuple[float, float, int, int, float]: ...
def sparse_first_layer(
    nnz: int, n_rows: int, n_in: int, n_out: int = 0, f64: bool = True
) -> bool: ...
def nonzeros(
    X: NDArray[_F], n_out: int
) -> tuple[NDArray[_F], NDArray[np.intp], NDArray[np.intp]] | None: ...
def split_neurons(sizes: NDArray[np.intp], rows: int, n_threads: int) -> bool: ...
def _compact_first_gradient(nnz: int, n_rows: int, batch_size: int, n_in: int) -> bool: ...
def train_workspace_size(
    sizes: NDArray[np.intp], n_samples: int, batch_size: int, optimizer: int,
    block_rows: int = 0, n_threads: int = 1, sparse_first: bool = False,
) -> int: ...

# --- the small kernels, exposed for the tests and the teaching views -----------

def activate(Z: NDArray[_F], out: NDArray[_F], act: int) -> None: ...
def sigmoid(Z: NDArray[_F], out: NDArray[_F]) -> None: ...
def activation_prime(A: NDArray[_F], out: NDArray[_F], act: int) -> None: ...
def sigmoid_prime(A: NDArray[_F], out: NDArray[_F]) -> None: ...
def output_delta(
    Z: NDArray[_F], Y: NDArray[_F], D: NDArray[_F], loss: int, act: int
) -> float: ...
def mse(A: NDArray[_F], Y: NDArray[_F]) -> float: ...
def mse_grad(A: NDArray[_F], Y: NDArray[_F], out: NDArray[_F]) -> None: ...
def sgd_update(params: NDArray[_F], grad: NDArray[_F], learning_rate: float) -> None: ...
def l2_gradient(grad: NDArray[_F], x: NDArray[np.float64], sizes: NDArray[np.intp],
                divisor: float, coef: float, out: NDArray[np.float64]) -> float: ...
def _dense_forward(enabled: bool | None = None) -> bool: ...
def _skip_zero_inputs(enabled: bool | None = None) -> bool: ...
def _dense_forward_available() -> bool: ...
def _dense_layer_packs(n_in: int, n_out: int, f64: bool) -> bool: ...
def _fast_adam(enabled: bool | None = None) -> bool: ...
def _panel_steps(
    neurons: int | None = None,
    min_bytes: int | None = None,
    fused_rows: tuple[int, int] | None = None,
) -> tuple[int, int, tuple[int, int]]: ...
def _forward_transposed(
    width: int | None = None, max_width: int | None = None, rows: int | None = None,
    min_inputs: int | None = None,
) -> tuple[int, int, int, int]: ...
def _neuron_split(
    max_rows: int | tuple[int, int] | None = None,
    min_neurons: int | None = None,
    direct: bool | None = None,
    min_work: int | None = None,
) -> tuple[tuple[int, int], int, bool, int]: ...
def _panel_lookahead(
    enabled: bool | None = None, dense_rows: int | None = None
) -> tuple[bool, int]: ...
def _compact_sparse_gradient(mode: int | None = None) -> int: ...
def _gather_rows_in_product(enabled: bool | None = None) -> bool: ...
def _sparse_first_density(
    max_density: float | tuple[float, float] | None = None,
) -> tuple[float, float]: ...
def _sparse_tiles(mode: int | None = None) -> int: ...
def _sparse_tiles_available() -> bool: ...
def optimizer_step(
    opt: _OptConfig,
    sizes: NDArray[np.intp],
    params: NDArray[_F],
    grad: NDArray[_F],
    state: NDArray[_F] | None,
    step: NDArray[np.uint64],
    batch_weight: float = 1.0,
) -> None: ...
def shuffle_order(order: NDArray[np.intp], state: NDArray[np.uint64]) -> None: ...
def uniform(out: NDArray[np.float64], state: NDArray[np.uint64]) -> None: ...
def first_nonfinite_row(A: NDArray[_F], n_threads: int = 1) -> int: ...


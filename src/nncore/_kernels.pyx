# cython: language_level=3
"""Compiled kernels of nncore.

Every kernel is fused over float32/float64 and works on the lecture's parameter
layout: layer ``l`` is a row-major block of shape ``(n_out, n_in + 1)`` inside
one flat vector, row ``j`` holding neuron ``j``'s bias and then its incoming
weights.  Seen by column-major BLAS, that block is the matrix ``[b | W]^T`` with
leading dimension ``n_in + 1``; the weights start one element in.

Each kernel has a ``noexcept nogil`` worker that does the maths on raw
pointers, and a ``def`` entry point that checks every shape and buffer length
(so no worker can read or write out of bounds), then releases the GIL.
"""

cimport cython
from cython cimport floating
from libc.math cimport exp, expf, log, log1p, log1pf, fabs, fabsf, isfinite, isnan
from libc.float cimport DBL_EPSILON, DBL_MAX, FLT_EPSILON, FLT_MAX
from libc.stdint cimport int32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset
cimport numpy as cnp
from scipy.linalg.cython_blas cimport dgemm, sgemm
from cython.parallel cimport parallel, prange, threadid

cdef extern from "_parallel.h":
    int NN_OPENMP
    int nn_omp_max_threads() nogil
    int nn_team_size() noexcept nogil
    void nn_barrier() noexcept nogil

cdef extern from "_dense.h" nogil:
    # a layer's forward product on AVX-512 without BLAS (see the header for why)
    int NN_DENSE_MIN_ROWS
    int nn_dense_enabled
    int nn_dense_skip_zeros
    int nn_dense_cpu() noexcept
    int nn_dense_available() noexcept
    Py_ssize_t nn_dense_pack_len(Py_ssize_t n_in, Py_ssize_t n_out, int f64) noexcept
    Py_ssize_t nn_dense_np_d(Py_ssize_t n_out) noexcept
    Py_ssize_t nn_dense_np_f(Py_ssize_t n_out) noexcept
    Py_ssize_t nn_dense_pack_size(const Py_ssize_t* sizes, Py_ssize_t L, int f64) noexcept
    int nn_dense_pack_d(const double* blk, Py_ssize_t n_in, Py_ssize_t n_out,
                        double* WT) noexcept
    void nn_dense_fwd_d(const double* WT, const double* X, Py_ssize_t B, Py_ssize_t n_in,
                        Py_ssize_t n_out, double* Z, Py_ssize_t ldz, int skip,
                        int32_t* lists, Py_ssize_t* counts, int use) noexcept
    int nn_dense_pack_f(const float* blk, Py_ssize_t n_in, Py_ssize_t n_out,
                        float* WT) noexcept
    void nn_dense_fwd_f(const float* WT, const float* X, Py_ssize_t B, Py_ssize_t n_in,
                        Py_ssize_t n_out, float* Z, Py_ssize_t ldz, int skip,
                        int32_t* lists, Py_ssize_t* counts, int use) noexcept
    void nn_dense_fwd_gather_d(const double* WT, const double* X, const Py_ssize_t* idx,
                               Py_ssize_t B, Py_ssize_t n_in, Py_ssize_t n_out, double* Z,
                               Py_ssize_t ldz, double* XC, int skip, int32_t* lists,
                               Py_ssize_t* counts) noexcept
    void nn_dense_fwd_gather_f(const float* WT, const float* X, const Py_ssize_t* idx,
                               Py_ssize_t B, Py_ssize_t n_in, Py_ssize_t n_out, float* Z,
                               Py_ssize_t ldz, float* XC, int skip, int32_t* lists,
                               Py_ssize_t* counts) noexcept

cdef extern from "_sparse.h" nogil:
    # the first layer's products over CSR rows' nonzeros (see the header)
    int nn_sparse_mode
    int nn_sparse_cpu() noexcept
    int nn_csr_rows(Py_ssize_t n_in, Py_ssize_t n_out, int f64) noexcept
    int nn_csr_affine_d(const double* blk, Py_ssize_t n_in, Py_ssize_t n_out,
                        const double* v, const Py_ssize_t* ind, const Py_ssize_t* ptr,
                        const Py_ssize_t* idx, Py_ssize_t row0, Py_ssize_t B,
                        double* z) noexcept
    int nn_csr_affine_f(const float* blk, Py_ssize_t n_in, Py_ssize_t n_out,
                        const float* v, const Py_ssize_t* ind, const Py_ssize_t* ptr,
                        const Py_ssize_t* idx, Py_ssize_t row0, Py_ssize_t B,
                        float* z) noexcept
    void nn_csr_weight_grad_d(double* dst, Py_ssize_t n_in, Py_ssize_t n_out,
                              const double* v, const Py_ssize_t* ind, const Py_ssize_t* ptr,
                              const Py_ssize_t* idx, Py_ssize_t row0, Py_ssize_t B,
                              const double* D, double alpha, double wbeta) noexcept
    void nn_csr_weight_grad_f(float* dst, Py_ssize_t n_in, Py_ssize_t n_out,
                              const float* v, const Py_ssize_t* ind, const Py_ssize_t* ptr,
                              const Py_ssize_t* idx, Py_ssize_t row0, Py_ssize_t B,
                              const float* D, float alpha, float wbeta) noexcept

cdef extern from "_scratch.h" nogil:
    # a per-thread buffer kept from call to call (see the header)
    void* nn_scratch(size_t n) noexcept
    void nn_scratch_release() noexcept

cdef extern from "_fastmath.h" nogil:
    # vectorisable elementwise loops (see the header for why)
    void nn_sigmoid_d(double* z, Py_ssize_t n) noexcept
    void nn_sigmoid_f(float* z, Py_ssize_t n) noexcept
    void nn_exp_nonpos_d(double* z, Py_ssize_t n) noexcept
    void nn_exp_nonpos_f(float* z, Py_ssize_t n) noexcept
    void nn_tanh_d(double* z, Py_ssize_t n) noexcept
    void nn_tanh_f(float* z, Py_ssize_t n) noexcept
    void nn_sigmoid_prime_mul_d(double* d, const double* a, Py_ssize_t n) noexcept
    void nn_sigmoid_prime_mul_f(float* d, const float* a, Py_ssize_t n) noexcept
    void nn_relu_d(double* z, Py_ssize_t n, double slope) noexcept
    void nn_relu_f(float* z, Py_ssize_t n, float slope) noexcept
    void nn_relu_prime_mul_d(double* d, const double* a, Py_ssize_t n, double slope) noexcept
    void nn_relu_prime_mul_f(float* d, const float* a, Py_ssize_t n, float slope) noexcept
    void nn_tanh_prime_mul_d(double* d, const double* a, Py_ssize_t n) noexcept
    void nn_tanh_prime_mul_f(float* d, const float* a, Py_ssize_t n) noexcept
    void nn_colsum_d(const double* D, Py_ssize_t B, Py_ssize_t n, double* s) noexcept
    void nn_colsum_f(const float* D, Py_ssize_t B, Py_ssize_t n, float* s) noexcept
    double nn_sumsq_d(const double* x, Py_ssize_t n) noexcept
    double nn_sumsq_f(const float* x, Py_ssize_t n) noexcept
    void nn_transpose_bias_d(const double* t, Py_ssize_t B, Py_ssize_t n, const double* b,
                             Py_ssize_t bs, double* z) noexcept
    void nn_transpose_bias_f(const float* t, Py_ssize_t B, Py_ssize_t n, const float* b,
                             Py_ssize_t bs, float* z) noexcept
    int nn_any_nonfinite_d(const double* x, Py_ssize_t n) noexcept
    int nn_any_nonfinite_f(const float* x, Py_ssize_t n) noexcept
    # subnormals flushed while a kernel thread computes (see the header for why)
    ctypedef unsigned long long nn_fpstate
    nn_fpstate nn_fp_flush_enter() noexcept
    void nn_fp_flush_leave(nn_fpstate old) noexcept
    unsigned long long nn_fp_control() noexcept
    # one fused optimiser update of a range (see the header)
    ctypedef struct nn_update:
        int kind
        int zero_g
        double lr, mu, b1, b2, eps, a, q
    void nn_update_prepare(nn_update* u, double t) noexcept
    int nn_fast_adam
    void nn_velocity_d(double* P, double* U, Py_ssize_t n, double cw, double cp,
                       double rs) noexcept
    void nn_velocity_f(float* P, float* U, Py_ssize_t n, double cw, double cp,
                       double rs) noexcept
    void nn_nesterov_z_d(double* P, double* U, double* Z, Py_ssize_t n, double cw,
                         double cp, double cz, double rs) noexcept
    void nn_nesterov_z_f(float* P, float* U, float* Z, Py_ssize_t n, double cw,
                         double cp, double cz, double rs) noexcept
    void nn_update_d(const nn_update* u, double* P, double* G, double* S, double* S2,
                     Py_ssize_t n, double wd, double* sq) noexcept
    void nn_update_f(const nn_update* u, float* P, float* G, float* S, float* S2,
                     Py_ssize_t n, double wd, double* sq) noexcept

import numpy as np

cnp.import_array()

# Activation, loss, optimiser and metric ids.  The Python registries in
# activations.py / losses.py / optimizers.py map names onto these numbers.
cdef enum:
    SIGMOID = 0
    TANH = 1
    RELU = 2
    LEAKY_RELU = 3
    IDENTITY = 4
    SOFTMAX = 5
    EXP = 6          # output only: the log link of the Poisson loss

cdef enum:
    MSE = 0
    CROSS_ENTROPY = 1
    HALF_SQUARED_ERROR = 2   # scikit-learn's MLP losses, with their conventions
    LOG_LOSS = 3
    POISSON = 4

cdef enum:
    OPT_SGD = 0
    OPT_MOMENTUM = 1
    OPT_NESTEROV = 2
    OPT_ADAM = 3
    OPT_SK_MOMENTUM = 4      # scikit-learn's update forms (velocity carries the rate,
    OPT_SK_NESTEROV = 5      # eps outside the bias correction)
    OPT_SK_ADAM = 6

ctypedef struct OptConfig:
    # An optimiser's update, one field per hyperparameter and one meaning per
    # field (a Python dict with these keys converts to it; fields the optimiser
    # does not use are 0).  nncore.optimizers builds it.
    int kind               # OPT_SGD ... OPT_SK_ADAM
    double learning_rate   # r
    double weight_decay    # L2: weight_decay * W is added to the weights' gradient
    # alpha: scikit-learn's L2: alpha * W / (the minibatch's weight) is added to the
    # weights' gradient, 0.5 alpha |W|^2 / (its weight) to its loss
    double alpha
    double momentum        # mu (momentum, nesterov)
    double beta1           # Adam's decay rate of the first moment
    double beta2           # ... and of the second
    double epsilon         # Adam's denominator guard

cdef enum:
    METRIC_NONE = 0
    METRIC_ARGMAX = 1
    METRIC_BINARY = 2

ACTIVATION_IDS = {"sigmoid": SIGMOID, "tanh": TANH, "relu": RELU,
                  "leaky_relu": LEAKY_RELU, "identity": IDENTITY, "softmax": SOFTMAX, "exp": EXP}
LOSS_IDS = {"mse": MSE, "cross_entropy": CROSS_ENTROPY, "half_squared_error": HALF_SQUARED_ERROR,
            "log_loss": LOG_LOSS, "poisson": POISSON}
OPTIMIZER_IDS = {"sgd": OPT_SGD, "momentum": OPT_MOMENTUM, "nesterov": OPT_NESTEROV, "adam": OPT_ADAM,
                 "sk_momentum": OPT_SK_MOMENTUM, "sk_nesterov": OPT_SK_NESTEROV,
                 "sk_adam": OPT_SK_ADAM}
# Shuffle modes of train_epoch.
cdef enum:
    _SHUFFLE_NONE = 0    # the rows in order
    _SHUFFLE_RNG = 1     # a Fisher-Yates permutation drawn from rng
    _SHUFFLE_GIVEN = 2   # the caller's permutation in order

SHUFFLE_NONE = _SHUFFLE_NONE
SHUFFLE_RNG = _SHUFFLE_RNG
SHUFFLE_GIVEN = _SHUFFLE_GIVEN
METRIC_IDS = {None: METRIC_NONE, "argmax": METRIC_ARGMAX, "binary": METRIC_BINARY}

#: the slope of leaky_relu for z < 0
cdef double _LEAKY = 0.01
LEAKY_SLOPE = _LEAKY

# Status codes returned by train_epoch.
cdef enum:
    _STATUS_OK = 0
    _STATUS_NONFINITE = 1

STATUS_OK = _STATUS_OK
STATUS_NONFINITE = _STATUS_NONFINITE

# Build facts (Cython version, debug build, compiler and flags), passed by setup.py as
# the compile-time constant NNCORE_BUILD_INFO; nncore.show_versions() prints them.
BUILD_INFO = dict(NNCORE_BUILD_INFO)

#: True when the kernels were compiled with OpenMP (train_epoch's n_threads > 1
#: runs its parts in parallel; without OpenMP they run one after another).
OPENMP = bool(NN_OPENMP)

# GNU OpenMP cannot run parallel regions in a child forked after the parent ran
# one (the child waits forever for the parent's threads).  In such a child the
# parts of a minibatch run one after another: the same parts, the same sums.
cdef bint _omp_used = False
cdef bint _omp_serial = False


def _after_fork_in_child():
    global _omp_serial
    _omp_serial = _omp_serial or _omp_used


import os as _os  # noqa: E402  (beside the only code that needs it)
if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_after_fork_in_child)


def _fp_control():
    """This thread's floating-point control register (MXCSR on x86, FPCR on aarch64;
    0 elsewhere): the tests check that no kernel leaves it changed."""
    return nn_fp_control()


def _omp_max_threads():
    """The OpenMP runtime's current thread limit (1 without OpenMP)."""
    return nn_omp_max_threads()


def _threads_usable():
    """False in a forked child whose parent already ran train_epoch's threads
    (there train_epoch runs its parts one after another)."""
    return OPENMP and not _omp_serial


# ---------------------------------------------------------------- BLAS ---

cdef inline void _gemm(char ta, char tb, int m, int n, int k, floating alpha,
                       const floating* A, int lda, const floating* B, int ldb,
                       floating beta, floating* C, int ldc) noexcept nogil:
    """C := alpha op(A) op(B) + beta C, column-major (Fortran) convention."""
    if m == 0 or n == 0:
        return
    if floating is float:
        sgemm(&ta, &tb, &m, &n, &k, &alpha, <float*> A, &lda, <float*> B, &ldb, &beta, C, &ldc)
    else:
        dgemm(&ta, &tb, &m, &n, &k, &alpha, <double*> A, &lda, <double*> B, &ldb, &beta, C, &ldc)


# ---------------------------------------------------------- activations ---

cdef inline floating _softplus(floating z) noexcept nogil:
    """log(1 + exp(z)) without overflow: max(z, 0) + log1p(exp(-|z|))."""
    if floating is float:
        return (z if z > 0 else 0) + log1pf(expf(-fabsf(z)))
    else:
        return (z if z > 0 else 0) + log1p(exp(-fabs(z)))


cdef void _activate(floating* Z, Py_ssize_t rows, Py_ssize_t cols, int act) noexcept nogil:
    """A := act(Z), in place, row by row (softmax needs whole rows)."""
    cdef Py_ssize_t i, j, n = rows * cols
    cdef floating m, s
    cdef floating* row
    if act == SIGMOID:
        if floating is float:
            nn_sigmoid_f(Z, n)
        else:
            nn_sigmoid_d(Z, n)
    elif act == TANH:
        if floating is float:
            nn_tanh_f(Z, n)
        else:
            nn_tanh_d(Z, n)
    elif act == RELU or act == LEAKY_RELU:
        m = <floating> (_LEAKY if act == LEAKY_RELU else 0.0)
        if floating is float:
            nn_relu_f(Z, n, m)
        else:
            nn_relu_d(Z, n, m)
    elif act == EXP:
        # no guard, as scikit-learn's inplace_exp: a large z overflows to inf and the
        # loss says so
        for i in range(n):
            if floating is float:
                Z[i] = expf(Z[i])
            else:
                Z[i] = exp(Z[i])
    elif act == SOFTMAX:
        # subtract the row maximum so exp never overflows, then exp over the whole
        # block at once: nncore's vectorised exp, not libm's call per value (which
        # took a tenth of a 64-100-10 epoch's time at batch 200; the softmax of
        # 200 x 10 values 14.5 -> 6.5 us, float32 10.7 -> 6.1 us)
        for i in range(rows):
            row = Z + i * cols
            m = row[0]
            for j in range(1, cols):
                if row[j] > m:
                    m = row[j]
            for j in range(cols):
                row[j] = row[j] - m
        if floating is float:
            nn_exp_nonpos_f(Z, n)
        else:
            nn_exp_nonpos_d(Z, n)
        for i in range(rows):
            row = Z + i * cols
            s = 0
            for j in range(cols):
                s = s + row[j]
            for j in range(cols):
                row[j] = row[j] / s
    # IDENTITY: nothing to do


cdef void _mul_act_prime(floating* D, const floating* A, Py_ssize_t n, int act) noexcept nogil:
    """D := D * act'(z), the derivative written in terms of a = act(z).

    sigmoid' = a (1 - a), tanh' = 1 - a^2, relu' = [a > 0],
    leaky_relu' = 1 if a > 0 else slope, identity' = 1, exp' = a.
    """
    cdef floating slope
    cdef Py_ssize_t i
    if act == SIGMOID:
        if floating is float:
            nn_sigmoid_prime_mul_f(D, A, n)
        else:
            nn_sigmoid_prime_mul_d(D, A, n)
    elif act == TANH:
        if floating is float:
            nn_tanh_prime_mul_f(D, A, n)
        else:
            nn_tanh_prime_mul_d(D, A, n)
    elif act == RELU or act == LEAKY_RELU:
        slope = <floating> (_LEAKY if act == LEAKY_RELU else 0.0)
        if floating is float:
            nn_relu_prime_mul_f(D, A, n, slope)
        else:
            nn_relu_prime_mul_d(D, A, n, slope)
    elif act == EXP:
        for i in range(n):
            D[i] = D[i] * A[i]


# ------------------------------------------------------ loss and delta ---

cdef inline double _xlogy(double x, double y) noexcept nogil:
    """x log y, and 0 where x is 0 (unless y is NaN), as scipy.special.xlogy."""
    if x == 0.0 and not isnan(y):
        return 0.0
    return x * log(y)


cdef double _output_delta(int loss, int act, const floating* Z, const floating* A,
                          const floating* Y, const floating* sw, Py_ssize_t B,
                          Py_ssize_t n, floating* D) noexcept nogil:
    """Per-sample costs summed over the batch (weighted), and D := dC_i/dz_L.

    mse:            C_i = sum_k (a_k - y_k)^2,   dC_i/da_k = 2 (a_k - y_k)
    cross_entropy:  sigmoid  C_i = sum_k softplus(z_k) - y_k z_k,  D = a - y
                    softmax  C_i = sum_k y_k (lse(z) - z_k),      D = a sum(y) - y
    scikit-learn's MLP losses, exactly as it defines them:
    half_squared_error  C_i = 1/(2n) sum_k (a_k - y_k)^2, but dC_i/da_k = a_k - y_k
                        (scikit-learn averages its value over the outputs, not its
                        gradient)
    log_loss        softmax  C_i = -sum_k y_k log p_k,                       D = a - y
                    sigmoid  C_i = -sum_k y_k log p_k + (1-y_k) log(1-p_k),  D = a - y
                    with p = a clipped to [eps, 1 - eps] of the dtype
    poisson (exp)   C_i = sum_k y_k log(y_k / a_k) - y_k + a_k,              D = a - y
    D is skipped when it is NULL (loss only).  Sums are kept in double.
    """
    cdef Py_ssize_t i, k
    cdef double total = 0.0, ci, g, dot, w, m, s, sy, p, eps
    cdef const floating* a
    cdef const floating* y
    cdef const floating* z
    cdef floating* d
    if floating is float:
        eps = FLT_EPSILON
    else:
        eps = DBL_EPSILON
    for i in range(B):
        a = A + i * n
        y = Y + i * n
        z = Z + i * n
        d = D + i * n if D != NULL else NULL
        w = sw[i] if sw != NULL else 1.0
        ci = 0.0
        if loss == MSE or loss == HALF_SQUARED_ERROR:
            for k in range(n):
                g = <double> a[k] - <double> y[k]
                ci += g * g
            if loss == HALF_SQUARED_ERROR:
                ci *= 0.5 / n
            if d != NULL:
                for k in range(n):
                    g = <double> a[k] - <double> y[k]
                    d[k] = <floating> ((2.0 * w if loss == MSE else w) * g)
                if act == SOFTMAX:
                    # softmax Jacobian: d_k = a_k (g_k - sum_j g_j a_j)
                    dot = 0.0
                    for k in range(n):
                        dot += <double> d[k] * a[k]
                    for k in range(n):
                        d[k] = <floating> (a[k] * (d[k] - dot))
                else:
                    _mul_act_prime(d, a, n, act)
        elif loss == CROSS_ENTROPY:
            if act == SOFTMAX:
                m = z[0]
                for k in range(1, n):
                    if z[k] > m:
                        m = z[k]
                s = 0.0
                sy = 0.0
                for k in range(n):
                    s += exp(<double> z[k] - m)
                    sy += y[k]
                s = m + log(s)
                for k in range(n):
                    ci += <double> y[k] * (s - <double> z[k])
                if d != NULL:
                    for k in range(n):
                        d[k] = <floating> (w * (<double> a[k] * sy - <double> y[k]))
            else:  # sigmoid outputs, binary cross-entropy per output
                for k in range(n):
                    ci += _softplus(<double> z[k]) - <double> y[k] * <double> z[k]
                if d != NULL:
                    for k in range(n):
                        d[k] = <floating> (w * (<double> a[k] - <double> y[k]))
        else:  # log_loss, poisson: canonical links, D = a - y
            for k in range(n):
                if loss == LOG_LOSS:
                    p = min(max(<double> a[k], eps), 1.0 - eps)
                    ci -= _xlogy(y[k], p)
                    if act != SOFTMAX:
                        ci -= _xlogy(1.0 - <double> y[k], 1.0 - p)
                else:
                    ci += _xlogy(y[k], <double> y[k] / <double> a[k]) - <double> y[k] \
                        + <double> a[k]
            if d != NULL:
                for k in range(n):
                    d[k] = <floating> (w * (<double> a[k] - <double> y[k]))
        total += w * ci
    return total


cdef Py_ssize_t _count_correct(const floating* A, const floating* Y, Py_ssize_t B,
                               Py_ssize_t n, int metric) noexcept nogil:
    """Samples whose prediction matches the target: argmax for one-hot targets,
    a 0.5 threshold on every output for binary ones."""
    cdef Py_ssize_t i, k, ka, ky, good = 0
    cdef bint ok
    if metric == METRIC_ARGMAX:
        for i in range(B):
            ka = 0
            ky = 0
            for k in range(1, n):
                if A[i * n + k] > A[i * n + ka]:
                    ka = k
                if Y[i * n + k] > Y[i * n + ky]:
                    ky = k
            good += ka == ky
    elif metric == METRIC_BINARY:
        for i in range(B):
            ok = True
            for k in range(n):
                if (A[i * n + k] > 0.5) != (Y[i * n + k] > 0.5):
                    ok = False
                    break
            good += ok
    return good


# ------------------------------------------------------------ network ---

cdef struct Net:
    Py_ssize_t L              # number of weight layers
    const Py_ssize_t* sizes   # L + 1 widths
    const Py_ssize_t* poff    # offset of layer l's block in params
    const Py_ssize_t* aoff    # offset of A_l (l >= 1) in the workspace
    const int* acts           # activation of each layer
    Py_ssize_t bmax           # rows the workspace was laid out for
    Py_ssize_t zoff           # Z_L (output pre-activation)
    Py_ssize_t d0off          # two delta buffers, bmax * max width each
    Py_ssize_t d1off
    Py_ssize_t soff           # column sums (bias gradients), max width
    Py_ssize_t xoff           # gathered inputs, targets and weights (training only)
    Py_ssize_t yoff
    Py_ssize_t woff
    Py_ssize_t goff           # gradient (training with an optimiser only)
    Py_ssize_t size           # total workspace length


# layers at least this wide, over at least this many rows, compute their transpose in
# the forward pass (see _forward).  Only layers of many inputs: with fewer the
# transpose costs more than the product gains (measured, 1 thread, float64, n -> 100,
# forward passes over 128-448 rows, transposed against not: 4, 16, 30, 64 and 128
# inputs 10-22% slower, 192-384 inputs 1-7% slower, 640-1024 inputs level to 10%
# faster; from 1,000 rows the dense kernel takes these products either way)
cdef Py_ssize_t _FWD_TRANSPOSED_WIDTH = 16
cdef Py_ssize_t _FWD_TRANSPOSED_MAX_WIDTH = 128
cdef Py_ssize_t _FWD_TRANSPOSED_ROWS = 128
cdef Py_ssize_t _FWD_TRANSPOSED_MIN_INPUTS = 512
# the first layer's panel steps (see _first_layer_steps and train_epoch): the most
# and the fewest neurons a panel (0: never), the most multiply-adds of a panel's
# product, and the least size of the layer's block that takes them
cdef Py_ssize_t _PANEL_NEURONS = 32
cdef Py_ssize_t _PANEL_MIN_NEURONS = 16
cdef double _PANEL_MAX_MNK = 1e6
cdef Py_ssize_t _PANEL_MIN_BYTES = 256 * 1024
# and whether they form the next minibatch's first-layer outputs as they go
cdef bint _lookahead = True
# whether the first layer's dense product gathers a minibatch's rows from dense X as it
# reads them (nn_dense_fwd_gather_d/f), in a layer's pass and the look-ahead's first
# panel, instead of their being copied to the minibatch buffer first
cdef int _gather_in_product = 1
# the minibatch rows from which plain SGD and momentum, whose updates are otherwise
# fused into the products, take the panels (see train_epoch)
cdef Py_ssize_t _PANEL_FUSED_MAX_ROWS = 48
cdef Py_ssize_t _PANEL_MOMENTUM_MIN_ROWS = 16
cdef Py_ssize_t _LOOKAHEAD_DENSE_ROWS = 32


cdef floating* _A(Net* net, floating* ws, Py_ssize_t l) noexcept nogil:
    return ws + net.aoff[l]


cdef struct Pack:
    # one thread's packed weights for nn_dense_fwd_d/f (see _dense.h): every layer
    # narrow enough, one after another from buf (64-byte aligned inside raw)
    void* raw
    void* buf
    unsigned long long ready  # bit l: layer l's pack holds the current weights
    unsigned long long finite  # bit l: and those weights are finite (see nn_dense_pack_d)
    bint one_product  # packed for a single product (training's minibatch), not a pass


# calls over fewer rows leave every product to BLAS (the pack, made per call, and
# its memory would not pay), except the passes below
cdef Py_ssize_t _DENSE_CALL_MIN_ROWS = 512
DENSE_CALL_MIN_ROWS = _DENSE_CALL_MIN_ROWS
# ... a pass (predict, loss, gradient) from NN_DENSE_MIN_ROWS rows takes the pack
# while its multiply-adds are at most this many, in float32 only from
# _DENSE_SHORT_PASS_F32_INPUTS inputs.  Measured against BLAS over 65-300 rows, one
# thread: float64 predict 1.05-1.18x (4-100-3), 1.09-1.19x (30-50-2), 1.15x
# (64-100-10), 1.32-1.39x (784-30-10), the gradient 0.96-1.14x; float32 784-30-10
# 1.32-1.41x and 1.10-1.24x, but narrow inputs 0.84-1.06x.  Past the bound, BLAS on
# two threads (such a pass runs on one of nncore's, BLAS free to take more) beats
# the kernel on one: 784-100-10 over 200 rows 0.78x, where on one thread 1.48x.
cdef Py_ssize_t _DENSE_SHORT_PASS_WORK = 1 << 22
cdef Py_ssize_t _DENSE_SHORT_PASS_F32_INPUTS = 256


cdef void _pack_init(Pack* pk, const Net* net, bint f64, Py_ssize_t rows,
                     bint short_pass=False) noexcept nogil:
    """A pack for a call over rows rows, in passes of up to net.bmax, of float64
    (f64) or float32, or none (buf NULL: BLAS does every product) where no layer
    would take it, the call is short (see _DENSE_SHORT_PASS_WORK: short_pass for a
    pass that may take it) or the memory is not there."""
    cdef Py_ssize_t size, l, work = 0
    pk.raw = NULL
    pk.buf = NULL
    pk.ready = 0
    pk.finite = 0
    pk.one_product = False
    if rows < NN_DENSE_MIN_ROWS or net.bmax < NN_DENSE_MIN_ROWS or not nn_dense_available():
        return
    if rows < _DENSE_CALL_MIN_ROWS:
        if not short_pass or not f64 and net.sizes[0] < _DENSE_SHORT_PASS_F32_INPUTS:
            return
        for l in range(net.L):
            work += net.sizes[l] * net.sizes[l + 1]
        if rows * work > _DENSE_SHORT_PASS_WORK:
            return
    size = nn_dense_pack_size(net.sizes, net.L, f64)
    if size == 0:
        return
    pk.raw = malloc(size * (sizeof(double) if f64 else sizeof(float)))
    if pk.raw != NULL:
        pk.buf = <void*> ((<size_t> pk.raw + 63) & ~(<size_t> 63))


cdef inline void _pack_free(Pack* pk) noexcept nogil:
    free(pk.raw)
    pk.raw = NULL
    pk.buf = NULL


cdef inline bint _pack_ready(const Pack* pk, Py_ssize_t l) noexcept nogil:
    """Whether layer l's pack holds the current weights (layers past the 64 bits
    are packed again for every product)."""
    return l < 64 and (pk.ready >> l) & 1


cdef inline Py_ssize_t _dense_min_rows(const Pack* pk, bint f64) noexcept nogil:
    """The fewest rows a product takes the pack for.  A pack made for one
    product (a minibatch's) weighs more against float32's faster product: measured
    (epochs, dense against BLAS), float64 784-100-10 at 64-256 rows a thread 2-11%
    faster, 784-256-256-10 level; float32 784-256-256-10 at 64 rows 7% and at 128
    rows 14% slower, 784-100-10 at 64-256 rows level."""
    if f64 or not pk.one_product:
        return NN_DENSE_MIN_ROWS
    return 4 * NN_DENSE_MIN_ROWS


cdef struct Data:
    # One epoch's training data, as pointers into the caller's arrays: X dense (X != NULL)
    # or CSR (Xdata, Xind, Xptr), Y, and the sample weights (or NULL).  The pointers are
    # to floating; a struct cannot be fused, so they are cast where they are read.
    const void* X
    const void* Xdata
    const Py_ssize_t* Xind
    const Py_ssize_t* Xptr
    const void* Y
    const void* SW
    # CSR only: the first layer's products read the nonzeros themselves (_csr_affine,
    # _csr_weight_rows) instead of each minibatch's rows being gathered dense; and,
    # where no row indices are given, the first row (rows row0, row0 + 1, ...)
    bint sparse_first
    Py_ssize_t row0


cdef void _gather(const Data* d, const Py_ssize_t* idx, Py_ssize_t count, Py_ssize_t nf,
                  Py_ssize_t no, floating* xb, floating* yb, floating* wb) noexcept nogil:
    """Rows idx[0:count] of X, Y (and the weights) into the dense minibatch buffers
    (xb NULL: not X; yb NULL: neither Y nor the weights)."""
    cdef Py_ssize_t i, r, p
    cdef const floating* X = <const floating*> d.X
    cdef const floating* Xdata = <const floating*> d.Xdata
    cdef const floating* Y = <const floating*> d.Y
    cdef const floating* SW = <const floating*> d.SW
    cdef floating* row
    for i in range(count):
        r = idx[i]
        if xb == NULL:
            pass
        elif X != NULL:
            memcpy(xb + i * nf, X + r * nf, nf * sizeof(floating))
        else:
            row = xb + i * nf
            memset(row, 0, nf * sizeof(floating))
            for p in range(d.Xptr[r], d.Xptr[r + 1]):
                row[d.Xind[p]] += Xdata[p]  # (duplicate entries add, as in toarray)
        if yb == NULL:
            continue
        memcpy(yb + i * no, Y + r * no, no * sizeof(floating))
        if SW != NULL:
            wb[i] = SW[r]


# CSR input whose nonzeros are at most this share of its values takes the sparse first
# layer (_csr_affine, _csr_weight_rows; see sparse_first_layer), and so does dense
# input (see nonzeros): where _sparse.h's tiled loops run, and where only its direct
# loops do.  Measured, drop-in fits, one thread, time dense / sparse (medians of
# three alternating): the tiled loops of 2 December on the bundled digits scaled to
# 20 x 20 in MNIST's 28 x 28 frame, pixels below a level zeroed (adam, 3 epochs over
# 10,000; lbfgs, 30 iterations over 4,000): 10% nonzeros 1.55x (lbfgs 1.70x), 19%
# 1.22x (1.24x), 27% 1.13x (1.01x), 38% 0.85x (0.90x); nonzeros scattered at
# random: 20% 1.48x (1.25x), 30% 1.01x (1.12x), 40% 0.94x (0.83x), 50% 0.63x
# (0.72x).  Where the layer is too wide for the row loops (see nn_csr_rows), the tile
# loops (adam 3 epochs, then predict; 10,000 x 784): 2.34x at 5%, 1.53x at 10%, 0.97x
# at 20%, 0.84x at 30% (lbfgs: 1.96, 1.85, 1.26, 0.78x).  The direct loops: 1.62x at
# 2%, 1.36x at 5%, 0.79x at 10%.  (n_out 0, not known: the tile loops' share.)
cdef double _CSR_FIRST_MAX_DENSITY = 0.05
cdef double _CSR_FIRST_MAX_DENSITY_TILED = 0.15
cdef double _CSR_FIRST_MAX_DENSITY_ROWS = 0.25


cdef bint _csr_first(Py_ssize_t nnz, Py_ssize_t rows, Py_ssize_t n_in, Py_ssize_t n_out,
                     bint f64) noexcept nogil:
    cdef double most = _CSR_FIRST_MAX_DENSITY
    if nn_sparse_mode != 0 and nn_sparse_cpu():
        most = _CSR_FIRST_MAX_DENSITY_ROWS if n_out > 0 and nn_csr_rows(n_in, n_out, f64) \
            else _CSR_FIRST_MAX_DENSITY_TILED
    return nnz <= most * <double> rows * <double> n_in


cdef inline bint _csr_affine(const floating* blk, Py_ssize_t n_in, Py_ssize_t n_out,
                             const Data* d, const Py_ssize_t* idx, Py_ssize_t B,
                             floating* z) noexcept nogil:
    """Z := X W^T + b over the B CSR rows idx[0:B] (idx NULL: d.row0 on) of d, from
    their nonzeros alone (see _sparse.h).  Whether that is Z: where d has X dense as
    well (the nonzeros of dense input), not when a weight is infinite or NaN, which
    times a zero input gives NaN in a dense product (the caller makes that one)."""
    cdef int finite
    cdef Py_ssize_t j
    if floating is double:
        finite = nn_csr_affine_d(blk, n_in, n_out, <const double*> d.Xdata, d.Xind, d.Xptr,
                                 idx, d.row0, B, z)
    else:
        finite = nn_csr_affine_f(blk, n_in, n_out, <const float*> d.Xdata, d.Xind, d.Xptr,
                                 idx, d.row0, B, z)
    if d.X == NULL or finite == 1:
        return True
    if finite == 0:
        return False
    for j in range(n_out):
        if _any_nonfinite(blk + j * (n_in + 1) + 1, n_in):
            return False
    return True


cdef void _scratch_release(Py_ssize_t nt, bint serial) noexcept nogil:
    """Frees the scratch (see _scratch.h) each of nt threads kept: a call's last step."""
    cdef Py_ssize_t _t
    nn_scratch_release()
    if nt > 1 and not serial:
        for _t in prange(nt, num_threads=nt, schedule='static', chunksize=1):
            nn_scratch_release()


cdef inline void _csr_weight_rows(floating* dst, Py_ssize_t n_in, Py_ssize_t n_out,
                                  const Data* d, const Py_ssize_t* idx, Py_ssize_t B,
                                  const floating* D, floating alpha,
                                  floating wbeta) noexcept nogil:
    """W := wbeta W + alpha D^T X for the first layer's n_out neurons (rows n_in + 1
    apart from dst, each weight row after its bias, which this leaves) over CSR
    rows (as in _csr_affine), from their deltas D (B x n_out)."""
    if floating is float:
        nn_csr_weight_grad_f(dst, n_in, n_out, <const float*> d.Xdata, d.Xind, d.Xptr, idx,
                             d.row0, B, D, alpha, wbeta)
    else:
        nn_csr_weight_grad_d(dst, n_in, n_out, <const double*> d.Xdata, d.Xind, d.Xptr, idx,
                             d.row0, B, D, alpha, wbeta)


# The first layer's gradient over only the columns a minibatch's CSR rows touch
# (train_epoch's compact path, see _compact_gradient and _compact_steps): 0 never,
# 1 where a minibatch holds on average at most one nonzero for every
# _COMPACT_COLUMNS_PER_NONZERO columns, 2 wherever the path can run (the tests).
# Measured, the drop-in's defaults for 3 epochs, 1 thread, five alternating fits
# (medians, whole-width time over compact): 5,000 x 20,000 at 0.5% (a column a
# nonzero) 0.86x; 3,000 x 50,000 at 0.2% (2.5) level; 3,000 x 2**16, 98 nonzeros a
# row (3.3) 1.14x; 3,000 x 2**17, 100 a row (6.6) 1.20x.
cdef int _compact_mode = 1
cdef Py_ssize_t _COMPACT_COLUMNS_PER_NONZERO = 3
# a piece of a weight row's dense gradient, rebuilt from the compact one in the
# first-level cache just before the optimiser's step reads it
cdef Py_ssize_t _COMPACT_PIECE = 2048


cdef struct Compact:
    # map (n_in): -1, or a touched column's place among the touched; cols: the
    # touched columns, ascending (ncols of them); v, ind, ptr: the minibatch's CSR
    # rows, their values (floating), column indices as places among the touched,
    # row pointers; g: n_out rows of ncols + 1, a neuron's bias gradient then its
    # touched weights' (floating); piece: _COMPACT_PIECE values (floating)
    Py_ssize_t* map
    Py_ssize_t* cols
    Py_ssize_t ncols
    void* v
    Py_ssize_t* ind
    Py_ssize_t* ptr
    void* g
    void* piece


cdef bint _compact_first(Py_ssize_t nnz, Py_ssize_t n, Py_ssize_t batch,
                         Py_ssize_t n_in) noexcept nogil:
    """Whether train_epoch takes the compact path for the sparse first layer: its
    minibatches average at most one nonzero for every _COMPACT_COLUMNS_PER_NONZERO
    columns (so each touches at most that share of every weight row)."""
    if _compact_mode == 0 or n <= 0:
        return False
    return _compact_mode == 2 or \
        <double> nnz * <double> min(batch, n) / <double> n * _COMPACT_COLUMNS_PER_NONZERO \
        <= <double> n_in


cdef void _compact_free(Compact* c) noexcept nogil:
    free(c.map)
    free(c.cols)
    free(c.v)
    free(c.ind)
    free(c.ptr)
    free(c.g)
    free(c.piece)


cdef bint _compact_init(Compact* c, Py_ssize_t n_in, Py_ssize_t n_out, Py_ssize_t most_nnz,
                        Py_ssize_t batch, size_t item) noexcept nogil:
    """Buffers for minibatches of at most batch rows and most_nnz nonzeros; False
    (nothing held) when the memory is not there."""
    cdef Py_ssize_t k, width = min(n_in, most_nnz)
    c.map = <Py_ssize_t*> malloc(n_in * sizeof(Py_ssize_t))
    c.cols = <Py_ssize_t*> malloc(max(width, 1) * sizeof(Py_ssize_t))
    c.v = malloc(max(most_nnz, 1) * item)
    c.ind = <Py_ssize_t*> malloc(max(most_nnz, 1) * sizeof(Py_ssize_t))
    c.ptr = <Py_ssize_t*> malloc((batch + 1) * sizeof(Py_ssize_t))
    c.g = malloc(n_out * (width + 1) * item)
    c.piece = malloc(_COMPACT_PIECE * item)
    c.ncols = 0
    if c.map == NULL or c.cols == NULL or c.v == NULL or c.ind == NULL or c.ptr == NULL \
            or c.g == NULL or c.piece == NULL:
        _compact_free(c)
        return False
    for k in range(n_in):
        c.map[k] = -1
    return True


cdef void _compact_gradient(Net* net, const Data* d, const Py_ssize_t* idx, Py_ssize_t B,
                            const floating* D, const floating* colsum, floating alpha,
                            Compact* c) noexcept nogil:
    """The first layer's gradient alpha D^T [1 X] over the B CSR rows idx of d, for
    the columns those rows touch alone: c.g's rows (see Compact), the touched
    columns in c.cols.  The rows are copied with their columns renumbered among
    the touched, and the sparse first layer's own loops (_csr_weight_rows) form the
    product over that narrow matrix: each weight's gradient is the same sum as
    over the whole width, where a column no row touches has gradient 0."""
    cdef Py_ssize_t n_in = net.sizes[0], n_out = net.sizes[1], i, p, r, k, q = 0, t = 0
    cdef floating* v = <floating*> c.v
    cdef const floating* xv = <const floating*> d.Xdata
    cdef Data dc
    for i in range(B):
        r = idx[i]
        for p in range(d.Xptr[r], d.Xptr[r + 1]):
            c.map[d.Xind[p]] = 0
    # (the touched columns in ascending order: _compact_steps walks each row so)
    for k in range(n_in):
        if c.map[k] >= 0:
            c.map[k] = t
            c.cols[t] = k
            t += 1
    c.ncols = t
    for i in range(B):
        r = idx[i]
        c.ptr[i] = q
        for p in range(d.Xptr[r], d.Xptr[r + 1]):
            v[q] = xv[p]
            c.ind[q] = c.map[d.Xind[p]]
            q += 1
    c.ptr[B] = q
    for k in range(t):
        c.map[c.cols[k]] = -1
    dc.X = NULL
    dc.Xdata = c.v
    dc.Xind = c.ind
    dc.Xptr = c.ptr
    dc.Y = NULL
    dc.SW = NULL
    dc.sparse_first = True
    dc.row0 = 0
    _csr_weight_rows(<floating*> c.g, t, n_out, &dc, NULL, B, D, alpha, 0)
    _bias_gradient(<floating*> c.g, t, n_out, colsum, alpha, 0)


cdef void _compact_steps(Net* net, const OptConfig* h, floating* P, floating* S,
                         Py_ssize_t n, double step, double bw, Compact* cs,
                         Py_ssize_t parts, Py_ssize_t t, Py_ssize_t nt,
                         double* sq) noexcept nogil:
    """The optimiser's step on the first layer from the compact gradients of a
    minibatch's parts (cs[0:parts], see _compact_gradient), thread t of nt taking
    its share of the neurons: each weight row's dense gradient is rebuilt a piece
    at a time in cs[t]'s buffer, which stays in the first-level cache (zeros, then
    each part's values for its touched columns added in part order, as the whole
    width's buffers are added), and the step (nn_update_*) reads it there.  The
    step passes over the weights and the state alone: the whole layer's gradient
    is never written, read or zeroed, two of the eight passes Adam makes over a
    layer that does not fit in cache.  sq (or NULL) := sum W^2 of the share's
    weights before the step."""
    cdef Py_ssize_t n_in = net.sizes[0], n_out = net.sizes[1], ld = n_in + 1
    cdef Py_ssize_t j, k0, k1, q, base
    cdef Py_ssize_t tp[MAX_THREADS_C]
    cdef floating* piece = <floating*> cs[t].piece
    cdef const floating* grow
    cdef const Compact* c
    cdef double wd = _step_decay(h, bw)
    cdef nn_update u
    cdef nn_fpstate fp = nn_fp_flush_enter()
    _prepare(h, step, &u)
    if sq != NULL:
        sq[0] = 0.0
    for j in range(t * n_out // nt, (t + 1) * n_out // nt):
        base = net.poff[0] + j * ld
        piece[0] = 0
        for q in range(parts):
            piece[0] += (<const floating*> cs[q].g)[j * (cs[q].ncols + 1)]
            tp[q] = 0
        # (the gradient read as the flat vector's, from the piece: piece - lo)
        _update_range(&u, P, piece - base, S, n, base, base + 1, 0.0, NULL)
        k0 = 0
        while k0 < n_in:
            k1 = min(k0 + _COMPACT_PIECE, n_in)
            memset(piece, 0, (k1 - k0) * sizeof(floating))
            for q in range(parts):
                c = &cs[q]
                grow = (<const floating*> c.g) + j * (c.ncols + 1) + 1
                while tp[q] < c.ncols and c.cols[tp[q]] < k1:
                    piece[c.cols[tp[q]] - k0] += grow[tp[q]]
                    tp[q] += 1
            _update_range(&u, P, piece - (base + 1 + k0), S, n, base + 1 + k0,
                          base + 1 + k1, wd, sq)
            k0 = k1
    nn_fp_flush_leave(fp)


cdef struct InputLists:
    # For each group of 8 rows of a minibatch, the inputs some of its rows is not zero
    # at (see NN_DENSE_GROUP): formed by one product of those rows and taken by the
    # others, the look-ahead's panels (see _first_layer_steps), each of which is a
    # single panel of the dense kernel's and would otherwise pass over nothing.
    # Measured, 784-100-10 at batch 32, one thread, epochs alternating with and
    # without: on the bundled digits padded as MNIST's, Adam 1.32x and SGD 1.15x
    # faster; uniform inputs 0.95-0.97x over fifteen rounds (two same-setting runs
    # differ by 3-4% here).
    int32_t* lists          # a room of n_in + 16 a group
    Py_ssize_t* counts      # each group's count (n_in: no list)
    bint formed             # they hold this minibatch's (cleared for the next)


cdef inline bint _dense_pack(const floating* blk, Py_ssize_t n_in, Py_ssize_t n_out,
                             floating* WT) noexcept nogil:
    """Pack a layer's weights for the dense product; whether they are all finite."""
    if floating is double:
        return nn_dense_pack_d(blk, n_in, n_out, WT)
    else:
        return nn_dense_pack_f(blk, n_in, n_out, WT)


cdef inline void _dense_product(const floating* WT, const floating* a_in, Py_ssize_t B,
                                Py_ssize_t n_in, Py_ssize_t n_out, floating* z,
                                Py_ssize_t ldz, bint finite, const floating* xsrc=NULL,
                                const Py_ssize_t* gidx=NULL, InputLists* lists=NULL
                                ) noexcept nogil:
    """Z := A W^T + b from the pack WT.  With xsrc, A's rows are rows gidx of xsrc,
    which the product copies into a_in as it reads them.  finite: the pack's weights
    are (_dense_pack's answer), so that inputs zero in a whole group of rows may be
    passed over (see NN_DENSE_GROUP).  lists: where those groups' lists are kept
    for products of the same rows by other neurons (see InputLists), or NULL."""
    cdef int32_t* ls = NULL
    cdef Py_ssize_t* counts = NULL
    cdef bint use = False
    finite = finite and nn_dense_skip_zeros
    if lists != NULL and lists.lists != NULL and finite:
        # the first such product forms them, the others take them
        ls, counts = lists.lists, lists.counts
        use = lists.formed
        lists.formed = True
    if xsrc != NULL:
        if floating is double:
            nn_dense_fwd_gather_d(WT, xsrc, gidx, B, n_in, n_out, z, ldz, <double*> a_in,
                                  finite, ls, counts)
        else:
            nn_dense_fwd_gather_f(WT, xsrc, gidx, B, n_in, n_out, z, ldz, <float*> a_in,
                                  finite, ls, counts)
    elif floating is double:
        nn_dense_fwd_d(WT, a_in, B, n_in, n_out, z, ldz, finite, ls, counts, use)
    else:
        nn_dense_fwd_f(WT, a_in, B, n_in, n_out, z, ldz, finite, ls, counts, use)


cdef inline void _dense_layer(Pack* pk, Py_ssize_t l, Py_ssize_t po, const floating* blk,
                              const floating* a_in, Py_ssize_t B, Py_ssize_t n_in,
                              Py_ssize_t n_out, floating* z, const floating* xsrc=NULL,
                              const Py_ssize_t* gidx=NULL) noexcept nogil:
    """Z := A W^T + b from layer l's pack (at po in pk.buf), packed first unless
    its ready bit says it holds these weights (xsrc, gidx: see _dense_product)."""
    cdef floating* WT = (<floating*> pk.buf) + po
    cdef bint finite
    if _pack_ready(pk, l):
        finite = (pk.finite >> l) & 1
    else:
        finite = _dense_pack(blk, n_in, n_out, WT)
        if l < 64:
            pk.ready |= 1ULL << l
            pk.finite = (pk.finite & ~(1ULL << l)) | (<unsigned long long> finite << l)
    _dense_product(WT, a_in, B, n_in, n_out, z, n_out, finite, xsrc, gidx)


cdef inline void _affine_blas(const floating* blk, Py_ssize_t n_in, Py_ssize_t cols,
                              const floating* a_in, Py_ssize_t B, floating* z,
                              Py_ssize_t ldz) noexcept nogil:
    """Z := A W^T + b by BLAS for the cols neurons of blk (rows of n_in + 1: the bias,
    then the weights) over the B rows of A, into Z's rows ldz apart."""
    cdef Py_ssize_t i, j
    for j in range(cols):
        z[j] = blk[j * (n_in + 1)]
    for i in range(1, B):
        memcpy(z + i * ldz, z, cols * sizeof(floating))
    _gemm(c'T', c'N', <int> cols, <int> B, <int> n_in, <floating> 1.0,
          blk + 1, <int> (n_in + 1), a_in, <int> n_in, <floating> 1.0, z, <int> ldz)


cdef int _skip_idle = 1
# Below these the products are too small for the scans and copies to be worth
# their calls (a product of B rows over w inputs is 2 B w operations a neuron, its
# copies B + w numbers); chosen so, not measured.  Tests lower them to take small
# networks through it.
cdef Py_ssize_t _IDLE_MIN_ROWS = 16
cdef Py_ssize_t _IDLE_MIN_INPUTS = 16


cdef Py_ssize_t _zero_columns(const floating* A, Py_ssize_t B, Py_ssize_t lda, Py_ssize_t n,
                              Py_ssize_t* idle) noexcept nogil:
    """idle := the columns 0..n-1 of A (B rows lda apart) zero in every row,
    ascending; returns their count.  Each row is read at the columns still zero
    in the rows above only (relu's deltas and activations are zero at about half
    of their places, so few are left after a few rows).  NaN is not zero."""
    cdef Py_ssize_t i, t, c = 0, c2
    cdef const floating* row = A
    if B <= 0:
        return 0
    for t in range(n):
        if row[t] == 0:
            idle[c] = t
            c += 1
    i = 1
    while i < B and c > 0:
        row = A + i * lda
        c2 = 0
        for t in range(c):
            if row[idle[t]] == 0:
                idle[c2] = idle[t]
                c2 += 1
        c = c2
        i += 1
    return c


cdef Py_ssize_t _complement(const Py_ssize_t* idle, Py_ssize_t c, Py_ssize_t n,
                            Py_ssize_t* alive) noexcept nogil:
    """alive := 0..n-1 less the ascending idle[0:c]; returns n - c."""
    cdef Py_ssize_t j, t = 0, m = 0
    for j in range(n):
        if t < c and idle[t] == j:
            t += 1
        else:
            alive[m] = j
            m += 1
    return m


cdef inline bint _pays(Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t m,
                       Py_ssize_t mk) noexcept nogil:
    """Whether a product over m of rows x mk of cols leaves out enough of a whole one
    to pay for the copies around it (of the deltas, inputs and weights in, of the
    product out).  Measured on the bundled digits padded to 28 x 28,
    784-256-256-10, one thread: where 5-15% of the neurons were idle, leaving them
    out whatever their share made the fit 16% slower, the scans and copies 8% of
    its profile."""
    return (rows * cols - m * mk) * 4 >= rows * cols


cdef double _abs_max(const floating* x, Py_ssize_t n) noexcept nogil:
    """The largest |x[i]| (NaN passed over: check them apart)."""
    cdef floating m = 0, t
    cdef Py_ssize_t i
    for i in range(n):
        t = fabsf(x[i]) if floating is float else fabs(x[i])
        m = t if t > m else m
    return m


cdef bint _idle_product(floating* dst, Py_ssize_t n_in, Py_ssize_t cols,
                        const floating* a_in, Py_ssize_t B, const floating* D,
                        Py_ssize_t ldd, floating alpha, floating wbeta, Py_ssize_t lo,
                        Py_ssize_t hi, int* fin, bint inputs) noexcept nogil:
    """W := wbeta W + alpha D^T A over inputs lo..hi-1 (see _weight_product) with the
    product formed for the neurons that have a delta not zero in some row only,
    and, with inputs, over the inputs not zero in some row only: False, having
    done nothing, when too few are left out to pay (see _pays), or there is no
    memory for it.

    Why: a relu neuron whose input is negative in every row of a minibatch has a
    delta of zero in each, and so does a neuron that is dead for every input; its
    weight gradient is then a sum of zeros, and its share of the product is work
    for nothing.  Such neurons are common: scikit-learn's default fit of the
    benchmark's 20,000 uniform inputs (784-100-10, adam) has 70-75 of the 100 dead
    after an epoch, its fit on the bundled digits about 13 in a minibatch of 200.
    Above the first layer they are also inputs zero in every row, whose weights'
    gradients are sums of zeros as well (inputs: a hidden layer's activations).
    The zero deltas' products are exactly zero only where the inputs are finite
    (0 * inf is NaN, as BLAS's product gives): fin caches whether A's rows are
    (-1 not known yet, 0 no, 1 yes; NULL: not cached); the zero inputs' only
    where the deltas are.  The others' deltas (and inputs) are copied side by
    side and their product taken by BLAS into the scratch, from which it goes to
    their rows: the same sums as the whole product's."""
    cdef Py_ssize_t i, j, k, c, m, mk, w = hi - lo, ld = n_in + 1
    cdef Py_ssize_t idle_j, idle_k = 0
    cdef floating* row
    cdef floating* src
    cdef const floating* arow
    cdef int finite
    if not _skip_idle or B < _IDLE_MIN_ROWS or w < _IDLE_MIN_INPUTS or (cols < 2 and not inputs):
        return False
    cdef Py_ssize_t* alive = <Py_ssize_t*> nn_scratch(
        2 * (cols + w) * sizeof(Py_ssize_t)
        + (B * cols + cols * w + (B * w if inputs else 0)) * sizeof(floating) + 64)
    if alive == NULL:
        return False
    cdef Py_ssize_t* kalive = alive + cols
    cdef Py_ssize_t* idle = kalive + w
    cdef Py_ssize_t* kidle = idle + cols
    cdef floating* Dc = <floating*> (kidle + w)
    idle_j = _zero_columns(D, B, ldd, cols, idle)
    if inputs:
        idle_k = _zero_columns(a_in + lo, B, n_in, w, kidle)
    if not _pays(cols, w, cols - idle_j, w - idle_k):
        return False
    if idle_k > 0 and _any_nonfinite_rows(D, B, ldd, cols):
        idle_k = 0
    if idle_j > 0:
        finite = fin[0] if fin != NULL else -1
        if finite < 0:
            finite = not _any_nonfinite_rows(a_in + lo, B, n_in, w)
            if fin != NULL:
                fin[0] = finite
        if not finite:
            idle_j = 0
    if not _pays(cols, w, cols - idle_j, w - idle_k):
        return False
    m = _complement(idle, idle_j, cols, alive)
    mk = _complement(kidle, idle_k, w, kalive)
    cdef floating* Gc = Dc + B * m
    cdef floating* Ac = Gc + m * mk
    cdef const floating* Ds = D  # (the deltas themselves where none is left out)
    cdef Py_ssize_t lds = ldd
    if m > 0 and mk > 0:
        if m < cols:
            for i in range(B):
                for k in range(m):
                    Dc[i * m + k] = D[i * ldd + alive[k]]
            Ds, lds = Dc, m
        if mk < w:
            for i in range(B):
                arow = a_in + i * n_in + lo
                for c in range(mk):
                    Ac[i * mk + c] = arow[kalive[c]]
            _gemm(c'N', c'T', <int> mk, <int> m, <int> B, alpha, Ac, <int> mk,
                  Ds, <int> lds, <floating> 0.0, Gc, <int> mk)
        else:
            _gemm(c'N', c'T', <int> w, <int> m, <int> B, alpha, a_in + lo, <int> n_in,
                  Ds, <int> lds, <floating> 0.0, Gc, <int> w)
    k = 0
    for j in range(cols):
        row = dst + j * ld + 1 + lo
        if wbeta == 0:  # (the buffer may hold garbage)
            if mk < w or not (k < m and alive[k] == j):
                memset(row, 0, w * sizeof(floating))
        elif wbeta != 1:
            for i in range(w):
                row[i] = wbeta * row[i]
        if k < m and alive[k] == j:
            src = Gc + k * mk
            k += 1
            if mk == 0:
                pass
            elif mk < w:
                for c in range(mk):
                    row[kalive[c]] += src[c]
            elif wbeta == 0:
                memcpy(row, src, w * sizeof(floating))
            else:
                for i in range(w):
                    row[i] += src[i]
    return True


cdef bint _idle_delta_product(const floating* blk, Py_ssize_t n_in, Py_ssize_t n_out,
                              const floating* D, Py_ssize_t B, floating* Dn,
                              const floating* a_in, bint relu_below) noexcept nogil:
    """Dn := D W (B x n_in: the delta carried down to the layer below, before its
    activation's derivative) with the product formed for the neurons that have a
    delta not zero in some row only, and, where the layer below is relu (relu_below),
    for the inputs not zero in some row only (Dn is zero there: the derivative is
    zero at a zero activation; so is Dn's column in what follows): False, having
    done nothing, when too few are left out (see _idle_product).  Exact where the
    weights are finite (0 * inf is NaN) and, for the inputs left out, where the
    sums of D W there could not overflow (inf * 0 is NaN): a bound on them, the
    largest |D| times the largest |W| times the neurons, stays below half the
    largest finite number."""
    cdef Py_ssize_t i, j, c, m, mk, ld = n_in + 1, idle_j, idle_k = 0
    cdef double wmax = 0.0, t, big = FLT_MAX if floating is float else DBL_MAX
    cdef const floating* wrow
    cdef floating* out
    if not _skip_idle or B < _IDLE_MIN_ROWS or n_in < _IDLE_MIN_INPUTS or n_out < 2:
        return False
    cdef Py_ssize_t* alive = <Py_ssize_t*> nn_scratch(
        2 * (n_out + n_in) * sizeof(Py_ssize_t)
        + (B * n_out + n_out * n_in + B * n_in) * sizeof(floating) + 64)
    if alive == NULL:
        return False
    cdef Py_ssize_t* kalive = alive + n_out
    cdef Py_ssize_t* idle = kalive + n_in
    cdef Py_ssize_t* kidle = idle + n_out
    cdef floating* Dc = <floating*> (kidle + n_in)
    idle_j = _zero_columns(D, B, n_out, n_out, idle)
    if relu_below:
        idle_k = _zero_columns(a_in, B, n_in, n_in, kidle)
    if not _pays(n_out, n_in, n_out - idle_j, n_in - idle_k):
        return False
    if _any_nonfinite_rows(blk + 1, n_out, ld, n_in):
        return False
    if idle_k > 0:
        if _any_nonfinite(D, B * n_out):
            return False
        for j in range(n_out):
            t = _abs_max(blk + j * ld + 1, n_in)
            wmax = t if t > wmax else wmax
        if _abs_max(D, B * n_out) * wmax * n_out >= big / 2:
            return False
    m = _complement(idle, idle_j, n_out, alive)
    mk = _complement(kidle, idle_k, n_in, kalive)
    cdef floating* Wc = Dc + B * m
    cdef floating* Ec = Wc + m * mk
    if mk < n_in or m == 0:
        memset(Dn, 0, B * n_in * sizeof(floating))
    if m == 0 or mk == 0:
        return True
    cdef const floating* Ds = D  # (the deltas themselves where none is left out)
    if m < n_out:
        for i in range(B):
            for j in range(m):
                Dc[i * m + j] = D[i * n_out + alive[j]]
        Ds = Dc
    for j in range(m):
        wrow = blk + alive[j] * ld + 1
        if mk < n_in:
            for c in range(mk):
                Wc[j * mk + c] = wrow[kalive[c]]
        else:
            memcpy(Wc + j * mk, wrow, n_in * sizeof(floating))
    if mk < n_in:
        # (column-major: Ec^T = Wc^T Dc^T, mk x B)
        _gemm(c'N', c'N', <int> mk, <int> B, <int> m, <floating> 1.0, Wc, <int> mk,
              Ds, <int> m, <floating> 0.0, Ec, <int> mk)
        for i in range(B):
            out = Dn + i * n_in
            for c in range(mk):
                out[kalive[c]] = Ec[i * mk + c]
    else:
        _gemm(c'N', c'N', <int> n_in, <int> B, <int> m, <floating> 1.0, Wc, <int> n_in,
              Ds, <int> m, <floating> 0.0, Dn, <int> n_in)
    return True


cdef inline bint _any_nonfinite_rows(const floating* A, Py_ssize_t B, Py_ssize_t lda,
                                     Py_ssize_t n) noexcept nogil:
    """Whether any of the first n numbers of B rows lda apart is NaN or +-inf."""
    cdef Py_ssize_t i
    if lda == n:
        return _any_nonfinite(A, B * n)
    for i in range(B):
        if _any_nonfinite(A + i * lda, n):
            return True
    return False


def _skip_idle_neurons(enabled=None):
    """Whether weight gradients leave out the products of neurons whose deltas are
    all zero (see _idle_product; tests switch it off to compare); returns the
    setting before."""
    return _switch(&_skip_idle, enabled)


def _idle_thresholds(min_rows=None, min_inputs=None):
    """The fewest rows and inputs (see _idle_product) for which a weight gradient
    looks for neurons whose deltas are all zero; None keeps one.  Returns the
    settings before."""
    global _IDLE_MIN_ROWS, _IDLE_MIN_INPUTS
    before = (_IDLE_MIN_ROWS, _IDLE_MIN_INPUTS)
    if min_rows is not None:
        _IDLE_MIN_ROWS = max(1, min_rows)
    if min_inputs is not None:
        _IDLE_MIN_INPUTS = max(1, min_inputs)
    return before


cdef inline void _weight_product(floating* dst, Py_ssize_t n_in, Py_ssize_t cols,
                                 const floating* a_in, Py_ssize_t B, const floating* D,
                                 Py_ssize_t ldd, const floating* colsum, floating alpha,
                                 floating wbeta, floating bbeta, Py_ssize_t lo=0,
                                 Py_ssize_t hi=-1, int* fin=NULL,
                                 bint inputs=False) noexcept nogil:
    """For cols neurons of a layer whose rows (n_in + 1 apart: the bias, then the
    weights) start at dst, from their deltas D (B rows ldd apart) and inputs A:
        W := wbeta W + alpha D^T A,   b := bbeta b + alpha colsum.
    Inputs outside [lo, hi) (hi -1: n_in) are zero in every row (see _input_span):
    their products are not formed, their weights W := wbeta W (0 for wbeta 0); nor
    are the products of neurons whose deltas are all zero, nor with inputs those
    of the inputs zero in every row (see _idle_product, and fin there)."""
    cdef Py_ssize_t j, k, ld = n_in + 1
    cdef floating* w
    if hi < 0:
        hi = n_in
    if hi > lo and not _idle_product(dst, n_in, cols, a_in, B, D, ldd, alpha, wbeta, lo, hi,
                                     fin, inputs):
        _gemm(c'N', c'T', <int> (hi - lo), <int> cols, <int> B, alpha, a_in + lo, <int> n_in,
              D, <int> ldd, wbeta, dst + 1 + lo, <int> ld)
    if (lo > 0 or hi < n_in) and wbeta != 1:
        for j in range(cols):
            w = dst + j * ld + 1
            if wbeta == 0:  # (the buffer may hold garbage)
                memset(w, 0, lo * sizeof(floating))
                memset(w + hi, 0, (n_in - hi) * sizeof(floating))
            else:
                for k in range(lo):
                    w[k] *= wbeta
                for k in range(hi, n_in):
                    w[k] *= wbeta
    _bias_gradient(dst, n_in, cols, colsum, alpha, bbeta)


cdef inline void _input_span(const floating* X, Py_ssize_t B, Py_ssize_t n,
                             const floating* D, Py_ssize_t nd, Py_ssize_t* lo,
                             Py_ssize_t* hi) noexcept nogil:
    """[lo, hi): the inputs outside of which every row of X (B rows of n) is zero
    (lo = hi when all are), so that the first layer's weight gradient (its product
    with the deltas D, B rows of nd) is zero there.  Images have such margins: the
    top and bottom rows of MNIST's 28 x 28 are blank in most images.  Measured with
    the dense product's passing over zero inputs (see NN_DENSE_GROUP in _dense.h), 1
    thread, the bundled digits padded to 28 x 28 as MNIST's: the drop-in's default
    fit on 20,000 1.12x faster (five alternating rounds 1.11-1.22x; 1.10x with the
    forward's alone), L-BFGS on 4,000 1.30x (three rounds 1.03-1.30x; 1.09x);
    uniform inputs level (seven rounds 0.91-1.12x, median 1.01x).  The whole span
    where a delta is not finite (0 * inf is NaN, as BLAS's product gives).  Each
    row is read from either end to its first non-zero value, and none once the span
    is whole (at once, for rows without zeros at the ends)."""
    cdef Py_ssize_t i, k, a = n, b = 0
    cdef const floating* row
    if not nn_dense_skip_zeros:
        lo[0], hi[0] = 0, n
        return
    for i in range(B):
        row = X + i * n
        k = 0
        while k < a and row[k] == 0:
            k += 1
        a = k
        k = n
        while k > b and row[k - 1] == 0:
            k -= 1
        b = k
        if a == 0 and b == n:
            break
    if b <= a:
        a = b = 0
    if (a > 0 or b < n) and _any_nonfinite(D, B * nd):
        a, b = 0, n
    lo[0] = a
    hi[0] = b


cdef inline void _bias_gradient(floating* dst, Py_ssize_t n_in, Py_ssize_t cols,
                                const floating* colsum, floating alpha,
                                floating bbeta) noexcept nogil:
    """b := bbeta b + alpha colsum for cols neurons whose rows (n_in + 1 apart) start
    at dst."""
    cdef Py_ssize_t j, ld = n_in + 1
    for j in range(cols):
        if bbeta == 0:  # the buffer may hold garbage (NaN * 0 is NaN)
            dst[j * ld] = alpha * colsum[j]
        else:
            dst[j * ld] = bbeta * dst[j * ld] + alpha * colsum[j]


cdef void _forward(Net* net, const floating* P, const floating* X0, Py_ssize_t B,
                   floating* ws, Py_ssize_t* bad=NULL, Pack* pk=NULL,
                   Py_ssize_t l0=0, const Data* gd=NULL,
                   const Py_ssize_t* gidx=NULL) noexcept nogil:
    """A_l := act_l(A_{l-1} W_l^T + b_l) for every layer; Z_L kept for the loss.

    With bad, the rows of X0 holding NaN or +-inf are found from the first layer's
    Z instead of X0 itself (see forward): bad[0] := the first of them, and the pass
    stops there, or -1.  With a pack, the layers it takes are computed from it,
    packed first unless its ready bit says the weights are unchanged.  With l0 = 1
    the first layer's A is already in place (see _first_layer_steps) and the pass
    starts above it.  With gd, X0 is a buffer the rows gidx[0:B] of gd's X are
    gathered into first; where the first layer's product is the dense kernel's and
    X dense, that product gathers them as it reads them (see
    nn_dense_fwd_gather_d).  With gd.sparse_first the first layer is computed from
    the CSR rows' nonzeros (_csr_affine; gidx NULL: rows gd.row0 on) and X0 is not
    read."""
    cdef Py_ssize_t l, n_in, n_out, r, plen, po = 0
    cdef bint f64 = floating is double, dense
    cdef const floating* a_in = X0
    cdef const floating* xsrc
    cdef const floating* blk
    cdef floating* z
    cdef floating* t
    for l in range(net.L):
        n_in = net.sizes[l]
        n_out = net.sizes[l + 1]
        blk = P + net.poff[l]
        z = ws + net.zoff if l == net.L - 1 else _A(net, ws, l + 1)
        plen = nn_dense_pack_len(n_in, n_out, f64) if pk != NULL and pk.buf != NULL else 0
        if l < l0:
            po += plen
            a_in = z
            continue
        dense = plen > 0 and B >= _dense_min_rows(pk, f64)
        xsrc = NULL
        if l == 0 and gd != NULL and gd.sparse_first \
                and _csr_affine(blk, n_in, n_out, gd, gidx, B, z):
            pass
        else:
            if l == 0 and gd != NULL and gidx != NULL:  # (else X0 holds the rows already)
                if dense and gd.X != NULL and _gather_in_product:
                    xsrc = <const floating*> gd.X  # (the product gathers the rows)
                else:
                    _gather(gd, gidx, B, n_in, 0, <floating*> X0, NULL, NULL)
            if dense:
                _dense_layer(pk, l, po, blk, a_in, B, n_in, n_out, z, xsrc, gidx)
            elif _FWD_TRANSPOSED_WIDTH <= n_out <= _FWD_TRANSPOSED_MAX_WIDTH \
                    and B >= _FWD_TRANSPOSED_ROWS and n_in >= _FWD_TRANSPOSED_MIN_INPUTS:
                # Z^T = W A^T into the free delta buffer, then Z := (Z^T)^T + b in one
                # pass.  OpenBLAS runs this orientation faster (measured, 1 thread,
                # float64: 784->100 at 200 rows 49 against 42 GFLOP/s, 784->30 at 1024
                # rows 37 against 24, 256->256 at 1024 rows 62 against 55), and the
                # transpose costs a fraction of the gain; 10-wide layers gain nothing,
                # nor do products of fewer rows (256->256 at 32 rows: 46 against 44),
                # and wide layers lose more to the transpose than they gain (a
                # 784-256-256-10 epoch, float64, 2 threads: 5% slower at batch 128,
                # 7% at 256).  Measured gains: predict of 784-30-10 over 60,000 rows,
                # 1 thread, 150 -> 113 ms; L-BFGS on 784-100-10, 4,000 rows, 4.0 -> 3.7 s.
                t = ws + net.d1off
                _gemm(c'T', c'N', <int> B, <int> n_out, <int> n_in, <floating> 1.0,
                      a_in, <int> n_in, blk + 1, <int> (n_in + 1), <floating> 0.0, t, <int> B)
                if floating is float:
                    nn_transpose_bias_f(t, B, n_out, blk, n_in + 1, z)
                else:
                    nn_transpose_bias_d(t, B, n_out, blk, n_in + 1, z)
            else:
                _affine_blas(blk, n_in, n_out, a_in, B, z, n_out)
        po += plen
        if l == 0 and bad != NULL:
            bad[0] = -1
            r = _first_nonfinite(z, n_out, 0, B)
            while r >= 0:  # (a Z overflowing from finite inputs is no error)
                if _any_nonfinite(X0 + r * n_in, n_in):
                    bad[0] = r
                    return
                r = _first_nonfinite(z, n_out, r + 1, B)
        if l == net.L - 1:
            memcpy(_A(net, ws, l + 1), z, B * n_out * sizeof(floating))
            z = _A(net, ws, l + 1)
        _activate(z, B, n_out, net.acts[l])
        a_in = z


cdef floating* _backward(Net* net, floating* P, const floating* X0, Py_ssize_t B,
                         floating* ws, floating* G, floating alpha, floating wbeta,
                         floating bbeta, floating* PSG, Py_ssize_t psg_ld,
                         Py_ssize_t l_end=0, const Data* gd=NULL,
                         const Py_ssize_t* gidx=NULL) noexcept nogil:
    """Backpropagate the output delta (already in the d0 buffer) through the layers
    above l_end (every layer by default); returns the buffer then holding the delta
    of layer l_end's outputs (l_end = 1: the first layer's, see _first_layer_steps).

    For each layer, from the top: the delta of the layer below is formed first
    (it needs this layer's weights before any update), then
        G_W := wbeta G_W + alpha D^T A_{l-1},   G_b := bbeta G_b + alpha sum_i D_i.
    G may be the gradient buffer or the parameters themselves (plain SGD fused into
    the update: alpha = -r / batch).  When PSG is not NULL, the per-sample
    gradients (outer products d_i [1, a_i]) go to row i of PSG instead.  With
    gd.sparse_first (no PSG), the first layer's inputs are gd's CSR rows gidx[0:B]
    (gidx NULL: gd.row0 on), X0 unread: see _forward.
    """
    cdef Py_ssize_t l, i, j, k, n_in, n_out, ld, lo, hi
    cdef floating* D = ws + net.d0off
    cdef floating* Dn = ws + net.d1off
    cdef floating* tmp
    cdef const floating* a_in
    cdef floating* blk
    cdef floating* row
    cdef floating* colsum
    cdef floating dij
    for l in range(net.L - 1, l_end - 1, -1):
        n_in = net.sizes[l]
        n_out = net.sizes[l + 1]
        ld = n_in + 1
        blk = P + net.poff[l]
        a_in = X0 if l == 0 else _A(net, ws, l)
        if l > 0:
            # where several gradients flow into one node they add: D_{l-1} = D W
            if not _idle_delta_product(blk, n_in, n_out, D, B, Dn, a_in,
                                       net.acts[l - 1] == RELU):
                _gemm(c'N', c'N', <int> n_in, <int> B, <int> n_out, <floating> 1.0,
                      blk + 1, <int> ld, D, <int> n_out, <floating> 0.0, Dn, <int> n_in)
            _mul_act_prime(Dn, a_in, B * n_in, net.acts[l - 1])
        if PSG != NULL:
            for i in range(B):
                row = PSG + i * psg_ld + net.poff[l]
                for j in range(n_out):
                    dij = D[i * n_out + j]
                    row[j * ld] = dij
                    for k in range(n_in):
                        row[j * ld + 1 + k] = dij * a_in[i * n_in + k]
        else:
            colsum = ws + net.soff
            if floating is float:
                nn_colsum_f(D, B, n_out, colsum)
            else:
                nn_colsum_d(D, B, n_out, colsum)
            if l == 0 and gd != NULL and gd.sparse_first \
                    and (gd.X == NULL or not _any_nonfinite(D, B * n_out)):
                _csr_weight_rows(G + net.poff[0], n_in, n_out, gd, gidx, B, D, alpha, wbeta)
                _bias_gradient(G + net.poff[0], n_in, n_out, colsum, alpha, bbeta)
            else:
                if l == 0 and gd != NULL and gd.sparse_first and gidx != NULL:
                    # dense input's nonzeros, a delta not finite: 0 * inf is NaN in the
                    # dense product, so that one is made (X0 holds the rows without gidx)
                    _gather(gd, gidx, B, n_in, 0, <floating*> X0, NULL, NULL)
                lo, hi = 0, n_in
                if l == 0:
                    _input_span(a_in, B, n_in, D, n_out, &lo, &hi)
                _weight_product(G + net.poff[l], n_in, n_out, a_in, B, D, n_out, colsum,
                                alpha, wbeta, bbeta, lo, hi, NULL, l > 0)
        tmp = D
        D = Dn
        Dn = tmp
    return D


cdef void _prepare(const OptConfig* h, double t, nn_update* u) noexcept nogil:
    """The C description of step t of the update h (its per-step constants computed)."""
    u.kind = h.kind
    u.zero_g = 0
    u.lr = h.learning_rate
    u.mu = h.momentum
    u.b1 = h.beta1
    u.b2 = h.beta2
    u.eps = h.epsilon
    nn_update_prepare(u, t)


cdef inline void _update_range(const nn_update* u, floating* P, const floating* G, floating* S,
                               Py_ssize_t n, Py_ssize_t a, Py_ssize_t e,
                               double wd, double* sq) noexcept nogil:
    """Elements a..e-1 (state S: first vectors S[0:n], second S[n:2n]); with sq,
    sq += their sum of squares before the step."""
    if e <= a:
        return
    # (G is written only with u.zero_g, which only train_epoch's own buffer sets)
    if floating is float:
        nn_update_f(u, P + a, <float*> G + a, S + a if S != NULL else NULL,
                    S + n + a if S != NULL else NULL, e - a, wd, sq)
    else:
        nn_update_d(u, P + a, <double*> G + a, S + a if S != NULL else NULL,
                    S + n + a if S != NULL else NULL, e - a, wd, sq)


cdef inline bint _neuron_ranges(const Net* net, Py_ssize_t l, Py_ssize_t j, Py_ssize_t lo,
                                Py_ssize_t hi, Py_ssize_t* r) noexcept nogil:
    """r := [a, e) of neuron j of layer l's bias (r[0], r[1]) and of its weights
    (r[2], r[3]), clipped to lo..hi-1; False when it has no element there."""
    cdef Py_ssize_t n_in = net.sizes[l], base = net.poff[l] + j * (net.sizes[l] + 1)
    if base + n_in + 1 <= lo or base >= hi:
        return False
    r[0] = max(base, lo)
    r[1] = min(base + 1, hi)
    r[2] = max(base + 1, lo)
    r[3] = min(base + 1 + n_in, hi)
    return True


cdef void _optimizer_step(Net* net, const OptConfig* h, floating* P, const floating* G,
                          floating* S, Py_ssize_t n, double t, double wd, Py_ssize_t lo,
                          Py_ssize_t hi, double* sq=NULL, bint zero_g=False) noexcept nogil:
    """One update of the elements lo..hi-1 of the flat parameter vector (length n),
    state S in the same layout (Adam: first moments S[0:n], second S[n:2n]), the
    gradient of the weights (not the biases) first increased by wd W.

    sgd:          W := W - r g
    momentum:     v := mu v + g;  W := W - r v           (nesterov: W := W - r (g + mu v))
    adam:         m := b1 m + (1-b1) g;  v := b2 v + (1-b2) g^2;
                  W := W - r m/(1-b1^t) / (sqrt(v/(1-b2^t)) + eps)
    scikit-learn's forms (its MLP's _stochastic_optimizers):
    sk_momentum:  v := mu v - r g;  W := W + v            (sk_nesterov: W := W + mu v - r g)
    sk_adam:      m, v as adam;  W := W - r sqrt(1-b2^t)/(1-b1^t) m / (sqrt(v) + eps)
    t is the step count, starting at 1.  One pass (nn_update_*), neuron by neuron:
    its bias without the decay, then its weights with it.  With sq (and net),
    sq += sum W^2 over the weights among lo..hi-1 before the step, in that pass
    where the update's loop can take it.  zero_g: G[lo:hi] := 0 once read.
    """
    cdef nn_update u
    cdef Py_ssize_t l, j
    cdef Py_ssize_t r[4]
    _prepare(h, t, &u)
    u.zero_g = zero_g
    if net == NULL or wd == 0.0:
        if sq != NULL and net != NULL:
            sq[0] += _sum_sq_weights(net, P, lo, hi)
        _update_range(&u, P, G, S, n, lo, hi, 0.0, NULL)
        return
    for l in range(net.L):
        for j in range(net.sizes[l + 1]):
            if _neuron_ranges(net, l, j, lo, hi, r):
                _update_range(&u, P, G, S, n, r[0], r[1], 0.0, NULL)
                _update_range(&u, P, G, S, n, r[2], r[3], wd, sq)


cdef struct PanelStep:
    # The first layer's update applied panel by panel as its gradient is formed (see
    # _first_layer_steps): the optimiser, its state and step, and a scratch buffer
    # for one panel's gradient.  (Pointers to floating, cast where they are read.)
    const OptConfig* h
    void* S
    void* scratch
    Py_ssize_t n            # parameters
    Py_ssize_t neurons      # a panel's neurons
    double t                # the step count of this update
    double wd               # weight decay, alpha / bw included
    double sq               # += sum W^2 before the step, with want_sq
    bint want_sq
    # The next minibatch's first-layer product, formed panel by panel right after each
    # panel's step (see _first_layer_steps): a second input buffer for its rows (NULL:
    # no look-ahead), the rows (next_count 0: none), and, once formed, the buffer
    # holding them while A_1 holds that layer's output (xnext; NULL: not formed).
    void* xbuf
    void* xnext
    # a panel's pack for nn_dense_fwd_d/f (64-byte aligned; the scratch buffer, its
    # gradient consumed by then), or NULL
    void* wt
    # the next minibatch's rows: their indices and count, and, where the first panel's
    # product gathers them itself (dense X, the dense kernel), X (else NULL: the rows
    # are in xbuf before the panels)
    const Py_ssize_t* next_idx
    const void* xsrc
    Py_ssize_t next_count
    InputLists il           # the next minibatch's rows' lists (il.lists NULL: none)
    # plain SGD fused into the product (train_epoch's direct): the panels' products
    # write alpha D^T [1 X0] + wbeta W into the weights themselves, no optimiser step
    bint direct
    double wbeta
    # momentum whose products add into its scaled velocity (train_epoch's vfused): the
    # panels' products add into the velocity, and _velocity_slice steps each panel
    # with this step's minibatch weight, scale and fold (bw, vs, rs)
    bint vfused
    bint flip               # the panels in reverse order this step (see _first_layer_steps)
    double bw
    double vs
    double rs


cdef void _first_layer_steps(Net* net, floating* P, const floating* X0, Py_ssize_t B,
                             floating* ws, const floating* D, floating alpha,
                             PanelStep* ps, const floating* xn, Py_ssize_t bn) noexcept nogil:
    """The first layer's gradient (alpha D^T [1 X0], D its delta) a panel of neurons at
    a time into the scratch buffer, each panel's optimiser step taken at once
    (_optimizer_step on its rows of the flat vector).  An optimiser that keeps the
    gradient apart from its state (Adam, Nesterov's momentum) then never holds the
    first layer's whole gradient: one vector of the layer's size less in cache
    while it trains, where BLAS's packed copy, the weights and the state already
    fill the second-level cache (784-100-10 float64: 627 kB each).  Plain SGD
    (ps.direct) has no step to take: its products write the panel's weights.

    With the next minibatch's inputs xn (bn rows; NULL: none), each panel's new
    weights also give that minibatch's first-layer outputs at once, while they are
    in cache, into A_1 (free here: backpropagation is past it), activated at the end;
    the next forward pass starts above that layer.  The weights are then read once a
    step instead of twice, and BLAS never packs the whole layer (measured in
    train_epoch).  Those products are the dense kernel's from the panel's own pack
    (ps.wt) where train_epoch gave one, else BLAS's.

    Every other step takes the panels in reverse order, so that it starts on the
    weights and state the step before left in cache (measured, 784-100-10 float64
    at batch 32, in-process A/B: momentum 126-136 -> 121-134 ms an epoch, Nesterov
    131-141 -> 129-139, at batch 16 1-5% faster; Adam and float32 level)."""
    cdef Py_ssize_t n_in = net.sizes[0], n_out = net.sizes[1], ld = n_in + 1
    cdef Py_ssize_t j0, jn, lo, s0, s1
    cdef bint finite
    cdef int xfin = -1  # (whether X0's rows are finite, once a panel has asked)
    cdef floating* g = <floating*> ps.scratch
    cdef floating* colsum = ws + net.soff
    cdef floating* z = _A(net, ws, 1)
    cdef double psq = 0.0
    cdef double* sq = &ps.sq if ps.want_sq else NULL
    if floating is float:
        nn_colsum_f(D, B, n_out, colsum)
    else:
        nn_colsum_d(D, B, n_out, colsum)
    _input_span(X0, B, n_in, D, n_out, &s0, &s1)
    ps.il.formed = False
    cdef Py_ssize_t k, count = (n_out + ps.neurons - 1) // ps.neurons
    for k in range(count):
        j0 = (count - 1 - k if ps.flip else k) * ps.neurons
        jn = min(ps.neurons, n_out - j0)
        lo = net.poff[0] + j0 * ld
        # SGD's product writes the weights, momentum's adds into its velocity, the
        # others' goes to the scratch buffer
        if ps.direct:
            _weight_product(P + lo, n_in, jn, X0, B, D + j0, n_out, colsum + j0, alpha,
                            <floating> ps.wbeta, 1, s0, s1, &xfin)
        elif ps.vfused:
            _weight_product(<floating*> ps.S + lo, n_in, jn, X0, B, D + j0, n_out,
                            colsum + j0, alpha, 1, 1, s0, s1, &xfin)
            _velocity_slice(net, P, ws, 0, 1, ps.h, ps.bw, <floating*> ps.S, ps.vs, ps.rs,
                            lo, lo + jn * ld, &psq)
            if ps.want_sq:
                ps.sq += psq
        else:
            _weight_product(g, n_in, jn, X0, B, D + j0, n_out, colsum + j0, alpha, 0, 0,
                            s0, s1, &xfin)
            # (g - lo: the scratch read as the panel's rows of the flat gradient)
            _optimizer_step(net, ps.h, P, g - lo, <floating*> ps.S, ps.n, ps.t, ps.wd, lo,
                            lo + jn * ld, sq, False)
        if xn != NULL and ps.wt != NULL:
            finite = _dense_pack(P + lo, n_in, jn, <floating*> ps.wt)
            # (the first panel's product gathers the rows, where train_epoch leaves
            # that to it)
            _dense_product(<floating*> ps.wt, xn, bn, n_in, jn, z + j0, n_out, finite,
                           <const floating*> ps.xsrc if k == 0 else NULL, ps.next_idx,
                           &ps.il)
        elif xn != NULL:
            _affine_blas(P + lo, n_in, jn, xn, bn, z + j0, n_out)
    ps.flip = not ps.flip
    if xn != NULL:
        _activate(z, bn, n_out, net.acts[0])


# ------------------------------------------------------------- random ---

cdef inline uint64_t _splitmix64(uint64_t* state) noexcept nogil:
    """SplitMix64 (Steele, Lea, Flood 2014): the generator behind shuffling and
    initialisation, simple enough that the reference twin repeats it exactly."""
    cdef uint64_t z
    state[0] += 0x9E3779B97F4A7C15ULL
    z = state[0]
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef void _shuffle(Py_ssize_t* order, Py_ssize_t n, uint64_t* state) noexcept nogil:
    """order := 0..n-1, then a Fisher-Yates shuffle drawn from state."""
    cdef Py_ssize_t i, j, t
    for i in range(n):
        order[i] = i
    for i in range(n - 1, 0, -1):
        j = <Py_ssize_t> (_splitmix64(state) % <uint64_t> (i + 1))
        t = order[i]
        order[i] = order[j]
        order[j] = t


# -------------------------------------------------------- entry points ---

cdef Py_ssize_t _n_params(const Py_ssize_t[::1] sizes):
    cdef Py_ssize_t l, n = 0
    for l in range(sizes.shape[0] - 1):
        n += sizes[l + 1] * (sizes[l] + 1)
    return n


def n_params(const Py_ssize_t[::1] sizes):
    """Length of the parameter vector: sum_l n_{l+1} (n_l + 1)."""
    return _n_params(sizes)


def workspace_size(const Py_ssize_t[::1] sizes, Py_ssize_t bmax, bint train=False,
                   bint optimizer=False, bint x_rows=True):
    """Workspace length for batches (or chunks) of up to ``bmax`` rows (x_rows False:
    training without a buffer for gathered inputs, see train_workspace_size)."""
    _check_sizes(sizes)
    cdef Py_ssize_t[::1] poff = np.zeros(sizes.shape[0], dtype=np.intp)
    cdef Py_ssize_t[::1] aoff = np.zeros(sizes.shape[0], dtype=np.intp)
    cdef Net net
    _layout(&net, sizes, poff, aoff, 1, train, optimizer, x_rows)
    # the length is fixed + bmax * per_row; check that it fits before computing it
    if bmax > 0 and bmax > (2 ** 62 - net.size) // max(1, net.size):
        raise ValueError(f"a workspace for {bmax} rows is too large to address")
    _layout(&net, sizes, poff, aoff, bmax, train, optimizer, x_rows)
    return net.size


cdef void _check_sizes(const Py_ssize_t[::1] sizes) except *:
    cdef Py_ssize_t l
    if sizes.shape[0] < 2:
        raise ValueError("a network needs at least two layer sizes")
    for l in range(sizes.shape[0]):
        if sizes[l] < 1 or sizes[l] >= 2 ** 31 - 1:
            raise ValueError(f"layer size {sizes[l]} at position {l} is out of range")
    # in Python integers: with enough wide layers the C sum would wrap around
    # to a small positive length, and every later length check would trust it
    cdef object total = 0, width = 0
    for l in range(sizes.shape[0]):
        width += int(sizes[l])
        if l > 0:
            total += int(sizes[l]) * (int(sizes[l - 1]) + 1)
    if total >= 2 ** 62 or width >= 2 ** 40:
        raise ValueError("the layer sizes give a network too large to address")


cdef void _layout(Net* net, const Py_ssize_t[::1] sizes, Py_ssize_t[::1] poff,
                  Py_ssize_t[::1] aoff, Py_ssize_t bmax, bint train, bint optimizer,
                  bint x_rows=True) except *:
    cdef Py_ssize_t l, L = sizes.shape[0] - 1, pos = 0, maxw = 1
    if bmax < 1:
        raise ValueError("batch (chunk) size must be at least 1")
    net.L = L
    net.sizes = &sizes[0]
    net.poff = &poff[0]
    net.aoff = &aoff[0]
    net.bmax = bmax
    for l in range(L):
        poff[l] = pos
        pos += sizes[l + 1] * (sizes[l] + 1)
    pos = 0
    aoff[0] = -1  # A_0 is the input itself, never in the workspace
    for l in range(1, L + 1):
        aoff[l] = pos
        pos += bmax * sizes[l]
        if sizes[l] > maxw:
            maxw = sizes[l]
    net.zoff = pos
    pos += bmax * sizes[L]
    net.d0off = pos
    pos += bmax * maxw
    net.d1off = pos
    pos += bmax * maxw
    net.soff = pos
    pos += maxw
    net.xoff = net.yoff = net.woff = net.goff = pos
    if train:
        net.xoff = pos
        if x_rows:  # (training from CSR rows' nonzeros gathers no inputs)
            pos += bmax * sizes[0]
        net.yoff = pos
        pos += bmax * sizes[L]
        net.woff = pos
        pos += bmax
        net.goff = pos
        if optimizer:
            pos += _n_params(sizes)
    net.size = pos


cdef object _setup(Net* net, const Py_ssize_t[::1] sizes, const int[::1] acts,
                   Py_ssize_t n_params, Py_ssize_t n_features, Py_ssize_t n_outputs,
                   Py_ssize_t ws_len, Py_ssize_t bmax, bint train, bint optimizer,
                   bint x_rows=True):
    """Check every length a worker will trust, and lay the workspace out."""
    _check_sizes(sizes)
    cdef Py_ssize_t L = sizes.shape[0] - 1, l
    if acts.shape[0] != L:
        raise ValueError(f"need {L} activation ids, got {acts.shape[0]}")
    for l in range(L):
        if acts[l] < SIGMOID or acts[l] > EXP or (acts[l] >= SOFTMAX and l != L - 1):
            raise ValueError(f"invalid activation id {acts[l]} for layer {l}")
    if n_params != _n_params(sizes):
        raise ValueError(f"params has length {n_params}, the network needs {_n_params(sizes)}")
    if n_features >= 0 and n_features != sizes[0]:
        raise ValueError(f"X has {n_features} features, the network expects {sizes[0]}")
    if n_outputs >= 0 and n_outputs != sizes[L]:
        raise ValueError(f"Y has {n_outputs} outputs, the network produces {sizes[L]}")
    poff = np.zeros(L + 1, dtype=np.intp)
    aoff = np.zeros(L + 1, dtype=np.intp)
    _layout(net, sizes, poff, aoff, bmax, train, optimizer, x_rows)
    net.acts = &acts[0]
    if ws_len < net.size:
        raise ValueError(f"workspace has length {ws_len}, needs {net.size}")
    return (poff, aoff)  # the caller keeps them alive while net points into them


def _check_loss(int loss, int out_act):
    if loss < MSE or loss > POISSON:
        raise ValueError(f"invalid loss id {loss}")
    if (loss == CROSS_ENTROPY or loss == LOG_LOSS) and out_act != SIGMOID and out_act != SOFTMAX:
        raise ValueError("cross_entropy and log_loss need sigmoid or softmax outputs")
    if loss == POISSON and out_act != EXP:
        raise ValueError("the poisson loss needs exp outputs")


def forward(const floating[::1] params, const Py_ssize_t[::1] sizes, const int[::1] acts,
            const floating[:, ::1] X, floating[:, ::1] out, floating[::1] workspace,
            Py_ssize_t n_threads=1, bint check_finite=False,
            const floating[::1] X_data=None, const Py_ssize_t[::1] X_indices=None,
            const Py_ssize_t[::1] X_indptr=None):
    """out := a_L(X): the network's output for every row of X, in chunks of the
    workspace's row count (workspace laid out by pass_workspace_size(sizes, chunk,
    n_threads)).  With n_threads > 1 thread t computes chunks t, t + n_threads, ...
    in its own slice of the workspace; every row comes out the same either way.

    check_finite: the pass stops at the first chunk holding NaN or +-inf.  Returns
    the first row of X holding one (out is then incomplete), else -1.  A layer
    narrower than its input is checked through its product Z = X W^T + b: a
    non-finite x_ik makes every z_ij with w_jk != 0 non-finite (NaN * w, +-inf * w
    and any sum with them are), so when no column of W is all zeros, a row of X is
    finite where its row of Z is, and only rows of Z that are not are looked up in
    X.  Scanning X itself, just before its product reads it, costs its reading
    from memory once more outside the product: 17 of 119 ms of a 784-30-10 predict
    over 60,000 rows, 1 thread; scanning Z reads 30 numbers a row, in cache.  (A
    BLAS that skips zero weights, as the reference BLAS does, is still caught: the
    all-zero column is the only way to skip every product with x_ik.)

    X None: the rows are in CSR form (X_data, X_indices, X_indptr), and the first
    layer is computed from their nonzeros (_csr_affine)."""
    cdef Net net
    cdef bint sparse = X is None
    cdef Py_ssize_t n = out.shape[0] if sparse else X.shape[0], bmax, t, stride, bad = -1, j, k
    _check_sizes(sizes)
    _check_threads(n_threads)
    if out.shape[0] != n:
        raise ValueError(f"out has {out.shape[0]} rows, X has {n}")
    if sparse:
        _check_csr(X_data, X_indices, X_indptr, n, sizes[0])
    elif X_data is not None or X_indices is not None or X_indptr is not None:
        raise ValueError("give X dense or in CSR form (X=None), not both")
    stride = _pass_slice(workspace.shape[0], n_threads)
    bmax = _rows_for(sizes, stride, False, False)
    _keep = _setup(&net, sizes, acts, params.shape[0], sizes[0] if sparse else X.shape[1],
                   out.shape[1], stride, bmax, False, False)
    if n == 0:
        return -1
    cdef Data data
    if sparse:
        if check_finite:
            bad = _csr_first_nonfinite_row(X_data, X_indptr, n)
            if bad >= 0:
                return bad
        _csr_data(&data, X_data, X_indices, X_indptr)
    cdef const floating* P = &params[0]
    cdef const floating* Xp = NULL if sparse else &X[0, 0]
    cdef const Data* gd = &data if sparse else NULL
    cdef floating* O = &out[0, 0]
    cdef floating* ws = &workspace[0]
    n_threads = min(n_threads, (n + bmax - 1) // bmax)
    cdef int check = _CHECK_X if check_finite and not sparse else _CHECK_NONE
    cdef Py_ssize_t n_in = sizes[0], n_out = sizes[1]
    if check_finite and not sparse and n_out < n_in:
        check = _CHECK_Z
        for k in range(n_in):  # weight k of every neuron of the first layer
            for j in range(n_out):
                if P[j * (n_in + 1) + 1 + k] != 0:
                    break
            else:
                check = _CHECK_X
                break
    cdef Py_ssize_t[::1] found = np.full(n_threads * 8, -1, dtype=np.intp)  # a line apart
    cdef bint serial = _serial(n_threads)
    with nogil:
        if serial:
            for t in range(n_threads):
                found[8 * t] = _forward_chunks(&net, P, Xp, O, n, t, n_threads,
                                               ws + t * stride, check, gd)
        else:
            for t in prange(n_threads, num_threads=n_threads, schedule='static', chunksize=1):
                found[8 * t] = _forward_chunks(&net, P, Xp, O, n, t, n_threads,
                                               ws + t * stride, check, gd)
        # each thread stopped at its first bad chunk: the first bad row is the least
        for t in range(n_threads):
            if found[8 * t] >= 0 and (bad < 0 or found[8 * t] < bad):
                bad = found[8 * t]
        if gd != NULL:
            _scratch_release(n_threads, serial)
    return bad


cdef enum:
    _CHECK_NONE = 0
    _CHECK_X = 1   # scan each chunk of X before its product
    _CHECK_Z = 2   # scan the first layer's Z (see forward)


cdef Py_ssize_t _forward_chunks(Net* net, const floating* P, const floating* X,
                                floating* out, Py_ssize_t n, Py_ssize_t first, Py_ssize_t step,
                                floating* ws, int check, const Data* gd=NULL) noexcept nogil:
    """Chunks first, first + step, ... of the rows (of net.bmax rows each) through
    the network into out; with check, up to the first chunk holding a non-finite
    value, whose first such row is returned (else -1).  With gd, the rows are its
    CSR rows (X unread, no check)."""
    cdef Py_ssize_t start = first * net.bmax, b, nf = net.sizes[0], no = net.sizes[net.L]
    cdef Py_ssize_t bad = -1
    cdef Data rows
    if gd != NULL:
        rows = gd[0]
    cdef Pack pk
    _pack_init(&pk, net, floating is double, n, True)
    cdef nn_fpstate fp = nn_fp_flush_enter()
    while start < n:
        b = min(net.bmax, n - start)
        if check == _CHECK_X:
            bad = _first_nonfinite(X, nf, start, start + b)
            if bad >= 0:
                break
        if gd != NULL:
            rows.row0 = start
            _forward(net, P, NULL, b, ws, NULL, &pk, 0, &rows, NULL)
        else:
            _forward(net, P, X + start * nf, b, ws, &bad if check == _CHECK_Z else NULL, &pk)
        if bad >= 0:  # (_CHECK_Z: a row of this chunk)
            bad += start
            break
        memcpy(out + start * no, ws + net.aoff[net.L], b * no * sizeof(floating))
        start += step * net.bmax
    nn_fp_flush_leave(fp)
    _pack_free(&pk)
    return bad


cdef void _check_threads(Py_ssize_t n_threads) except *:
    if n_threads < 1 or n_threads > MAX_THREADS:
        raise ValueError(f"n_threads must be between 1 and {MAX_THREADS}, got {n_threads}")


cdef bint _serial(Py_ssize_t n_threads) noexcept:
    """Whether n_threads parts must run one after another (and note when they will not)."""
    global _omp_used
    if n_threads <= 1 or _omp_serial or not NN_OPENMP:
        return True
    _omp_used = True
    return False


cdef Py_ssize_t _pass_slice(Py_ssize_t ws_len, Py_ssize_t n_threads):
    """Each thread's slice of a predict/loss/gradient workspace of ws_len: the whole
    of it for one thread, else whole 64-byte lines (pass_workspace_size lays them
    out: the chunk workspace, then with a gradient the thread's own sum)."""
    if n_threads == 1:
        return ws_len
    return ws_len // n_threads // 16 * 16


def pass_workspace_size(const Py_ssize_t[::1] sizes, Py_ssize_t rows, Py_ssize_t n_threads=1,
                        bint gradient=False):
    """Workspace length for forward / loss_gradient over chunks of rows rows on
    n_threads threads (gradient: loss_gradient with want_grad)."""
    _check_threads(n_threads)
    cdef Py_ssize_t size = workspace_size(sizes, rows)
    if n_threads == 1:
        return size
    return n_threads * (_thread_stride(size) + (_thread_stride(_n_params(sizes)) if gradient
                                                else 0))


cdef Py_ssize_t _rows_for(const Py_ssize_t[::1] sizes, Py_ssize_t ws_len, bint train,
                          bint optimizer) except -1:
    """The largest row count a workspace of ws_len holds (it is linear in rows)."""
    cdef Py_ssize_t[::1] poff = np.zeros(sizes.shape[0], dtype=np.intp)
    cdef Py_ssize_t[::1] aoff = np.zeros(sizes.shape[0], dtype=np.intp)
    cdef Net net
    cdef Py_ssize_t fixed, per_row, size1
    _layout(&net, sizes, poff, aoff, 1, train, optimizer)
    size1 = net.size
    _layout(&net, sizes, poff, aoff, 2, train, optimizer)
    per_row = net.size - size1
    fixed = size1 - per_row
    if ws_len < size1:
        raise ValueError(f"workspace has length {ws_len}, needs at least {size1}")
    return (ws_len - fixed) // per_row


cdef double _data_pass(Net* net, const floating* P, const floating* X, const floating* Y,
                       const floating* sw, Py_ssize_t n, int loss, floating* ws, floating* G,
                       floating* PSG, Py_ssize_t psg_ld, const Data* gd=NULL) noexcept nogil:
    """Chunk by chunk of the workspace's rows: forward, the (weighted)
    per-sample costs, summed and returned, and, when G or PSG is given,
    backpropagation into the gradient sum G or into row i of the per-sample
    table PSG for sample i.  With gd (G only, no PSG), the rows are its CSR rows
    from gd.row0 on, and the first layer is computed from their nonzeros; X is
    NULL, or where gd.X is not, the same rows dense (see _csr_affine)."""
    cdef Py_ssize_t start = 0, b, L = net.L, nf = net.sizes[0], no = net.sizes[L]
    cdef double total = 0.0
    cdef bint back = G != NULL or PSG != NULL
    cdef Data rows
    cdef const Data* rp = NULL
    cdef const floating* xs
    if gd != NULL:
        rows = gd[0]
        rp = &rows
    cdef Pack pk
    _pack_init(&pk, net, floating is double, n, True)  # (packed once: the weights stay)
    cdef nn_fpstate fp = nn_fp_flush_enter()
    while start < n:
        b = min(net.bmax, n - start)
        xs = X + start * nf if X != NULL else NULL
        if gd != NULL:
            rows.row0 = gd.row0 + start
        _forward(net, P, xs, b, ws, NULL, &pk, 0, rp, NULL)
        total += _output_delta(loss, net.acts[L - 1], ws + net.zoff, _A(net, ws, L),
                               Y + start * no, sw + start if sw != NULL else NULL, b, no,
                               ws + net.d0off if back else NULL)
        if back:
            _backward(net, <floating*> P, xs, b, ws, G, 1.0, 1.0, 1.0,
                      PSG + start * psg_ld if PSG != NULL else NULL, psg_ld, 0, rp)
        start += b
    nn_fp_flush_leave(fp)
    _pack_free(&pk)
    return total


def loss_gradient(const floating[::1] params, const Py_ssize_t[::1] sizes, const int[::1] acts,
                  int loss, const floating[:, ::1] X, const floating[:, ::1] Y,
                  const floating[::1] sample_weight, floating[::1] grad,
                  floating[::1] workspace, bint want_grad=True, Py_ssize_t n_threads=1,
                  const floating[::1] X_data=None, const Py_ssize_t[::1] X_indices=None,
                  const Py_ssize_t[::1] X_indptr=None):
    """Sum over the rows of the (weighted) per-sample cost, and, when want_grad,
    grad := sum_i w_i dC_i/dW (the caller divides by the total weight).

    Works in chunks of the workspace's row count; the GEMMs accumulate into grad.
    With n_threads > 1 (workspace from pass_workspace_size) thread t takes chunks
    t, t + n_threads, ... into its own sum, and the sums are added in thread order.
    X None: the rows are in CSR form (X_data, X_indices, X_indptr), the first layer
    computed from their nonzeros.  Both given: X dense and its nonzeros (see
    nonzeros), the first layer from the nonzeros with X's own results where a
    weight or delta is not finite.  Returns the loss sum (double).
    """
    cdef Net net
    cdef bint sparse = X_data is not None or X is None, both = sparse and X is not None
    cdef Py_ssize_t n = Y.shape[0] if X is None else X.shape[0], bmax, stride, goff, t, npar
    cdef double total = 0.0
    cdef const floating* swp = NULL
    cdef floating* G = NULL
    cdef Data data
    _check_sizes(sizes)
    _check_threads(n_threads)
    _check_loss(loss, acts[acts.shape[0] - 1] if acts.shape[0] > 0 else -1)
    if sparse:
        _check_csr(X_data, X_indices, X_indptr, n, sizes[0])
        _csr_data(&data, X_data, X_indices, X_indptr)
        if both and X.shape[1] != sizes[0]:
            raise ValueError(f"X has {X.shape[1]} features, the network expects {sizes[0]}")
        data.X = &X[0, 0] if both and n > 0 else NULL
    elif X_indices is not None or X_indptr is not None:
        raise ValueError("X in CSR form needs X_data, X_indices and X_indptr")
    cdef const Data* gd = &data if sparse else NULL
    cdef const floating* Xp = NULL if X is None or n == 0 else &X[0, 0]
    if Y.shape[0] != n:
        raise ValueError(f"X has {n} rows, Y has {Y.shape[0]}")
    if sample_weight is not None and sample_weight.shape[0] != n:
        raise ValueError(f"sample_weight has {sample_weight.shape[0]} entries, X has {n} rows")
    if want_grad and grad.shape[0] != _n_params(sizes):
        raise ValueError(f"grad has length {grad.shape[0]}, the network needs {_n_params(sizes)}")
    npar = _n_params(sizes)
    stride = _pass_slice(workspace.shape[0], n_threads)
    # the chunk workspace; with several threads a gradient sum follows it in each slice
    goff = stride - (_thread_stride(npar) if want_grad and n_threads > 1 else 0)
    bmax = _rows_for(sizes, goff, False, False)
    _keep = _setup(&net, sizes, acts, params.shape[0], sizes[0] if X is None else X.shape[1],
                   Y.shape[1], goff, bmax, False, False)
    if want_grad:
        G = &grad[0]
        memset(G, 0, grad.shape[0] * sizeof(floating))
    if n == 0:
        return 0.0
    if sample_weight is not None:
        swp = &sample_weight[0]
    cdef Py_ssize_t nt = min(n_threads, (n + bmax - 1) // bmax)
    if nt == 1:
        with nogil:
            total = _data_pass(&net, &params[0], Xp, &Y[0, 0], swp, n, loss,
                               &workspace[0], G, NULL, 0, gd)
            _scratch_release(1, True)
        return total
    cdef double[::1] totals = np.zeros(8 * nt)  # a cache line apart
    cdef double* tot = &totals[0]
    cdef floating* ws = &workspace[0]
    cdef bint serial = _serial(nt)
    with nogil:
        if serial:
            for t in range(nt):
                tot[8 * t] = _data_pass_part(&net, &params[0], Xp, &Y[0, 0], swp, n, loss,
                                             ws + t * stride, G, ws + t * stride + goff, npar, t,
                                             nt, gd)
        else:
            for t in prange(nt, num_threads=nt, schedule='static', chunksize=1):
                tot[8 * t] = _data_pass_part(&net, &params[0], Xp, &Y[0, 0], swp, n, loss,
                                             ws + t * stride, G, ws + t * stride + goff, npar, t,
                                             nt, gd)
        for t in range(nt):
            total += tot[8 * t]
        if G != NULL:
            if serial:
                _add_parts(G, ws + goff, stride, nt, 0, npar)
            else:
                for t in prange(nt, num_threads=nt, schedule='static', chunksize=1):
                    _add_parts(G, ws + goff, stride, nt, t * npar // nt, (t + 1) * npar // nt)
        _scratch_release(nt, serial)
    return total


cdef double _data_pass_part(Net* net, const floating* P, const floating* X, const floating* Y,
                            const floating* sw, Py_ssize_t n, int loss, floating* ws,
                            floating* G, floating* Gt, Py_ssize_t npar, Py_ssize_t first,
                            Py_ssize_t step, const Data* gd=NULL) noexcept nogil:
    """_data_pass over chunks first, first + step, ... of the rows; the gradient sum
    (npar long) goes to Gt (zeroed first), or to G itself for thread 0 (already zeroed).
    With gd, the rows are its CSR rows (X unread)."""
    cdef Py_ssize_t start = first * net.bmax, b, nf = net.sizes[0], no = net.sizes[net.L]
    cdef double total = 0.0
    cdef floating* g = NULL
    cdef Data rows
    if gd != NULL:
        rows = gd[0]
    if G != NULL:
        if first == 0:
            g = G
        else:
            g = Gt
            memset(g, 0, npar * sizeof(floating))
    while start < n:
        b = min(net.bmax, n - start)
        if gd != NULL:
            rows.row0 = gd.row0 + start
        total += _data_pass(net, P, X + start * nf if X != NULL else NULL, Y + start * no,
                            sw + start if sw != NULL else NULL, b, loss, ws, g, NULL, 0,
                            &rows if gd != NULL else NULL)
        start += step * net.bmax
    return total


cdef void _add_parts(floating* G, const floating* first, Py_ssize_t stride, Py_ssize_t parts,
                     Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """G[lo:hi] += the gradient sums of threads 1 .. parts-1 (at first + t * stride), in
    thread order."""
    cdef Py_ssize_t t, k
    cdef const floating* g
    for t in range(1, parts):
        g = first + t * stride
        for k in range(lo, hi):
            G[k] += g[k]


def per_sample_gradients(const floating[::1] params, const Py_ssize_t[::1] sizes,
                         const int[::1] acts, int loss, const floating[:, ::1] X,
                         const floating[:, ::1] Y, floating[:, ::1] out,
                         floating[::1] workspace):
    """out[i] := dC_i/dW for every row i: the table of per-example gradients,
    one row per sample in the layout of params.  Returns the loss sum."""
    cdef Net net
    cdef Py_ssize_t n = X.shape[0], bmax
    cdef double total
    _check_sizes(sizes)
    _check_loss(loss, acts[acts.shape[0] - 1] if acts.shape[0] > 0 else -1)
    if Y.shape[0] != n or out.shape[0] != n:
        raise ValueError(f"X has {n} rows, Y has {Y.shape[0]}, out has {out.shape[0]}")
    if out.shape[1] != _n_params(sizes):
        raise ValueError(f"out has {out.shape[1]} columns, the network has {_n_params(sizes)} parameters")
    bmax = _rows_for(sizes, workspace.shape[0], False, False)
    _keep = _setup(&net, sizes, acts, params.shape[0], X.shape[1], Y.shape[1],
                   workspace.shape[0], bmax, False, False)
    if n == 0:
        return 0.0
    with nogil:
        total = _data_pass(&net, &params[0], &X[0, 0], &Y[0, 0], <const floating*> NULL, n, loss,
                           &workspace[0], <floating*> NULL, &out[0, 0], out.shape[1])
    return total


cdef Py_ssize_t _train_rows(Py_ssize_t n, Py_ssize_t batch_size, Py_ssize_t block_rows,
                            Py_ssize_t n_threads=1) noexcept:
    """Rows each thread's workspace holds: its part of a minibatch, or a block of it."""
    cdef Py_ssize_t rows = min(batch_size, n) if n > 0 else 1
    if n_threads > 1:
        rows = (rows + n_threads - 1) // n_threads
    if 0 < block_rows < rows:
        rows = block_rows
    return max(rows, 1)


cdef Py_ssize_t _thread_stride(Py_ssize_t size) noexcept:
    """One thread's workspace length, padded to whole 64-byte lines for float32 and float64
    (so that no two threads ever write into one cache line)."""
    return (size + 15) // 16 * 16


def train_workspace_size(const Py_ssize_t[::1] sizes, Py_ssize_t n_samples, Py_ssize_t batch_size,
                         int optimizer, Py_ssize_t block_rows=0, Py_ssize_t n_threads=1,
                         bint sparse_first=False):
    """Workspace length train_epoch needs for these settings.  sparse_first: CSR
    input that takes the sparse first layer (sparse_first_layer), which gathers no
    inputs: no buffer for them (at 2**20 hashed features, 1.6 GB a thread at batch
    200 in float64)."""
    if batch_size < 1 or n_samples < 0 or block_rows < 0:
        raise ValueError("batch_size must be >= 1, n_samples and block_rows >= 0")
    if optimizer < OPT_SGD or optimizer > OPT_SK_ADAM:
        raise ValueError(f"invalid optimizer id {optimizer}")
    _check_threads(n_threads)
    cdef Py_ssize_t rows = _train_rows(n_samples, batch_size, block_rows, n_threads)
    if n_threads == 1:
        return workspace_size(sizes, rows, True,
                              optimizer != OPT_SGD or rows < min(batch_size, n_samples),
                              not sparse_first)
    return n_threads * _thread_stride(workspace_size(sizes, rows, True, True, not sparse_first))


#: the most threads train_epoch splits a minibatch across
cdef enum:
    MAX_THREADS_C = 256
MAX_THREADS = MAX_THREADS_C


cdef void _train_part(Net* net, const floating* P, const Data* d, const Py_ssize_t* idx,
                      Py_ssize_t count, Py_ssize_t rows, int loss, int metric,
                      bint stop_nonfinite, floating* ws, floating* G, floating alpha,
                      floating wbeta, floating bbeta, bint update, double* out,
                      Pack* pk, PanelStep* ps=NULL, Compact* cp=NULL) noexcept nogil:
    """One thread's share of a minibatch: the rows idx[0:count], in blocks of up to
    rows rows, forward and backward, into G (see _backward; wbeta and bbeta apply
    to the first block, later blocks add to it).  out := [loss sum, correct count,
    status].  With ps (one block, one thread), the first layer's gradient goes to
    its panel steps instead (_first_layer_steps), and G holds the other layers';
    with cp (the thread's part in one block, CSR rows through the sparse first
    layer), to cp's compact gradient (_compact_gradient)."""
    cdef Py_ssize_t nf = net.sizes[0], no = net.sizes[net.L], s0 = 0, sb
    cdef floating* xb = ws + net.xoff
    cdef floating* yb = ws + net.yoff
    cdef floating* wb = ws + net.woff
    cdef floating* xn = NULL
    cdef floating* D
    cdef double bl, total = 0.0
    cdef Py_ssize_t correct = 0
    cdef nn_fpstate fp = nn_fp_flush_enter()
    out[2] = _STATUS_OK
    pk.ready = 0  # (the weights have changed since the last minibatch, not between its blocks)
    while s0 < count:
        sb = min(rows, count - s0)
        if ps != NULL and ps.xnext != NULL:  # (the previous step formed A_1 for these rows)
            xb = <floating*> ps.xnext
            ps.xnext = NULL
            _gather(d, idx + s0, sb, nf, no, NULL, yb, wb)
            _forward(net, P, xb, sb, ws, NULL, pk, 1)
        else:
            _gather(d, idx + s0, sb, nf, no, NULL, yb, wb)
            _forward(net, P, xb, sb, ws, NULL, pk, 0, d, idx + s0)
        bl = _output_delta(loss, net.acts[net.L - 1], ws + net.zoff, _A(net, ws, net.L), yb,
                           wb if d.SW != NULL else NULL, sb, no, ws + net.d0off)
        if not isfinite(bl):
            out[2] = _STATUS_NONFINITE
            if stop_nonfinite:
                break
        total += bl
        if metric != METRIC_NONE:
            correct += _count_correct(_A(net, ws, net.L), yb, sb, no, metric)
        if update and ps != NULL:
            D = _backward(net, <floating*> P, xb, sb, ws, G, alpha, wbeta, bbeta, NULL, 0, 1)
            xn = NULL
            if ps.xbuf != NULL and ps.next_count > 0:
                # (into whichever of the two buffers these rows are not in)
                xn = <floating*> ps.xbuf if xb == ws + net.xoff else ws + net.xoff
                # (dense X under the dense kernel: the first panel's product gathers the
                # rows as it reads them, see nn_dense_fwd_gather_d)
                ps.xsrc = d.X if ps.wt != NULL and _gather_in_product else NULL
                if ps.xsrc == NULL:
                    _gather(d, ps.next_idx, ps.next_count, nf, no, xn, NULL, NULL)
            _first_layer_steps(net, <floating*> P, xb, sb, ws, D, alpha, ps, xn,
                               ps.next_count)
            ps.xnext = xn
        elif update and cp != NULL:
            D = _backward(net, <floating*> P, xb, sb, ws, G, alpha, wbeta, bbeta, NULL, 0, 1)
            if floating is float:
                nn_colsum_f(D, sb, net.sizes[1], ws + net.soff)
            else:
                nn_colsum_d(D, sb, net.sizes[1], ws + net.soff)
            _compact_gradient(net, d, idx + s0, sb, D, ws + net.soff, alpha, cp)
        elif update:
            _backward(net, <floating*> P, xb, sb, ws, G, alpha, wbeta if s0 == 0 else 1,
                      bbeta if s0 == 0 else 1, NULL, 0, 0, d, idx + s0)
        s0 += sb
    nn_fp_flush_leave(fp)
    out[0] = total
    out[1] = <double> correct


# Minibatches of at most _SPLIT_MAX_ROWS rows split each layer's neurons across the
# threads (_split_step) instead of the rows (_train_part), where every hidden layer
# gives each thread at least _SPLIT_MIN_NEURONS neurons and _SPLIT_MIN_WORK
# multiply-adds; up to _SPLIT_WIDE_MAX_ROWS where it gives each _SPLIT_WIDE_NEURONS.
# Split by rows, a small minibatch leaves each thread a thin product, and every step
# adds up whole gradients across the threads: the more parameters and the fewer rows,
# the more that costs.  Split by neurons, the threads exchange only activations and
# deltas, and each one's weights, gradient and optimiser state stay in its own cache.
# Measured (2 threads against 1 thread with BLAS free, epochs alternating in one
# process, SGD unless named): 784-256-256-10 at batch 32 float32 1.40-1.63x (by
# rows 1.0-1.1x), float64 1.41-1.53x (1.16x), Adam float32 1.18-1.30x (1.14x); at
# 16 float32 1.18x (0.83x); at 64 float32 1.10x (0.92x), float64 1.18x (1.01x),
# Adam float32 1.51x (1.25x); at 128 float32 1.15x (1.07x), float64 1.06x (0.84x);
# 784-128-10 float64 at 32 1.51x (0.90x), at 128 1.43x (1.32x); 784-100-10 float64
# at 32 1.32x (1.03x); 784-30-10 float64 at 10 1.25x (0.70x), at 32 1.35x, at 48
# 1.47x.  By rows did better where the network is narrow and the minibatch not small:
# 784-30-10 at 64 rows (split 0.92x by rows'), 784-100-10 at 128 (0.98x), 64-32-10
# at 64 (0.83x against 1.76x; at 10, 0.94x against one thread).
cdef Py_ssize_t _SPLIT_MAX_ROWS = 48
cdef Py_ssize_t _SPLIT_MIN_NEURONS = 8
cdef Py_ssize_t _SPLIT_MIN_WORK = 100000
cdef Py_ssize_t _SPLIT_WIDE_MAX_ROWS = 128
cdef Py_ssize_t _SPLIT_WIDE_NEURONS = 64
cdef bint _split_direct = True


cdef inline Py_ssize_t _cut(Py_ssize_t n, Py_ssize_t t, Py_ssize_t nth) noexcept nogil:
    """Where thread t's share of n items starts (t = nth: n), on a multiple of 16
    where the shares are that large, so that each thread's columns start on a whole
    vector of either dtype."""
    cdef Py_ssize_t c
    if t <= 0:
        return 0
    if t >= nth:
        return n
    c = n * t // nth
    if n >= 16 * nth:
        c = (c + 8) // 16 * 16
    return min(c, n)


cdef bint _split_fits(const Py_ssize_t[::1] sizes, Py_ssize_t rows,
                      Py_ssize_t nt) noexcept:
    """Whether minibatches of rows rows on nt threads take _split_step."""
    cdef Py_ssize_t l, L = sizes.shape[0] - 1
    cdef bint wide = True
    if nt < 2 or L < 2 or rows > max(_SPLIT_MAX_ROWS, _SPLIT_WIDE_MAX_ROWS):
        return False
    for l in range(1, L):
        if sizes[l] < nt * _SPLIT_MIN_NEURONS \
                or rows * sizes[l - 1] * (sizes[l] // nt) < _SPLIT_MIN_WORK:
            return False
        wide = wide and sizes[l] >= nt * _SPLIT_WIDE_NEURONS
    return rows <= _SPLIT_MAX_ROWS or wide and rows <= _SPLIT_WIDE_MAX_ROWS


cdef Py_ssize_t _split_widest(const Net* net) noexcept nogil:
    """The widest layer's outputs (a delta buffer's row)."""
    cdef Py_ssize_t l, w = 0
    for l in range(1, net.L + 1):
        w = max(w, net.sizes[l])
    return w


cdef Py_ssize_t _split_extra(const Net* net, Py_ssize_t B) noexcept nogil:
    """Length of _split_step's extra buffer for minibatches of B rows."""
    cdef Py_ssize_t l, sums = 0
    for l in range(1, net.L + 1):
        sums += net.sizes[l]
    return B * _split_widest(net) + sums


cdef void _split_step(Net* net, floating* P, const Data* d, const Py_ssize_t* idx,
                      Py_ssize_t B, int loss, int metric, bint stop_nonfinite,
                      floating* ws, floating alpha, bint update, const OptConfig* h,
                      floating* S, Py_ssize_t npar, double step, double wd,
                      floating* extra, double* outs) noexcept nogil:
    """One minibatch (rows idx[0:B]) on the calling thread's share of a team: each
    thread takes a share of every hidden layer's neurons through the forward pass,
    their deltas and weight gradient, and their optimiser step, so that no gradient
    is ever added across threads and each thread's weights stay in its own cache;
    the output layer's forward pass and loss are split by rows.  Called by every
    thread of a parallel() block (barriers between the phases); the whole batch is
    laid out in one workspace (net), its gradient at net.goff; extra holds a third
    delta buffer (B rows of the widest layer's) and then each layer's column sums,
    one after another (see _split_extra).  outs[8 t:] :=
    [loss sum, correct count, status, sum W^2 of the thread's weights before the
    step (with h.alpha)]; with stop_nonfinite a non-finite loss skips the step.

    Plain SGD writes each layer's step straight into its weights (as train_epoch's
    direct does on one thread), once the barrier after the layer's delta for the
    layer below has passed: no thread reads them after it.  The deltas then rotate
    through three buffers, since a layer's is still read after the next one's is
    formed.  Measured (784-256-256-10, float32, batch 32, epochs alternating): the
    first layer's step in its product 1.12x faster than stepping after the whole
    gradient.  (For the other optimisers, products added into a gradient buffer
    that the step zeroes as it reads it, instead of overwriting it, measured level
    to 9% slower with Adam: not kept.)

    In a child forked after the parent ran threads, where OpenMP cannot start them,
    train_epoch splits the rows instead, serially: the same steps to rounding, not
    to the bit."""
    cdef Py_ssize_t t = threadid(), nth = nn_team_size(), L = net.L
    cdef Py_ssize_t nf = net.sizes[0], no = net.sizes[L]
    cdef Py_ssize_t l, i, j, n_in, n_out, ld, r0, r1, c0, c1, k0, k1, lo, hi
    cdef floating* xb = ws + net.xoff
    cdef floating* yb = ws + net.yoff
    cdef floating* wb = ws + net.woff
    cdef floating* G = ws + net.goff
    cdef floating* cs
    cdef floating* D = ws + net.d0off
    cdef floating* Dn
    cdef floating* bufs[3]
    cdef floating* z
    cdef floating* blk
    cdef const floating* a_in
    cdef double* out = outs + 8 * t
    cdef double total = 0.0, sq = 0.0
    cdef bint direct = h.kind == OPT_SGD and _split_direct
    cdef nn_fpstate fp = nn_fp_flush_enter()
    out[0] = out[1] = out[3] = 0.0
    out[2] = _STATUS_OK
    r0 = B * t // nth
    r1 = B * (t + 1) // nth
    if r1 > r0:
        _gather(d, idx + r0, r1 - r0, nf, no, xb + r0 * nf, yb + r0 * no,
                wb + r0 if d.SW != NULL else NULL)
    nn_barrier()
    a_in = xb
    for l in range(L - 1):  # the hidden layers, a share of the neurons each
        n_in = net.sizes[l]
        n_out = net.sizes[l + 1]
        z = _A(net, ws, l + 1)
        c0 = _cut(n_out, t, nth)
        c1 = _cut(n_out, t + 1, nth)
        if c1 > c0:
            _affine_blas(P + net.poff[l] + c0 * (n_in + 1), n_in, c1 - c0, a_in, B,
                         z + c0, n_out)
            for i in range(B):
                _activate(z + i * n_out + c0, 1, c1 - c0, net.acts[l])
        nn_barrier()
        a_in = z
    # the output layer (softmax needs whole rows) and the loss, a share of the rows each
    n_in = net.sizes[L - 1]
    z = ws + net.zoff
    if r1 > r0:
        _affine_blas(P + net.poff[L - 1], n_in, no, a_in + r0 * n_in, r1 - r0,
                     z + r0 * no, no)
        memcpy(_A(net, ws, L) + r0 * no, z + r0 * no, (r1 - r0) * no * sizeof(floating))
        _activate(_A(net, ws, L) + r0 * no, r1 - r0, no, net.acts[L - 1])
        out[0] = _output_delta(loss, net.acts[L - 1], z + r0 * no, _A(net, ws, L) + r0 * no,
                               yb + r0 * no, wb + r0 if d.SW != NULL else NULL, r1 - r0, no,
                               D + r0 * no)
        if metric != METRIC_NONE:
            out[1] = <double> _count_correct(_A(net, ws, L) + r0 * no, yb + r0 * no, r1 - r0,
                                             no, metric)
    nn_barrier()
    for i in range(nth):  # (every thread reads the same sums in the same order)
        total += outs[8 * i]
    if not isfinite(total):
        out[2] = _STATUS_NONFINITE
        if stop_nonfinite:
            update = False
    if not update:
        nn_fp_flush_leave(fp)
        return
    bufs[0], bufs[1], bufs[2] = D, ws + net.d1off, extra
    cs = extra + B * _split_widest(net)
    for l in range(L - 1, -1, -1):
        n_in = net.sizes[l]
        n_out = net.sizes[l + 1]
        ld = n_in + 1
        blk = P + net.poff[l]
        a_in = xb if l == 0 else _A(net, ws, l)
        Dn = bufs[(L - l) % 3]
        if l > 0:
            # the delta of this thread's neurons of the layer below, from every
            # neuron's of this one (where several gradients flow into one node they add)
            k0 = _cut(n_in, t, nth)
            k1 = _cut(n_in, t + 1, nth)
            if k1 > k0:
                _gemm(c'N', c'N', <int> (k1 - k0), <int> B, <int> n_out, <floating> 1.0,
                      blk + 1 + k0, <int> ld, D, <int> n_out, <floating> 0.0, Dn + k0,
                      <int> n_in)
                for i in range(B):
                    _mul_act_prime(Dn + i * n_in + k0, a_in + i * n_in + k0, k1 - k0,
                                   net.acts[l - 1])
            # (the layer below's delta whole, and this layer's weights read for the last time)
            nn_barrier()
        c0 = _cut(n_out, t, nth)
        c1 = _cut(n_out, t + 1, nth)
        if c1 > c0:
            for j in range(c0, c1):
                cs[j] = 0
            for i in range(B):
                for j in range(c0, c1):
                    cs[j] += D[i * n_out + j]
            lo, hi = 0, n_in
            if l == 0:
                _input_span(a_in, B, n_in, D, n_out, &lo, &hi)
            if direct:
                _weight_product(P + net.poff[l] + c0 * ld, n_in, c1 - c0, a_in, B, D + c0,
                                n_out, cs + c0, <floating> (-h.learning_rate * alpha),
                                <floating> (1.0 - h.learning_rate * wd), 1, lo, hi, NULL,
                                l > 0)
            else:
                _weight_product(G + net.poff[l] + c0 * ld, n_in, c1 - c0, a_in, B, D + c0,
                                n_out, cs + c0, alpha, 0, 0, lo, hi, NULL, l > 0)
        cs += n_out  # (each layer's sums apart: threads are at different layers here)
        D = Dn
    # every read of another thread's weights is behind the barriers: step this
    # thread's neurons (plain SGD has)
    for l in range(L if direct else 0, L):
        n_out = net.sizes[l + 1]
        ld = net.sizes[l] + 1
        c0 = _cut(n_out, t, nth)
        c1 = _cut(n_out, t + 1, nth)
        if c1 > c0:
            _optimizer_step(net, h, P, G, S, npar, step, wd, net.poff[l] + c0 * ld,
                            net.poff[l] + c1 * ld, &sq if h.alpha != 0.0 else NULL)
    out[3] = sq
    nn_fp_flush_leave(fp)


cdef double _sum_sq_weights(Net* net, const floating* P, Py_ssize_t lo,
                            Py_ssize_t hi) noexcept nogil:
    """sum W^2 over the weights (not the biases) among the elements lo..hi-1."""
    cdef Py_ssize_t l, j
    cdef Py_ssize_t r[4]
    cdef double s = 0.0
    for l in range(net.L):
        for j in range(net.sizes[l + 1]):
            if _neuron_ranges(net, l, j, lo, hi, r) and r[3] > r[2]:
                if floating is float:
                    s += nn_sumsq_f(P + r[2], r[3] - r[2])
                else:
                    s += nn_sumsq_d(P + r[2], r[3] - r[2])
    return s


cdef inline double _step_decay(const OptConfig* h, double bw) noexcept nogil:
    """The weight decay a step adds to the weights' gradient: the optimiser's own,
    and scikit-learn's alpha / bw (its L2 penalty over a minibatch of weight bw)."""
    return h.weight_decay + h.alpha / bw if h.alpha != 0.0 else h.weight_decay


cdef void _update_slice(Net* net, floating* P, floating* ws, Py_ssize_t stride,
                        Py_ssize_t parts, const OptConfig* h, double bw, floating* S,
                        Py_ssize_t n, double step, Py_ssize_t lo, Py_ssize_t hi,
                        double* sq, double vs=0.0, double rs=1.0) noexcept nogil:
    """Elements lo..hi-1: thread 0's gradient += every other part's, in part order
    (deterministic), then weight decay (and alpha / bw), then the optimiser step.
    With alpha, sq := sum W^2 of the slice's weights before the step.  vs > 0:
    momentum whose thread 0 added into the velocity S, scaled by vs (see
    _velocity_slice; rs folds the scale back)."""
    if vs > 0:
        _velocity_slice(net, P, ws, stride, parts, h, bw, S, vs, rs, lo, hi, sq)
        return
    cdef floating* g0 = ws + net.goff
    cdef double wd = _step_decay(h, bw)
    cdef nn_fpstate fp = nn_fp_flush_enter()
    _add_parts(g0, g0, stride, parts, lo, hi)
    if h.alpha != 0.0:  # (sq: summed by the update itself)
        sq[0] = 0.0
    _optimizer_step(net, h, P, g0, S, n, step, wd, lo, hi, sq if h.alpha != 0.0 else NULL,
                    True)
    nn_fp_flush_leave(fp)


cdef inline void _velocity_range(floating* P, floating* U, floating* Z, Py_ssize_t a,
                                 Py_ssize_t e, double cw, double cp, double cz,
                                 double rs) noexcept nogil:
    if e <= a:
        return
    if Z != NULL:
        if floating is float:
            nn_nesterov_z_f(P + a, U + a, Z + a, e - a, cw, cp, cz, rs)
        else:
            nn_nesterov_z_d(P + a, U + a, Z + a, e - a, cw, cp, cz, rs)
    elif floating is float:
        nn_velocity_f(P + a, U + a, e - a, cw, cp, rs)
    else:
        nn_velocity_d(P + a, U + a, e - a, cw, cp, rs)


cdef void _velocity_slice(Net* net, floating* P, floating* ws, Py_ssize_t stride,
                          Py_ssize_t parts, const OptConfig* h, double bw, floating* U,
                          double s, double rs, Py_ssize_t lo, Py_ssize_t hi,
                          double* sq) noexcept nogil:
    """Elements lo..hi-1 of a momentum step whose gradient thread 0 has added into
    the scaled velocity U (the velocity is s U, s the scale after this step; in
    scikit-learn's form the rate is in it): every other part's gradient is added
    too, in part order, then the L2 terms and the step (nn_velocity_*; nncore's
    Nesterov form nn_nesterov_z_*, its z in thread 0's free gradient buffer); rs = s
    folds the scale back into U.  With alpha, sq := sum W^2 of the slice's weights
    before the step."""
    cdef double wd = _step_decay(h, bw), cw, cp, cz = 0.0
    cdef bint own = h.kind == OPT_MOMENTUM or h.kind == OPT_NESTEROV
    cdef floating* Z = ws + net.goff if h.kind == OPT_NESTEROV else NULL
    cdef Py_ssize_t l, j
    cdef Py_ssize_t r[4]
    cdef nn_fpstate fp = nn_fp_flush_enter()
    _add_parts(U, ws + net.goff, stride, parts, lo, hi)
    if h.alpha != 0.0:
        sq[0] = _sum_sq_weights(net, P, lo, hi)
    # the L2 term joins the gradient: w += wd W (scikit-learn's: -r wd W), in units of s
    cw = (wd if own else -h.learning_rate * wd) / s
    cp = -h.learning_rate * s if own else s  # W := W - r v;  scikit-learn's W := W + v
    if Z != NULL:  # W := z - r (1 + mu) v;  z := z - r v
        cz = cp
        cp = cp * (1.0 + h.momentum)
    if wd == 0.0:
        _velocity_range(P, U, Z, lo, hi, 0.0, cp, cz, rs)
    else:
        for l in range(net.L):
            for j in range(net.sizes[l + 1]):
                if _neuron_ranges(net, l, j, lo, hi, r):
                    _velocity_range(P, U, Z, r[0], r[1], 0.0, cp, cz, rs)
                    _velocity_range(P, U, Z, r[2], r[3], cw, cp, cz, rs)
    nn_fp_flush_leave(fp)


#: the scaled velocity's scale is folded back into it once it falls below this
#: (mu^k: every 132 steps at mu = 0.9; or grows past its inverse), far from the
#: ends of float32's range
cdef double _VELOCITY_RESCALE = 2.0 ** -20


ctypedef struct EpochConfig:
    # How one epoch runs (a Python dict with these keys converts to it).
    Py_ssize_t batch_size
    int shuffle             # SHUFFLE_NONE, SHUFFLE_RNG or SHUFFLE_GIVEN
    int metric              # METRIC_NONE, METRIC_ARGMAX or METRIC_BINARY
    Py_ssize_t block_rows   # 0: whole minibatches (see train_epoch)
    Py_ssize_t n_threads
    int stop_nonfinite      # end the epoch at the first NaN or infinite minibatch loss


def train_epoch(floating[::1] params, const Py_ssize_t[::1] sizes, const int[::1] acts,
                int loss, const floating[:, ::1] X, const floating[:, ::1] Y,
                const floating[::1] sample_weight, Py_ssize_t[::1] order, uint64_t[::1] rng,
                OptConfig opt, floating[::1] opt_state, uint64_t[::1] step,
                floating[::1] workspace, EpochConfig epoch,
                const floating[::1] X_data=None, const Py_ssize_t[::1] X_indices=None,
                const Py_ssize_t[::1] X_indptr=None):
    """One epoch of minibatch training, entirely without the GIL.

    The rows are visited in order (epoch.shuffle SHUFFLE_NONE), in a
    Fisher-Yates permutation drawn from the SplitMix64 state rng[0] (SHUFFLE_RNG),
    or in the caller's order (SHUFFLE_GIVEN: every entry must lie in [0, n));
    order holds the permutation used.  Each minibatch of epoch.batch_size rows (the
    last may be shorter) is gathered into the workspace, forwarded,
    backpropagated and the optimiser opt applied (its state in opt_state, its step
    count in step[0], both carried on from call to call).

    X is a dense matrix, or None with the rows in CSR form (X_data, X_indices,
    X_indptr): each minibatch's rows are scattered into a dense buffer, or, where
    sparse_first_layer says so, the first layer's products read the nonzeros
    themselves (_csr_affine, _csr_weight_rows).  X dense and its nonzeros (see
    nonzeros) both given: the nonzeros where that rule holds, but the dense
    product where a weight or delta is not finite, as X alone gives.

    epoch.block_rows > 0 splits each larger minibatch into blocks of that many
    rows whose gradients add up in the workspace before the minibatch's one
    update: the same step, but each block's gathered inputs stay in cache from its
    forward pass to its weight gradient.

    epoch.n_threads > 1 splits every minibatch into that many consecutive parts,
    one per thread (OpenMP), each in its own slice of the workspace with its own
    gradient buffer; the parts' gradients are added in a fixed order before the
    one update, so results do not depend on scheduling.  The workspace length
    comes from train_workspace_size with the same settings.

    Returns (weighted loss sum, weight sum, correct count, status, batch-loss
    sum).  The batch-loss sum is scikit-learn's accounting: sum over minibatches
    of (rows) x (the minibatch's weighted mean loss + 0.5 alpha |W|^2 / its weight),
    |W| measured before its update.  status is STATUS_NONFINITE when a
    minibatch's loss was NaN or infinite; with epoch.stop_nonfinite the epoch
    stopped there (the caller restores its snapshot), otherwise it went on.
    """
    cdef Net net
    cdef Py_ssize_t n = Y.shape[0], start, b, i, t, parts, base, extra, stride, pn = 0
    cdef Py_ssize_t npar = params.shape[0], nt = epoch.n_threads, correct = 0, need_state, rows
    cdef Py_ssize_t nf = sizes[0] if sizes.shape[0] > 0 else 0
    cdef double total = 0.0, wsum = 0.0, batch_total = 0.0, bw, lr, wd, bl, sq
    cdef int status = _STATUS_OK
    cdef bint direct, vfused, rescale, blocked, panel, split, has_w = sample_weight is not None
    cdef bint f64 = floating is double, dense_ahead
    cdef Py_ssize_t lanes
    cdef bint sparse = X_data is not None or X is None, sparse_first, compact
    cdef bint both = sparse and X is not None
    cdef double vscale = 1.0, vnext = 1.0, vs, rs
    cdef Py_ssize_t batch_size = epoch.batch_size
    _check_sizes(sizes)
    _check_loss(loss, acts[acts.shape[0] - 1] if acts.shape[0] > 0 else -1)
    _check_optimizer(&opt)
    if rng.shape[0] != 1 or step.shape[0] != 1:
        raise ValueError("rng and step must hold one counter each")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if epoch.block_rows < 0:
        raise ValueError("block_rows must be >= 0")
    if epoch.shuffle < _SHUFFLE_NONE or epoch.shuffle > _SHUFFLE_GIVEN:
        raise ValueError(f"invalid shuffle mode {epoch.shuffle}")
    if epoch.metric < METRIC_NONE or epoch.metric > METRIC_BINARY:
        raise ValueError(f"invalid metric id {epoch.metric}")
    _check_threads(nt)
    if sparse:
        _check_csr(X_data, X_indices, X_indptr, n, nf)
    elif X_indices is not None or X_indptr is not None:
        raise ValueError("X in CSR form needs X_data, X_indices and X_indptr")
    if X is not None and X.shape[0] != n:
        raise ValueError(f"X has {X.shape[0]} rows, Y has {n}")
    if order.shape[0] != n:
        raise ValueError(f"Y has {n} rows, order has {order.shape[0]}")
    if epoch.shuffle == _SHUFFLE_GIVEN:
        for i in range(n):
            if order[i] < 0 or order[i] >= n:
                raise ValueError(f"order[{i}] = {order[i]} is not a row index in [0, {n})")
    if has_w and sample_weight.shape[0] != n:
        raise ValueError(f"sample_weight has {sample_weight.shape[0]} entries, X has {n} rows")
    need_state = _state_vectors(opt.kind) * npar
    if opt_state is None and need_state > 0 or opt_state is not None and opt_state.shape[0] < need_state:
        raise ValueError(f"optimizer state must have length {need_state}")
    rows = _train_rows(n, batch_size, epoch.block_rows, nt)
    blocked = n > 0 and rows < min(batch_size, n)
    # Small minibatches of wide networks split the neurons across the threads
    # instead of the rows (_split_step), all of the minibatch in one workspace.
    split = n > 0 and X is not None and not (_omp_serial or not NN_OPENMP) \
        and _split_fits(sizes, min(batch_size, n), nt) \
        and workspace_size(sizes, min(batch_size, n), True, True) <= workspace.shape[0]
    lr = opt.learning_rate
    wd = opt.weight_decay
    # Plain SGD on whole minibatches on one thread needs no gradient buffer: the
    # GEMMs write -r/B * grad straight into the parameters (beta = 1 - r wd is the
    # decay).  Otherwise each thread's gradient goes to its own buffer, and the
    # buffers are added up, decayed and applied once per minibatch.
    direct = opt.kind == OPT_SGD and not blocked and nt == 1
    # Momentum adds thread 0's gradient straight into its velocity, held scaled (see
    # _velocity_slice): the update then passes over two vectors, which stay in cache.
    # On one thread, over whole minibatches, the first layer's step is taken panel by
    # panel as its gradient is formed instead (_first_layer_steps), where that layer
    # is large enough to matter, and each panel's new weights give the next
    # minibatch's first-layer outputs while they are in cache (the look-ahead): the
    # weights are read once a step instead of twice and never packed whole by BLAS,
    # and an optimiser that keeps the gradient apart from its state never holds the
    # whole of it.  SGD's products then write the panels' weights themselves, and
    # momentum's add into its scaled velocity, each panel stepped at once
    # (_velocity_slice; 784-100-10 float64 at batch 32: 1.12-1.18x the new SGD's
    # epoch, 1.20-1.22x with the panel's gradient apart as Adam's).
    # Measured (in-process A/B, 784-100-10, 1 thread, epoch time / SGD's epoch
    # without panels): float64 at batch 32, SGD 0.80-0.81x, momentum 1.10 -> 0.96,
    # Nesterov 1.18 -> 0.97-1.01, Adam 1.34 -> 1.14-1.19; batch 16 SGD 0.78, Adam
    # 1.52 -> 1.30; batch 48 SGD 0.84, momentum 1.10 -> 0.99; float32 at batch 32 SGD
    # 0.87-0.89, momentum 1.06 -> 0.97, Nesterov 1.03 -> 0.96, Adam 1.15 -> 1.10;
    # 784-256-256-10 at batch 32 Adam 1.43 -> 1.27, float32 1.36 -> 1.26.  SGD and
    # momentum, whose updates are fused into the products otherwise, take panels
    # up to 48 rows (at 64: SGD 1.00-1.05, momentum 1.05 -> 1.11), momentum from 16
    # (at 10: SGD 0.93, momentum 1.22 -> 1.26).  Elsewhere nncore's Nesterov form
    # adds into its velocity as momentum does: its step needs the gradient apart from
    # the velocity, which it then no longer has, so it carries z = W + r mu v in
    # thread 0's free gradient buffer (see nn_nesterov_z_*): one pass that loads
    # three vectors and stores two, against the buffer's three and three.
    # (scikit-learn's form keeps the buffer: the drop-in takes scikit-learn's steps
    # to rounding, and z rounds differently.)
    # The panels are as wide as OpenBLAS multiplies without packing its operands
    # (its small-matrix kernels, at most 100^3 multiply-adds a product), at most
    # _PANEL_NEURONS: measured before the look-ahead, 784-100-10 float64 at batch
    # 32, Nesterov's epoch 1.20 -> 1.13-1.15x SGD's with panels of 20-32 neurons,
    # 1.25 with 40 (packed); at batch 64 1.17 -> 1.09 with 19, 1.24 with 24
    # (packed); at batch 100 (12 neurons: too few to take) panels were level, at
    # 128 slower (1.08 against 1.17-1.31 with 8-32 neurons).  The look-ahead's
    # products are the dense kernel's from 32 rows where the processor has it, in
    # panels of whole tiles of it (float64 at batch 32, Adam 1.21-1.25x with panels
    # of 32 neurons, 1.12-1.16x with 24); BLAS's small-matrix kernels below (batch
    # 16: Adam 1.29 against the dense kernel's 1.34; at 10 level with none), not
    # above (batch 32: 1.16-1.33; batch 64: 1.41, slower than none).
    dense_ahead = _lookahead and nn_dense_available() \
        and min(batch_size, n) >= _LOOKAHEAD_DENSE_ROWS
    lanes = 8 if f64 else 16
    if n > 0 and nf > 0:
        pn = min(_PANEL_NEURONS, sizes[1],
                 <Py_ssize_t> (_PANEL_MAX_MNK / (nf * min(batch_size, n))))
        if dense_ahead and pn >= lanes and pn < sizes[1]:
            pn -= pn % (3 * lanes) if pn >= 3 * lanes else pn % lanes
        elif pn > 8 and pn < sizes[1]:
            # (whole vectors: BLAS's small-matrix kernels took 19 neurons of 784
            # inputs over 64 rows at 31 GFLOP/s, 16, 24 or 32 at 48-54)
            pn -= pn % 8
    # wide sparse input: the first layer's products from the nonzeros (no panels: they
    # are BLAS's or the dense kernel's products over gathered rows).  Adam's steps
    # taken a panel of 8 or 16 neurons at a time, each panel's gradient from the
    # nonzeros into the scratch buffer, so that the layer's whole gradient is never
    # written, read back and zeroed, measured level (drop-in fits, 3 epochs, seven
    # alternating: 5,000 x 20,000 at 0.5% 0.94-1.00x float64, 1.01x float32; 3,000 x
    # 50,000 at 0.2% 0.97x): not kept.
    sparse_first = sparse and not split \
        and _csr_first(X_indptr[n] - X_indptr[0], n, nf, sizes[1], f64)
    panel = nt == 1 and not blocked and pn > 0 and not sparse_first \
        and pn >= min(_PANEL_MIN_NEURONS, _PANEL_NEURONS, sizes[1]) \
        and (opt.kind == OPT_NESTEROV or opt.kind == OPT_SK_NESTEROV
             or opt.kind == OPT_ADAM or opt.kind == OPT_SK_ADAM
             or direct and min(batch_size, n) <= _PANEL_FUSED_MAX_ROWS
             or (opt.kind == OPT_MOMENTUM or opt.kind == OPT_SK_MOMENTUM)
             and _PANEL_MOMENTUM_MIN_ROWS <= min(batch_size, n) <= _PANEL_FUSED_MAX_ROWS) \
        and (nf + 1) * sizes[1] * sizeof(floating) >= _PANEL_MIN_BYTES
    vfused = (opt.kind == OPT_MOMENTUM or opt.kind == OPT_SK_MOMENTUM
              or opt.kind == OPT_NESTEROV and not panel) and opt.momentum > 0 and not split
    # Very wide sparse input (hashed features, say): each minibatch touches few of
    # the first layer's columns, whose gradient is then formed for those columns
    # alone, and the optimiser's step rebuilds each weight row's gradient in cache
    # (_compact_gradient, _compact_steps) instead of passing over a whole-layer
    # gradient buffer, written, read and zeroed every step.  Optimisers whose
    # gradient is fused into the weights or the velocity keep their own way.
    # On several threads each forms its part's, and all share the step, a share of
    # the neurons each.
    compact = sparse_first and not both and rows == _train_rows(n, batch_size, 0, nt) \
        and not direct \
        and not vfused and _compact_first(X_indptr[n] - X_indptr[0], n, batch_size, nf)
    # Thread 0's products add into its gradient buffer (beta = 1), which the update
    # zeroes as it reads it (u.zero_g): BLAS's own zeroing (beta = 0) is a separate
    # pass over memory the previous update has pushed out of cache.  Other threads'
    # buffers start each minibatch with beta = 0.
    _keep = _setup(&net, sizes, acts, npar, nf if X is None else X.shape[1], Y.shape[1],
                   workspace.shape[0], rows, True, not direct, not sparse_first or both)
    stride = _thread_stride(net.size)  # thread t's slice starts at t * stride
    cdef Net snet
    if split:
        _skeep = _setup(&snet, sizes, acts, npar, X.shape[1], Y.shape[1], workspace.shape[0],
                        min(batch_size, n), True, True)
    if nt > 1 and workspace.shape[0] < nt * stride:
        raise ValueError(f"workspace has length {workspace.shape[0]}, needs {nt * stride}")
    if n == 0:
        return 0.0, 0.0, 0, STATUS_OK, 0.0
    cdef Data data
    data.X = NULL if X is None else &X[0, 0]
    data.Xdata = &X_data[0] if sparse and X_data.shape[0] > 0 else NULL
    data.Xind = &X_indices[0] if sparse and X_indices.shape[0] > 0 else NULL
    data.Xptr = &X_indptr[0] if sparse else NULL
    data.Y = &Y[0, 0]
    data.SW = &sample_weight[0] if has_w else NULL
    data.sparse_first = sparse_first
    data.row0 = 0
    cdef const floating* SWp = &sample_weight[0] if has_w else NULL
    cdef floating* ws = &workspace[0]
    cdef floating* P = &params[0]
    cdef uint64_t* rng_state = &rng[0]
    cdef uint64_t* steps = &step[0]
    cdef Py_ssize_t* idx = &order[0]
    cdef floating* S = &opt_state[0] if need_state > 0 else NULL
    cdef floating alpha, wbeta = 0, bbeta = 0
    cdef double[::1] outs = np.zeros(8 * nt)  # a cache line a thread
    cdef double* out = &outs[0]
    cdef bint serial = _serial(nt), stop = epoch.stop_nonfinite != 0
    cdef int metric = epoch.metric
    if direct:
        wbeta = <floating> (1.0 - lr * wd)
        bbeta = 1
    cdef bint own_form = opt.kind == OPT_MOMENTUM or opt.kind == OPT_NESTEROV
    cdef floating zc = <floating> (lr * opt.momentum)
    cdef Pack packs[MAX_THREADS_C]
    cdef PanelStep ps
    cdef PanelStep* psp = NULL
    cdef void* scratch_raw = NULL
    cdef Py_ssize_t rest_lo = 0  # (the update after a minibatch starts here)
    cdef Compact cmps[MAX_THREADS_C]
    cdef Compact* cpp = NULL
    cdef Py_ssize_t ready, groups
    cdef Py_ssize_t most_nnz, bnnz
    if panel:
        ps.h = &opt
        ps.S = S
        ps.n = npar
        ps.neurons = pn
        ps.want_sq = opt.alpha != 0.0
        ps.direct = direct
        ps.wbeta = 1.0 - lr * wd
        ps.vfused = vfused
        ps.flip = False
        # one buffer for a panel's gradient and then its pack (see _first_layer_steps),
        # 64-byte aligned for the pack
        scratch_raw = malloc(max(pn, nn_dense_np_d(pn) if f64 else nn_dense_np_f(pn))
                             * (nf + 1) * sizeof(floating) + 64)
        ps.scratch = NULL if scratch_raw == NULL \
            else <void*> ((<size_t> scratch_raw + 63) & ~(<size_t> 63))
        ps.xbuf = NULL
        ps.xnext = NULL
        ps.wt = NULL
        ps.next_count = 0
        ps.xsrc = NULL
        ps.il.lists = NULL
        ps.il.counts = NULL
        ps.il.formed = False
        if ps.scratch == NULL:
            raise MemoryError()
        psp = &ps
        rest_lo = net.poff[1] if net.L > 1 else npar
    cdef floating* split_buf = NULL
    if split:
        split_buf = <floating*> malloc(_split_extra(&snet, min(batch_size, n)) * sizeof(floating))
        if split_buf == NULL:
            raise MemoryError()
    with nogil:
        for t in range(nt):
            # (none for the split, whose products are BLAS's: 0 rows)
            _pack_init(&packs[t], &net, floating is double, 0 if split else n)
            packs[t].one_product = True
        # (without the memory for the look-ahead's buffers, the epoch goes without it)
        if panel and _lookahead and net.L > 1 \
                and (dense_ahead or min(batch_size, n) <= _LOOKAHEAD_DENSE_ROWS):
            ps.xbuf = malloc(min(batch_size, n) * nf * sizeof(floating))
            if ps.xbuf != NULL and dense_ahead:
                ps.wt = ps.scratch
                # (without their memory, the products pass over no inputs)
                groups = min(batch_size, n) // 8
                ps.il.counts = <Py_ssize_t*> malloc(groups * sizeof(Py_ssize_t))
                ps.il.lists = <int32_t*> malloc(groups * (nf + 16) * sizeof(int32_t))
                if ps.il.counts == NULL:
                    free(ps.il.lists)
                    ps.il.lists = NULL
        if epoch.shuffle == _SHUFFLE_RNG:
            _shuffle(idx, n, rng_state)
        elif epoch.shuffle == _SHUFFLE_NONE:
            for i in range(n):
                idx[i] = i
        if compact:
            # (buffers for the epoch's fullest minibatch; without the memory, the
            # epoch goes the whole layer's way)
            most_nnz = 0
            start = 0
            while start < n:
                bnnz = 0
                for i in range(start, min(start + batch_size, n)):
                    bnnz = bnnz + X_indptr[idx[i] + 1] - X_indptr[idx[i]]
                most_nnz = max(most_nnz, bnnz)
                start += batch_size
            ready = 0
            while ready < nt and _compact_init(&cmps[ready], nf, sizes[1], most_nnz,
                                               min(batch_size, n), sizeof(floating)):
                ready += 1
            if ready == nt:
                cpp = &cmps[0]
                rest_lo = net.poff[1] if net.L > 1 else npar
            else:
                for t in range(ready):
                    _compact_free(&cmps[t])
        if not direct and not vfused and not split:
            # (the compact path never reads the first layer's part)
            memset(ws + net.goff + rest_lo, 0, (npar - rest_lo) * sizeof(floating))
        elif vfused and opt.kind == OPT_NESTEROV:
            for i in range(npar):  # z = W + r mu v (the state holds v itself here)
                ws[net.goff + i] = P[i] + zc * S[i]
        start = 0
        while start < n:
            b = min(batch_size, n - start)
            bw = b
            if has_w:
                bw = 0.0
                for i in range(b):
                    bw += SWp[idx[start + i]]
            # the first b % nt parts take one row more; with b < nt the last parts are empty
            base = b // nt
            extra = b % nt
            parts = min(nt, b)
            alpha = 0
            if bw > 0:
                alpha = <floating> (-lr / bw) if direct else <floating> (1.0 / bw)
                if vfused:  # (the velocity's scale after this step)
                    vnext = vscale * opt.momentum
                    alpha = <floating> ((1.0 if own_form else -lr) / bw / vnext)
                # the update's scale and fold of the velocity (vs 0: not scaled)
                rescale = vfused and (vnext < _VELOCITY_RESCALE
                                      or vnext * _VELOCITY_RESCALE > 1)
                vs = vnext if vfused else 0.0
                rs = vnext if rescale else 1.0
            if panel and bw > 0:
                ps.t = <double> (steps[0] + 1)
                ps.wd = _step_decay(&opt, bw)
                ps.sq = 0.0
                ps.bw = bw
                ps.vs = vs
                ps.rs = rs
            if panel:
                ps.next_idx = idx + start + b
                ps.next_count = min(batch_size, n - start - b)
            if split:
                for t in range(8 * nt):  # (a thread the runtime did not start writes none)
                    out[t] = 0.0
                with parallel(num_threads=nt):
                    _split_step(&snet, P, &data, idx + start, b, loss, metric, stop, ws,
                                alpha, bw > 0, &opt, S, npar, <double> (steps[0] + 1),
                                _step_decay(&opt, bw) if bw > 0 else 0.0, split_buf, out)
                parts = nt
            elif serial:
                for t in range(nt):
                    _train_part(&net, P, &data, idx + start + t * base + min(t, extra),
                                base + (t < extra), rows, loss, metric, stop, ws + t * stride,
                                P if direct else (S if vfused and t == 0
                                                  else ws + t * stride + net.goff),
                                alpha, 1 if t == 0 and not direct else wbeta,
                                1 if t == 0 and not direct else bbeta, bw > 0, out + 8 * t,
                                &packs[t], psp, cpp + t if cpp != NULL else NULL)
            else:
                for t in prange(nt, num_threads=nt, schedule='static', chunksize=1):
                    _train_part(&net, P, &data, idx + start + t * base + min(t, extra),
                                base + (t < extra), rows, loss, metric, stop, ws + t * stride,
                                S if vfused and t == 0 else ws + t * stride + net.goff, alpha,
                                1 if t == 0 else wbeta, 1 if t == 0 else bbeta, bw > 0,
                                out + 8 * t, &packs[t], NULL, cpp + t if cpp != NULL else NULL)
            for t in range(parts):
                if out[8 * t + 2] != _STATUS_OK:
                    status = _STATUS_NONFINITE
            if status != _STATUS_OK and stop:
                break
            bl = 0.0
            for t in range(parts):
                bl += out[8 * t]
                correct += <Py_ssize_t> out[8 * t + 1]
            total += bl
            wsum += bw
            sq = 0.0
            if bw > 0:
                steps[0] += 1
                # each thread adds up, decays and updates its own slice of the vector
                if cpp != NULL:  # (the first layer's step; the other layers' below)
                    if serial:
                        for t in range(nt):
                            _compact_steps(&net, &opt, P, S, npar, <double> steps[0], bw, cpp,
                                           parts, t, nt,
                                           out + 8 * t + 4 if opt.alpha != 0.0 else NULL)
                    else:
                        for t in prange(nt, num_threads=nt, schedule='static', chunksize=1):
                            _compact_steps(&net, &opt, P, S, npar, <double> steps[0], bw, cpp,
                                           parts, t, nt,
                                           out + 8 * t + 4 if opt.alpha != 0.0 else NULL)
                    for t in range(nt):
                        sq = sq + out[8 * t + 4]
                if split:  # (each thread has stepped its own neurons)
                    for t in range(nt):
                        sq = sq + out[8 * t + 3]
                elif serial and not direct:
                    _update_slice(&net, P, ws, stride, parts, &opt, bw, S, npar,
                                  <double> steps[0], rest_lo, npar, out + 3, vs, rs)
                    sq = sq + out[3] + (ps.sq if panel else 0.0)
                elif not direct:
                    for t in prange(nt, num_threads=nt, schedule='static', chunksize=1):
                        _update_slice(&net, P, ws, stride, parts, &opt, bw, S, npar,
                                      <double> steps[0], rest_lo + t * (npar - rest_lo) // nt,
                                      rest_lo + (t + 1) * (npar - rest_lo) // nt,
                                      out + 8 * t + 3, vs, rs)
                    for t in range(nt):
                        sq = sq + out[8 * t + 3]
                if vfused:
                    vscale = 1.0 if rescale else vnext
            # (a minibatch of weight 0 gives NaN here, as scikit-learn's 0 / 0)
            batch_total += b * ((bl + 0.5 * opt.alpha * sq) / bw)
            start += b
        if vscale != 1.0:  # the state holds the velocity itself between calls
            for i in range(npar):
                S[i] = <floating> (S[i] * vscale)
        for t in range(nt):
            _pack_free(&packs[t])
        if cpp != NULL:
            for t in range(nt):
                _compact_free(&cmps[t])
        _scratch_release(nt, serial)
    free(split_buf)
    if panel:
        free(scratch_raw)
        free(ps.xbuf)
        free(ps.il.lists)
        free(ps.il.counts)
    return total, wsum, correct, status, batch_total


cdef void _check_csr(const floating[::1] data, const Py_ssize_t[::1] indices,
                     const Py_ssize_t[::1] indptr, Py_ssize_t n, Py_ssize_t nf) except *:
    """Every index the gather will follow lies inside its array."""
    cdef Py_ssize_t i, p
    if data is None or indices is None or indptr is None:
        raise ValueError("X in CSR form needs X_data, X_indices and X_indptr")
    if indptr.shape[0] != n + 1:
        raise ValueError(f"X_indptr has {indptr.shape[0]} entries, {n} rows need {n + 1}")
    if indices.shape[0] != data.shape[0]:
        raise ValueError(f"X_indices has {indices.shape[0]} entries, X_data {data.shape[0]}")
    if indptr[0] < 0 or indptr[n] > data.shape[0]:
        raise ValueError("X_indptr points outside X_data")
    for i in range(n):
        if indptr[i + 1] < indptr[i]:
            raise ValueError(f"X_indptr decreases at row {i}")
    for p in range(indptr[0], indptr[n]):
        if indices[p] < 0 or indices[p] >= nf:
            raise ValueError(f"X_indices[{p}] = {indices[p]} is not a column in [0, {nf})")


cdef void _csr_data(Data* d, const floating[::1] data, const Py_ssize_t[::1] indices,
                    const Py_ssize_t[::1] indptr) noexcept:
    """d := checked CSR rows (_check_csr) for the sparse first layer, row0 0."""
    d.X = NULL
    d.Xdata = &data[0] if data.shape[0] > 0 else NULL
    d.Xind = &indices[0] if indices.shape[0] > 0 else NULL
    d.Xptr = &indptr[0]
    d.Y = NULL
    d.SW = NULL
    d.sparse_first = True
    d.row0 = 0


cdef Py_ssize_t _csr_first_nonfinite_row(const floating[::1] data,
                                         const Py_ssize_t[::1] indptr, Py_ssize_t n):
    """The first of the n CSR rows holding NaN or +-inf, else -1."""
    cdef Py_ssize_t i, p
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            if not isfinite(data[p]):
                return i
    return -1


def sparse_first_layer(Py_ssize_t nnz, Py_ssize_t n_rows, Py_ssize_t n_in,
                       Py_ssize_t n_out=0, bint f64=True):
    """Whether CSR input of n_rows rows, n_in columns and nnz stored values takes the
    sparse first layer of n_out neurons (0: not known), float64 or float32
    (train_epoch decides so itself; forward and loss_gradient are given CSR rows
    only where this holds, dense blocks of rows elsewhere).  Below the threshold
    the products over the nonzeros take less time than the dense products over the
    gathered rows (see _CSR_FIRST_MAX_DENSITY)."""
    if nnz < 0 or n_rows < 0 or n_in < 1 or n_out < 0:
        raise ValueError(f"need nnz >= 0, n_rows >= 0, n_in >= 1 and n_out >= 0, got {nnz}, "
                         f"{n_rows}, {n_in}, {n_out}")
    return bool(_csr_first(nnz, n_rows, n_in, n_out, f64))


def nonzeros(const floating[:, ::1] X, Py_ssize_t n_out):
    """The nonzeros of dense X in CSR form, (data, indices, indptr) with intp indices,
    where there are few enough of them for a sparse first layer of n_out neurons
    (sparse_first_layer), else None.  train_epoch and loss_gradient take them
    beside X itself: images with blank margins and strokes (MNIST's 19% of
    nonzeros), one-hot columns.  The count stops once the rule fails, so that
    dense input costs a part of one read."""
    cdef Py_ssize_t n = X.shape[0], m = X.shape[1], i, k, p = 0, nnz = 0
    cdef bint f64 = floating is double
    if n_out < 1:
        raise ValueError(f"n_out must be >= 1, got {n_out}")
    if n == 0 or m == 0:
        return None
    indptr_a = np.empty(n + 1, dtype=np.intp)
    cdef Py_ssize_t[::1] indptr = indptr_a
    cdef bint fits = True
    with nogil:
        indptr[0] = 0
        for i in range(n):
            for k in range(m):
                nnz += X[i, k] != 0  # (NaN is not zero)
            indptr[i + 1] = nnz
            if not _csr_first(nnz, n, m, n_out, f64):  # (more than the rule allows for X)
                fits = False
                break
    if not fits:  # (the last row's check was the rule for all of X)
        return None
    data_a = np.empty(nnz, dtype=np.float64 if floating is double else np.float32)
    indices_a = np.empty(nnz, dtype=np.intp)
    cdef floating[::1] data = data_a
    cdef Py_ssize_t[::1] indices = indices_a
    with nogil:
        for i in range(n):
            for k in range(m):
                if X[i, k] != 0:
                    data[p] = X[i, k]
                    indices[p] = k
                    p += 1
    return data_a, indices_a, indptr_a


def _sparse_first_density(max_density=None):
    """The most nonzeros, as a share of the values, that take the sparse first layer,
    (direct loops, tile loops, row loops); a number sets all three (tests force
    either way: inf always, -1 never).  Returns the settings before."""
    global _CSR_FIRST_MAX_DENSITY, _CSR_FIRST_MAX_DENSITY_TILED, _CSR_FIRST_MAX_DENSITY_ROWS
    before = (_CSR_FIRST_MAX_DENSITY, _CSR_FIRST_MAX_DENSITY_TILED, _CSR_FIRST_MAX_DENSITY_ROWS)
    if max_density is not None:
        if isinstance(max_density, tuple):
            (_CSR_FIRST_MAX_DENSITY, _CSR_FIRST_MAX_DENSITY_TILED,
             _CSR_FIRST_MAX_DENSITY_ROWS) = map(float, max_density)
        else:
            _CSR_FIRST_MAX_DENSITY = _CSR_FIRST_MAX_DENSITY_TILED = float(max_density)
            _CSR_FIRST_MAX_DENSITY_ROWS = float(max_density)
    return before


cdef inline int _any_nonfinite(const floating* x, Py_ssize_t n) noexcept nogil:
    if floating is float:
        return nn_any_nonfinite_f(x, n)
    else:
        return nn_any_nonfinite_d(x, n)


cdef Py_ssize_t _first_nonfinite(const floating* A, Py_ssize_t cols, Py_ssize_t lo,
                                 Py_ssize_t hi) noexcept nogil:
    """The first of rows lo..hi-1 holding NaN or +-inf, or -1; a block of rows
    (about 64 kB) at a time, row by row only inside a block that has one."""
    cdef Py_ssize_t blk = max(1, 8192 // cols), r = lo, e, i
    while r < hi:
        e = min(hi, r + blk)
        if _any_nonfinite(A + r * cols, (e - r) * cols):
            for i in range(r, e):
                if _any_nonfinite(A + i * cols, cols):
                    return i
        r = e
    return -1


def first_nonfinite_row(const floating[:, ::1] A, Py_ssize_t n_threads=1):
    """Index of the first row of A holding NaN or +-inf, or -1 when every value is
    finite.  n_threads > 1 scans that many consecutive slices of the rows at once
    (reading memory from several cores); the answer does not depend on it."""
    _check_threads(n_threads)
    cdef Py_ssize_t n = A.shape[0], cols = A.shape[1], t, best = -1
    if n == 0 or cols == 0:
        return -1
    n_threads = min(n_threads, n)
    cdef Py_ssize_t[::1] found = np.empty(n_threads * 8, dtype=np.intp)  # a line apart
    cdef const floating* p = &A[0, 0]
    cdef bint serial = _serial(n_threads)
    with nogil:
        if serial:
            best = _first_nonfinite(p, cols, 0, n)
        else:
            for t in prange(n_threads, num_threads=n_threads, schedule='static', chunksize=1):
                found[8 * t] = _first_nonfinite(p, cols, t * n // n_threads,
                                                (t + 1) * n // n_threads)
            for t in range(n_threads):
                if found[8 * t] >= 0:
                    best = found[8 * t]
                    break
    return best


# ------------------------------------------------ small kernels, exposed ---
# The building blocks on their own, for the tests and the teaching views.

def activate(const floating[:, ::1] Z, floating[:, ::1] out, int act):
    """out := act(Z) (softmax row by row)."""
    if Z.shape[0] != out.shape[0] or Z.shape[1] != out.shape[1]:
        raise ValueError("Z and out must have the same shape")
    if act < SIGMOID or act > EXP:
        raise ValueError(f"invalid activation id {act}")
    cdef Py_ssize_t n = Z.shape[0] * Z.shape[1]
    if n == 0:
        return
    with nogil:
        memcpy(&out[0, 0], &Z[0, 0], n * sizeof(floating))
        _activate(&out[0, 0], Z.shape[0], Z.shape[1], act)


def sigmoid(const floating[:, ::1] Z, floating[:, ::1] out):
    """out := sigma(Z) = 1 / (1 + exp(-Z)), overflow-safe."""
    activate(Z, out, SIGMOID)


def activation_prime(const floating[:, ::1] A, floating[:, ::1] out, int act):
    """out := act'(z) written through a = act(z); sigmoid: a (1 - a)."""
    if A.shape[0] != out.shape[0] or A.shape[1] != out.shape[1]:
        raise ValueError("A and out must have the same shape")
    if act < SIGMOID or act > EXP or act == SOFTMAX:
        raise ValueError(f"invalid elementwise activation id {act}")
    cdef Py_ssize_t i, n = A.shape[0] * A.shape[1]
    if n == 0:
        return
    with nogil:
        for i in range(n):
            (&out[0, 0])[i] = 1
        _mul_act_prime(&out[0, 0], &A[0, 0], n, act)


def sigmoid_prime(const floating[:, ::1] A, floating[:, ::1] out):
    """out := sigma'(z) = a (1 - a), with a = sigma(z)."""
    activation_prime(A, out, SIGMOID)


def output_delta(const floating[:, ::1] Z, const floating[:, ::1] Y, floating[:, ::1] D,
                 int loss, int act):
    """D := dC_i/dz_L for every row (Z is the output layer's pre-activation);
    returns the summed per-sample cost.  mse with sigmoid: D = 2 (a - y) a (1 - a)."""
    cdef Py_ssize_t B = Z.shape[0], n = Z.shape[1]
    if Y.shape[0] != B or Y.shape[1] != n or D.shape[0] != B or D.shape[1] != n:
        raise ValueError("Z, Y and D must have the same shape")
    _check_loss(loss, act)
    if act < SIGMOID or act > EXP:
        raise ValueError(f"invalid activation id {act}")
    A = np.empty((B, n), dtype=np.float32 if floating is float else np.float64)
    cdef floating[:, ::1] Av = A
    if B * n == 0:
        return 0.0
    activate(Z, Av, act)
    return _output_delta(loss, act, &Z[0, 0], &Av[0, 0], &Y[0, 0], <const floating*> NULL,
                         B, n, &D[0, 0])


def mse(const floating[:, ::1] A, const floating[:, ::1] Y):
    """Sum over rows of the per-sample cost sum_k (a_k - y_k)^2 (double)."""
    if A.shape[0] != Y.shape[0] or A.shape[1] != Y.shape[1]:
        raise ValueError("A and Y must have the same shape")
    cdef Py_ssize_t i, n = A.shape[0] * A.shape[1]
    cdef double total = 0.0, g
    with nogil:
        for i in range(n):
            g = <double> (&A[0, 0])[i] - <double> (&Y[0, 0])[i]
            total += g * g
    return total


def mse_grad(const floating[:, ::1] A, const floating[:, ::1] Y, floating[:, ::1] out):
    """out := dC/da = 2 (a - y)."""
    if A.shape[0] != Y.shape[0] or A.shape[1] != Y.shape[1] or out.shape[0] != A.shape[0] \
            or out.shape[1] != A.shape[1]:
        raise ValueError("A, Y and out must have the same shape")
    cdef Py_ssize_t i, n = A.shape[0] * A.shape[1]
    with nogil:
        for i in range(n):
            (&out[0, 0])[i] = 2 * ((&A[0, 0])[i] - (&Y[0, 0])[i])


def sgd_update(floating[::1] params, const floating[::1] grad, double learning_rate):
    """params := params - r grad."""
    cdef OptConfig h
    if params.shape[0] != grad.shape[0]:
        raise ValueError("params and grad must have the same length")
    memset(&h, 0, sizeof(OptConfig))
    h.kind = OPT_SGD
    h.learning_rate = learning_rate
    if params.shape[0] == 0:
        return
    with nogil:
        _optimizer_step(<Net*> NULL, &h, &params[0], &grad[0], <floating*> NULL,
                        params.shape[0], 1.0, 0.0, 0, params.shape[0])


def l2_gradient(const floating[::1] grad not None, const double[::1] x not None,
                const Py_ssize_t[::1] sizes not None, double divisor, double coef,
                double[::1] out not None):
    """A full-batch solver's gradient from the kernels' gradient sum: for the weights
    out := grad / divisor + coef x, for the biases out := grad / divisor (x: the
    parameters, in float64 as SciPy's L-BFGS-B iterates them; out may be grad).
    Returns sum x^2 over the weights, for the penalty's share of the loss.  One pass
    where NumPy takes several and a temporary for the weights (an L-BFGS evaluation
    of a small network spent nearly as long in them as in its kernel)."""
    cdef Py_ssize_t n = grad.shape[0], l, _j, k, pos = 0, n_in, n_out
    cdef double s = 0.0
    cdef const floating* g
    cdef const double* w
    cdef double* o
    _check_sizes(sizes)
    if x.shape[0] != n or out.shape[0] != n or _n_params(sizes) != n:
        raise ValueError(f"grad, x and out must each hold the {_n_params(sizes)} parameters "
                         f"of the sizes, got {n}, {x.shape[0]} and {out.shape[0]}")
    if n == 0:
        return 0.0
    with nogil:
        for l in range(sizes.shape[0] - 1):
            n_in = sizes[l]
            n_out = sizes[l + 1]
            for _j in range(n_out):
                out[pos] = grad[pos] / divisor
                g = &grad[pos + 1]
                w = &x[pos + 1]
                o = &out[pos + 1]
                for k in range(n_in):  # (vectorised: the sum of squares apart)
                    o[k] = g[k] / divisor + coef * w[k]
                s += nn_sumsq_d(w, n_in)
                pos += n_in + 1
    return s


cdef Py_ssize_t _state_vectors(int kind) noexcept:
    """How many vectors of the parameters' length an optimiser keeps."""
    if kind == OPT_ADAM or kind == OPT_SK_ADAM:
        return 2
    if kind == OPT_SGD:
        return 0
    return 1


cdef void _check_optimizer(const OptConfig* h) except *:
    if h.kind < OPT_SGD or h.kind > OPT_SK_ADAM:
        raise ValueError(f"invalid optimizer id {h.kind}")
    if h.alpha < 0 or h.weight_decay < 0:
        raise ValueError("weight_decay and alpha must be >= 0")
    if h.kind == OPT_SGD and h.alpha != 0:
        # plain SGD writes its step straight into the parameters, with no buffer for
        # a penalty that depends on each minibatch's weight
        raise ValueError("alpha needs a stateful update (sk_momentum with momentum 0)")


cdef bint _switch(int* flag, enabled):
    """*flag := enabled unless it is None; returns the setting before."""
    cdef bint before = flag[0] != 0
    if enabled is not None:
        flag[0] = 1 if enabled else 0
    return before


def _dense_forward(enabled=None):
    """Whether the forward products take nn_dense_fwd_d/f (AVX-512) where they
    apply (tests switch it off to compare with BLAS); returns the setting before."""
    return _switch(&nn_dense_enabled, enabled)


def _skip_zero_inputs(enabled=None):
    """Whether products pass over inputs that are zero: the dense forward product's
    in a whole group of rows (see NN_DENSE_GROUP), the first layer's weight gradient's
    in a whole minibatch at either end (see _input_span).  Tests switch it off to
    compare; returns the setting before."""
    return _switch(&nn_dense_skip_zeros, enabled)


def _dense_forward_available():
    """Whether this build and processor have nn_dense_fwd_d/f (the setting aside)."""
    return bool(nn_dense_cpu())


def _dense_layer_packs(Py_ssize_t n_in, Py_ssize_t n_out, bint f64):
    """Whether a layer of these sizes is small enough for the dense product's pack."""
    return nn_dense_pack_len(n_in, n_out, f64) > 0


def _panel_steps(neurons=None, min_bytes=None, fused_rows=None):
    """The first layer's panel steps in training (see _first_layer_steps): neurons a
    panel (0: never take them), the least size of the layer's block that takes
    them and the minibatch rows (lo, hi) over which SGD and momentum take them
    (tests take them on small networks, and compare both ways); returns the
    settings before."""
    global _PANEL_NEURONS, _PANEL_MIN_BYTES, _PANEL_MOMENTUM_MIN_ROWS, _PANEL_FUSED_MAX_ROWS
    before = (_PANEL_NEURONS, _PANEL_MIN_BYTES,
              (_PANEL_MOMENTUM_MIN_ROWS, _PANEL_FUSED_MAX_ROWS))
    if neurons is not None:
        if neurons < 0:
            raise ValueError("neurons must be >= 0")
        _PANEL_NEURONS = neurons
    if min_bytes is not None:
        _PANEL_MIN_BYTES = max(0, min_bytes)
    if fused_rows is not None:
        _PANEL_MOMENTUM_MIN_ROWS, _PANEL_FUSED_MAX_ROWS = fused_rows
    return before


def _neuron_split(max_rows=None, min_neurons=None, direct=None, min_work=None):
    """The minibatches that split the neurons across threads (see _split_step): the
    most rows (0: never; a pair: of any network, of wide ones), the fewest neurons
    of every hidden layer a thread, whether plain SGD's first layer steps in its
    weight product, and the fewest multiply-adds of every hidden layer a thread.
    Returns the settings before."""
    global _SPLIT_MAX_ROWS, _SPLIT_MIN_NEURONS, _split_direct, _SPLIT_MIN_WORK
    global _SPLIT_WIDE_MAX_ROWS
    before = ((_SPLIT_MAX_ROWS, _SPLIT_WIDE_MAX_ROWS), _SPLIT_MIN_NEURONS, bool(_split_direct),
              _SPLIT_MIN_WORK)
    if max_rows is not None:
        _SPLIT_MAX_ROWS, _SPLIT_WIDE_MAX_ROWS = (max_rows, max_rows) \
            if isinstance(max_rows, int) else max_rows
    if min_neurons is not None:
        _SPLIT_MIN_NEURONS = max(1, min_neurons)
    if direct is not None:
        _split_direct = bool(direct)
    if min_work is not None:
        _SPLIT_MIN_WORK = max(0, min_work)
    return before


def split_neurons(const Py_ssize_t[::1] sizes, Py_ssize_t rows, Py_ssize_t n_threads):
    """Whether train_epoch on n_threads splits minibatches of rows rows by neurons
    (dense input; see _split_step) rather than by rows."""
    _check_sizes(sizes)
    _check_threads(n_threads)
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    return bool(NN_OPENMP) and _split_fits(sizes, rows, n_threads)


def _forward_transposed(width=None, max_width=None, rows=None, min_inputs=None):
    """The layers whose forward product forms its transpose (see _forward): the
    fewest and most neurons, the fewest rows and inputs.  Returns the settings before."""
    global _FWD_TRANSPOSED_WIDTH, _FWD_TRANSPOSED_MAX_WIDTH, _FWD_TRANSPOSED_ROWS
    global _FWD_TRANSPOSED_MIN_INPUTS
    before = (_FWD_TRANSPOSED_WIDTH, _FWD_TRANSPOSED_MAX_WIDTH, _FWD_TRANSPOSED_ROWS,
              _FWD_TRANSPOSED_MIN_INPUTS)
    if width is not None:
        _FWD_TRANSPOSED_WIDTH = width
    if max_width is not None:
        _FWD_TRANSPOSED_MAX_WIDTH = max_width
    if rows is not None:
        _FWD_TRANSPOSED_ROWS = rows
    if min_inputs is not None:
        _FWD_TRANSPOSED_MIN_INPUTS = min_inputs
    return before


def _panel_lookahead(enabled=None, dense_rows=None):
    """Whether the panel steps form the next minibatch's first-layer outputs (see
    _first_layer_steps and train_epoch), and from how many rows a minibatch their
    products take nn_dense_fwd_d/f where it is available (BLAS's up to that many);
    the tests take every way.  Returns the settings before."""
    global _lookahead, _LOOKAHEAD_DENSE_ROWS
    before = (bool(_lookahead), _LOOKAHEAD_DENSE_ROWS)
    if dense_rows is not None:
        if dense_rows < 1:
            raise ValueError("dense_rows must be >= 1")
        _LOOKAHEAD_DENSE_ROWS = dense_rows
    if enabled is not None:
        _lookahead = bool(enabled)
    return before


def _compact_sparse_gradient(mode=None):
    """When training from CSR rows' nonzeros forms the first layer's gradient over
    the touched columns alone (see train_epoch): 0 never, 1 for very wide input
    (the default), 2 wherever it can; returns the setting before."""
    global _compact_mode
    before = _compact_mode
    if mode is not None:
        if mode not in (0, 1, 2):
            raise ValueError(f"mode must be 0, 1 or 2, got {mode!r}")
        _compact_mode = mode
    return before


def _compact_first_gradient(Py_ssize_t nnz, Py_ssize_t n_rows, Py_ssize_t batch_size,
                            Py_ssize_t n_in):
    """Whether an epoch over n_rows CSR rows holding nnz nonzeros, in minibatches
    of batch_size, forms the sparse first layer's gradient over the columns each
    minibatch (or thread's part) touches alone, with an optimiser that keeps its
    gradient apart (see train_epoch)."""
    return _compact_first(nnz, n_rows, batch_size, n_in)


def _gather_rows_in_product(enabled=None):
    """Whether the first layer's dense product gathers a minibatch's rows from dense
    X as it reads them, or they are copied first (the tests compare both ways);
    returns the setting before."""
    return _switch(&_gather_in_product, enabled)


def _sparse_tiles(mode=None):
    """Which loops the sparse first layer takes (see _sparse.h): 0 the direct ones, 1
    the tiled ones where they pay, 2 the tiled ones wherever the processor has them
    (the row loops where the layer's pack fits, else the tile loops), 3 the tile
    loops wherever (tests take every way); returns the setting before."""
    global nn_sparse_mode
    before = nn_sparse_mode
    if mode is not None:
        if mode not in (0, 1, 2, 3):
            raise ValueError("mode must be 0, 1, 2 or 3")
        nn_sparse_mode = mode
    return before


def _sparse_tiles_available():
    """Whether this build and processor have the tiled loops of _sparse.h."""
    return bool(nn_sparse_cpu())


def _fast_adam(enabled=None):
    """Whether Adam's update takes its AVX-512 loop where the processor has one
    (tests switch it off to check the portable loop); returns the setting before."""
    return _switch(&nn_fast_adam, enabled)


def optimizer_step(OptConfig opt, const Py_ssize_t[::1] sizes, floating[::1] params,
                   floating[::1] grad, floating[::1] state, uint64_t[::1] step,
                   double batch_weight=1.0):
    """One optimiser update of params with the gradient grad (see _optimizer_step):
    step[0] += 1 (Adam's bias correction counts from 1), then grad += (weight_decay
    + alpha / batch_weight) W for the weights (grad is overwritten), then the
    update, exactly as each minibatch of train_epoch does it."""
    cdef Net net
    cdef Py_ssize_t n = params.shape[0], need
    _check_sizes(sizes)
    _check_optimizer(&opt)
    if n != _n_params(sizes):
        raise ValueError(f"params has length {n}, the network needs {_n_params(sizes)}")
    if grad.shape[0] != n:
        raise ValueError("params and grad must have the same length")
    need = _state_vectors(opt.kind) * n
    if need and (state is None or state.shape[0] < need):
        raise ValueError(f"optimizer state must have length {need}")
    if step.shape[0] != 1:
        raise ValueError("step must hold one counter")
    if not batch_weight > 0:
        raise ValueError(f"batch_weight must be > 0, got {batch_weight}")
    cdef double wd = _step_decay(&opt, batch_weight)
    cdef nn_fpstate fp
    poff = np.zeros(sizes.shape[0], dtype=np.intp)
    aoff = np.zeros(sizes.shape[0], dtype=np.intp)
    _layout(&net, sizes, poff, aoff, 1, False, False)
    step[0] += 1
    with nogil:
        fp = nn_fp_flush_enter()
        _optimizer_step(&net, &opt, &params[0], &grad[0], &state[0] if need else NULL,
                        n, <double> step[0], wd, 0, n)
        nn_fp_flush_leave(fp)


def shuffle_order(Py_ssize_t[::1] order, uint64_t[::1] state):
    """order := a Fisher-Yates permutation of 0..n-1 drawn from state[0]."""
    if state.shape[0] < 1:
        raise ValueError("state needs one entry")
    with nogil:
        _shuffle(&order[0] if order.shape[0] else NULL, order.shape[0], &state[0])


def uniform(double[::1] out, uint64_t[::1] state):
    """out := independent uniform draws in [0, 1): (splitmix64 >> 11) * 2^-53."""
    cdef Py_ssize_t i
    if state.shape[0] < 1:
        raise ValueError("state needs one entry")
    with nogil:
        for i in range(out.shape[0]):
            out[i] = (_splitmix64(&state[0]) >> 11) * (1.0 / 9007199254740992.0)


# ------------------------------------------------------------ a few rows, fast ---

@cython.auto_pickle(False)  # (a network rebuilds its own; it holds raw pointers)
cdef class _Predictor:
    """One network's forward pass for a few rows, set up once.

    ``predict(X)`` is the lean path of ``Network.predict``: for a C-contiguous 2-D
    array of the network's dtype with its number of columns, 1 to ``max_rows``
    rows and finite values, it checks all of that in a few nanoseconds, computes
    the outputs in one call (a workspace on the heap, no NumPy temporaries) and
    returns them; for anything else it returns None, and the caller takes the
    general path, which converts, validates and explains.  The parameters are
    read where they live (the network's vector), at every call.
    """

    cdef object _params, _sizes, _acts, _poff, _aoff
    cdef Net net
    cdef char* P
    cdef int typenum
    cdef Py_ssize_t n_in, n_out, ws_bytes, out_offset
    cdef readonly Py_ssize_t max_rows

    def __init__(self, params, sizes, acts, Py_ssize_t max_rows=64):
        cdef cnp.ndarray p = params
        if p.ndim != 1 or not p.flags.c_contiguous or p.dtype not in (np.float32, np.float64):
            raise ValueError("params must be a C-contiguous float32 or float64 vector")
        sizes = np.ascontiguousarray(sizes, dtype=np.intp)
        acts = np.ascontiguousarray(acts, dtype=np.intc)
        cdef const Py_ssize_t[::1] sv = sizes
        cdef const int[::1] av = acts
        if max_rows < 1:
            raise ValueError("max_rows must be >= 1")
        self._poff, self._aoff = _setup(&self.net, sv, av, p.shape[0], -1, -1, 2 ** 62,
                                        max_rows, False, False)
        self._params, self._sizes, self._acts = p, sizes, acts
        self.P = <char*> cnp.PyArray_DATA(p)
        self.typenum = cnp.PyArray_TYPE(p)
        self.n_in = sv[0]
        self.n_out = sv[sv.shape[0] - 1]
        self.max_rows = max_rows
        self.ws_bytes = self.net.size * p.itemsize
        self.out_offset = self.net.aoff[self.net.L]

    def predict(self, X):
        """The outputs for the rows of X, or None when X is not for this path."""
        if not cnp.PyArray_CheckExact(X):  # (subclasses: masked arrays, matrices ...)
            return None
        cdef cnp.ndarray arr = <cnp.ndarray> X
        if cnp.PyArray_NDIM(arr) != 2 or cnp.PyArray_TYPE(arr) != self.typenum \
                or not cnp.PyArray_IS_C_CONTIGUOUS(arr):
            return None
        cdef Py_ssize_t rows = cnp.PyArray_DIM(arr, 0)
        if cnp.PyArray_DIM(arr, 1) != self.n_in or rows < 1 or rows > self.max_rows:
            return None
        cdef void* x = cnp.PyArray_DATA(arr)
        cdef bint f64 = self.typenum == cnp.NPY_DOUBLE
        if (nn_any_nonfinite_d(<double*> x, rows * self.n_in) if f64
                else nn_any_nonfinite_f(<float*> x, rows * self.n_in)):
            return None  # the general path names the row and column
        cdef cnp.npy_intp dims[2]
        dims[0] = rows
        dims[1] = self.n_out
        out = cnp.PyArray_EMPTY(2, dims, self.typenum, 0)
        cdef void* o = cnp.PyArray_DATA(<cnp.ndarray> out)
        cdef char* ws
        cdef nn_fpstate fp
        with nogil:
            ws = <char*> malloc(self.ws_bytes)
            if ws != NULL:
                fp = nn_fp_flush_enter()
                if f64:
                    _forward(&self.net, <const double*> self.P, <const double*> x, rows,
                             <double*> ws)
                    memcpy(o, (<double*> ws) + self.out_offset, rows * self.n_out * sizeof(double))
                else:
                    _forward(&self.net, <const float*> self.P, <const float*> x, rows,
                             <float*> ws)
                    memcpy(o, (<float*> ws) + self.out_offset, rows * self.n_out * sizeof(float))
                nn_fp_flush_leave(fp)
                free(ws)
        if ws == NULL:
            raise MemoryError()
        return out

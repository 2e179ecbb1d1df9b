/* The first layer's products over CSR rows, from their nonzeros alone (float64
 * and float32): Z = X W^T + b and the weight gradient W := beta W + alpha D^T X.
 *
 * Why: wide sparse input (TF-IDF text features: tens of thousands of columns, a
 * hundred nonzeros a row) gathered into dense rows makes every product run over
 * the zeros, 200 times the work at 0.5% density.  scipy.sparse's product instead
 * adds a row of W^T, the n_out weights of one input, for each nonzero; in
 * nncore's layout those are a column of the layer's block, a cache line per
 * neuron.  Two ways around that:
 *
 * - the direct loops (portable) go four neurons at a time: their rows of W (n_in
 *   numbers each, 160 kB at 20,000 inputs) stay in the second-level cache while
 *   every row's nonzeros gather from them, or add into them;
 * - the tiled loops (AVX-512) copy a vector of neurons' weights transposed into a
 *   tile first, so that each nonzero reads or adds into one line of it, and pay
 *   for that copy when the rows hold enough nonzeros (see nn_csr_tiles).
 *
 * Rows are rows idx[0..B) of the CSR arrays (v, ind, ptr), or rows row0, row0 + 1,
 * ... where idx is NULL.  The caller has checked every index (see _check_csr).
 * Duplicate column indices in a row add, as in scipy's toarray.  Each output and
 * each gradient sums its terms in another order than a dense product over the
 * gathered rows: a few ulps apart, the same mathematics.
 */
#ifndef NNCORE_SPARSE_H
#define NNCORE_SPARSE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_dense.h"
#include "_scratch.h"

/* which loops run: 0 the direct ones, 1 the tiled ones where they pay (see
 * nn_csr_tiles; the row loops or the tile loops, see nn_csr_rows), 2 the tiled ones
 * wherever the processor has them, 3 the tile loops wherever (the tests take every
 * way) */
static int nn_sparse_mode = 1;

#define NN_CSR_ROW(i) (idx ? idx[i] : row0 + (i))

#define NN_CSR_AFFINE_PORTABLE(NAME, T)                                                   \
    static void NAME(const T *blk, ptrdiff_t n_in, ptrdiff_t n_out, const T *v,            \
                     const ptrdiff_t *ind, const ptrdiff_t *ptr, const ptrdiff_t *idx,     \
                     ptrdiff_t row0, ptrdiff_t B, T *z)                                    \
    {                                                                                      \
        const ptrdiff_t ld = n_in + 1;                                                     \
        for (ptrdiff_t j = 0; j < n_out; j += 4) {                                         \
            /* (past the last neuron the rows repeat it, their sums unused) */            \
            const T *w0 = blk + j * ld + 1;                                                \
            const T *w1 = j + 1 < n_out ? w0 + ld : w0;                                    \
            const T *w2 = j + 2 < n_out ? w1 + ld : w1;                                    \
            const T *w3 = j + 3 < n_out ? w2 + ld : w2;                                    \
            const ptrdiff_t nj = n_out - j < 4 ? n_out - j : 4;                            \
            for (ptrdiff_t i = 0; i < B; i++) {                                            \
                const ptrdiff_t r = NN_CSR_ROW(i);                                         \
                T s[4] = {0, 0, 0, 0};                                                     \
                for (ptrdiff_t p = ptr[r]; p < ptr[r + 1]; p++) {                          \
                    const ptrdiff_t k = ind[p];                                            \
                    const T x = v[p];                                                      \
                    s[0] += x * w0[k];                                                     \
                    s[1] += x * w1[k];                                                     \
                    s[2] += x * w2[k];                                                     \
                    s[3] += x * w3[k];                                                     \
                }                                                                          \
                for (ptrdiff_t q = 0; q < nj; q++)                                         \
                    z[i * n_out + j + q] = blk[(j + q) * ld] + s[q];                       \
            }                                                                              \
        }                                                                                  \
    }

NN_CSR_AFFINE_PORTABLE(nn_csr_affine_portable_d, double)
NN_CSR_AFFINE_PORTABLE(nn_csr_affine_portable_f, float)
#undef NN_CSR_AFFINE_PORTABLE

/* W := wbeta W + alpha D^T X for the n_out neurons' weights (rows ld = n_in + 1
 * apart from dst, each after its bias; the biases are the caller's), from their
 * deltas D (B x n_out).  wbeta 0: the weights may hold garbage (NaN * 0 is NaN),
 * so they are set, not scaled. */
#define NN_CSR_WEIGHT_GRAD_PORTABLE(NAME, T)                                              \
    static void NAME(T *dst, ptrdiff_t n_in, ptrdiff_t n_out, const T *v,                  \
                     const ptrdiff_t *ind, const ptrdiff_t *ptr, const ptrdiff_t *idx,     \
                     ptrdiff_t row0, ptrdiff_t B, const T *D, T alpha, T wbeta)            \
    {                                                                                      \
        const ptrdiff_t ld = n_in + 1;                                                     \
        for (ptrdiff_t j = 0; j < n_out; j++) {                                            \
            T *g = dst + j * ld + 1;                                                       \
            if (wbeta == 0)                                                                \
                memset(g, 0, (size_t)n_in * sizeof(T));                                    \
            else if (wbeta != 1)                                                           \
                for (ptrdiff_t k = 0; k < n_in; k++)                                       \
                    g[k] *= wbeta;                                                         \
        }                                                                                  \
        for (ptrdiff_t j = 0; j < n_out; j += 4) {                                         \
            T *g[4];                                                                       \
            const ptrdiff_t nj = n_out - j < 4 ? n_out - j : 4;                            \
            for (ptrdiff_t q = 0; q < nj; q++)                                             \
                g[q] = dst + (j + q) * ld + 1;                                             \
            for (ptrdiff_t i = 0; i < B; i++) {                                            \
                const ptrdiff_t r = NN_CSR_ROW(i);                                         \
                T c[4] = {0, 0, 0, 0};                                                     \
                int any = 0;                                                               \
                for (ptrdiff_t q = 0; q < nj; q++) {                                       \
                    c[q] = alpha * D[i * n_out + j + q];                                   \
                    any |= c[q] != 0; /* (relu's inactive units add nothing) */           \
                }                                                                          \
                if (!any)                                                                  \
                    continue;                                                              \
                if (nj == 4) {                                                             \
                    for (ptrdiff_t p = ptr[r]; p < ptr[r + 1]; p++) {                      \
                        const ptrdiff_t k = ind[p];                                        \
                        const T x = v[p];                                                  \
                        g[0][k] += c[0] * x;                                               \
                        g[1][k] += c[1] * x;                                               \
                        g[2][k] += c[2] * x;                                               \
                        g[3][k] += c[3] * x;                                               \
                    }                                                                      \
                } else {                                                                   \
                    for (ptrdiff_t q = 0; q < nj; q++)                                     \
                        for (ptrdiff_t p = ptr[r]; p < ptr[r + 1]; p++)                    \
                            g[q][ind[p]] += c[q] * v[p];                                   \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
    }

NN_CSR_WEIGHT_GRAD_PORTABLE(nn_csr_weight_grad_portable_d, double)
NN_CSR_WEIGHT_GRAD_PORTABLE(nn_csr_weight_grad_portable_f, float)
#undef NN_CSR_WEIGHT_GRAD_PORTABLE

/* The tiled loops (AVX-512) are of two kinds (nn_csr_rows says which).
 *
 * The row loops, for layers whose pack fits the second-level cache: the weights
 * packed transposed once per call (nn_dense_pack: a row of np numbers per input, np
 * the neurons rounded up to whole vectors, the biases in row 0), so that a
 * nonzero's weights for every neuron are one contiguous row.  Each CSR row's
 * outputs then stay in registers, up to 16 vectors of neurons at a time, while its
 * nonzeros go by: per nonzero a broadcast and, for each vector, a load and an
 * independent multiply-add.  The weight gradient goes the other way: each row's
 * deltas (alpha in them) stay in registers, and each nonzero adds their product
 * into its input's row of a transposed gradient, which is then added into the
 * neurons' rows of W.  The tile loops (below), a vector of neurons at a time with
 * one accumulator a row, are a chain of dependent multiply-adds bound by their
 * latency, and read each row's nonzeros once per vector of neurons; the row loops
 * took the drop-in's fits on MNIST-like images 1.14-1.31x faster than the dense
 * products (the tile loops were level with them at 20% nonzeros).  Their buffers come
 * from the thread's scratch (_scratch.h); where it has no memory, the direct loops
 * run.
 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(_WIN32) \
    && !defined(NNCORE_NO_MULTIVERSION)
#include <immintrin.h>

static inline int nn_sparse_cpu(void) { return __builtin_cpu_supports("avx512f"); }

#define NN_CAT_(a, b) a##b
#define NN_CAT(a, b) NN_CAT_(a, b)

/* One type's loops.  T: double or float; V, M: its vector and mask types; LANES;
 * SUF: pd or ps; TS: d or f (nncore's suffix). */
#define NN_CSR_ROWS(T, V, M, LANES, SUF, TS)                                               \
    /* z[j] := WT[j] + sum_p v[p] WT[(ind[p] + 1) np + j], j in [c0, c0 + NV LANES) */     \
    static inline __attribute__((always_inline, target("avx512f"))) void                   \
    NN_CAT(nn_csr_row_fwd_, TS)(const int NV, const T *WT, ptrdiff_t np, ptrdiff_t c0,     \
                                const T *v, const ptrdiff_t *ind, ptrdiff_t p0,             \
                                ptrdiff_t p1, T *z, ptrdiff_t n_out)                        \
    {                                                                                      \
        V acc[16];                                                                         \
        _Pragma("GCC unroll 16") for (int q = 0; q < 16; q++) if (q < NV)                  \
            acc[q] = NN_CAT(_mm512_load_, SUF)(WT + c0 + LANES * q);                       \
        for (ptrdiff_t p = p0; p < p1; p++) {                                              \
            const V x = NN_CAT(_mm512_set1_, SUF)(v[p]);                                   \
            const T *w = WT + (ind[p] + 1) * np + c0;                                      \
            _Pragma("GCC unroll 16") for (int q = 0; q < 16; q++) if (q < NV)              \
                acc[q] = NN_CAT(_mm512_fmadd_, SUF)(x, NN_CAT(_mm512_load_, SUF)(w + LANES * q), \
                                                    acc[q]);                               \
        }                                                                                  \
        _Pragma("GCC unroll 16") for (int q = 0; q < 16; q++) if (q < NV) {                \
            const ptrdiff_t j = c0 + LANES * q, left = n_out - j;                          \
            if (left >= LANES)                                                             \
                NN_CAT(_mm512_storeu_, SUF)(z + j, acc[q]);                                \
            else if (left > 0)                                                             \
                NN_CAT(_mm512_mask_storeu_, SUF)(z + j, (M)((1u << left) - 1), acc[q]);     \
        }                                                                                  \
    }                                                                                      \
                                                                                           \
    /* gT[ind[p] np + j] += v[p] d[j] over the row's nonzeros, j in [c0, c0 + NV LANES),    \
     * d = alpha D_i (zero past n_out); a row of gT first touched is set, not added */     \
    static inline __attribute__((always_inline, target("avx512f"))) void                   \
    NN_CAT(nn_csr_row_grad_, TS)(const int NV, T *gT, ptrdiff_t np, ptrdiff_t c0,          \
                                 const T *v, const ptrdiff_t *ind, ptrdiff_t p0,            \
                                 ptrdiff_t p1, const T *Di, T alpha, ptrdiff_t n_out,       \
                                 unsigned char *seen)                                      \
    {                                                                                      \
        V d[16];                                                                           \
        const V a = NN_CAT(_mm512_set1_, SUF)(alpha);                                      \
        M any = 0;                                                                         \
        _Pragma("GCC unroll 16") for (int q = 0; q < 16; q++) if (q < NV) {                \
            const ptrdiff_t j = c0 + LANES * q, left = n_out - j;                          \
            const M m = (M)(left >= LANES ? (M)~(M)0 : left > 0 ? (M)((1u << left) - 1) : 0); \
            d[q] = NN_CAT(_mm512_mul_, SUF)(a, NN_CAT(_mm512_maskz_loadu_, SUF)(m, Di + j)); \
            any |= NN_CAT(_mm512_cmp_, SUF##_mask)(d[q], NN_CAT(_mm512_setzero_, SUF)(),   \
                                                    _CMP_NEQ_UQ);                          \
        }                                                                                  \
        if (any == 0) /* (relu's inactive units add nothing) */                           \
            return;                                                                        \
        for (ptrdiff_t p = p0; p < p1; p++) {                                              \
            const ptrdiff_t k = ind[p];                                                    \
            const V x = NN_CAT(_mm512_set1_, SUF)(v[p]);                                   \
            T *g = gT + k * np + c0;                                                       \
            if (seen[k]) {                                                                 \
                _Pragma("GCC unroll 16") for (int q = 0; q < 16; q++) if (q < NV)          \
                    NN_CAT(_mm512_store_, SUF)(g + LANES * q, NN_CAT(_mm512_fmadd_, SUF)(  \
                        x, d[q], NN_CAT(_mm512_load_, SUF)(g + LANES * q)));               \
            } else {                                                                       \
                seen[k] = 1;                                                               \
                _Pragma("GCC unroll 16") for (int q = 0; q < 16; q++) if (q < NV)          \
                    NN_CAT(_mm512_store_, SUF)(g + LANES * q, NN_CAT(_mm512_mul_, SUF)(x, d[q])); \
            }                                                                              \
        }                                                                                  \
    }                                                                                      \
                                                                                           \
    /* the row loops over every chunk of up to 16 vectors of neurons (NV a constant in    \
     * each call, so that the accumulators stay in registers) */                          \
    static __attribute__((target("avx512f"))) void                                         \
    NN_CAT(nn_csr_rows_fwd_, TS)(const T *WT, ptrdiff_t np, const T *v, const ptrdiff_t *ind, \
                                 const ptrdiff_t *ptr, const ptrdiff_t *idx, ptrdiff_t row0, \
                                 ptrdiff_t B, T *z, ptrdiff_t n_out)                        \
    {                                                                                      \
        for (ptrdiff_t c0 = 0; c0 < np; c0 += 16 * LANES) {                                \
            const int nv = (int)((np - c0) / LANES < 16 ? (np - c0) / LANES : 16);          \
            for (ptrdiff_t i = 0; i < B; i++) {                                            \
                const ptrdiff_t r = NN_CSR_ROW(i), p0 = ptr[r], p1 = ptr[r + 1];           \
                T *zi = z + i * n_out;                                                     \
                switch (nv) {                                                              \
                NN_CSR_CASES(NN_CAT(nn_csr_row_fwd_, TS), WT, np, c0, v, ind, p0, p1, zi, n_out) \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
    }                                                                                      \
                                                                                           \
    static __attribute__((target("avx512f"))) void                                         \
    NN_CAT(nn_csr_rows_grad_, TS)(T *gT, ptrdiff_t np, const T *v, const ptrdiff_t *ind,    \
                                  const ptrdiff_t *ptr, const ptrdiff_t *idx, ptrdiff_t row0, \
                                  ptrdiff_t B, const T *D, T alpha, ptrdiff_t n_out,        \
                                  unsigned char *seen, ptrdiff_t n_in)                      \
    {                                                                                      \
        for (ptrdiff_t c0 = 0; c0 < np; c0 += 16 * LANES) {                                \
            const int nv = (int)((np - c0) / LANES < 16 ? (np - c0) / LANES : 16);          \
            memset(seen, 0, (size_t)n_in);                                                 \
            for (ptrdiff_t i = 0; i < B; i++) {                                            \
                const ptrdiff_t r = NN_CSR_ROW(i), p0 = ptr[r], p1 = ptr[r + 1];           \
                const T *Di = D + i * n_out;                                               \
                switch (nv) {                                                              \
                NN_CSR_CASES(NN_CAT(nn_csr_row_grad_, TS), gT, np, c0, v, ind, p0, p1, Di, \
                             alpha, n_out, seen)                                           \
                }                                                                          \
            }                                                                              \
            /* (a chunk's rows of gT that no row touched are zero for the next pass) */   \
            for (ptrdiff_t k = 0; k < n_in; k++)                                           \
                if (!seen[k])                                                              \
                    for (int q = 0; q < nv; q++)                                           \
                        NN_CAT(_mm512_store_, SUF)(gT + k * np + c0 + LANES * q,           \
                                                   NN_CAT(_mm512_setzero_, SUF)());        \
        }                                                                                  \
    }                                                                                      \
                                                                                           \
    static int NN_CAT(nn_csr_affine_rows_, TS)(const T *blk, ptrdiff_t n_in, ptrdiff_t n_out, \
                                               const T *v, const ptrdiff_t *ind,            \
                                               const ptrdiff_t *ptr, const ptrdiff_t *idx,  \
                                               ptrdiff_t row0, ptrdiff_t B, T *z)           \
    {                                                                                      \
        const ptrdiff_t np = NN_CAT(nn_dense_np_, TS)(n_out);                              \
        T *WT = (T *)nn_scratch((size_t)((n_in + 1) * np) * sizeof(T));                    \
        if (WT == NULL)                                                                    \
            return -1;                                                                     \
        const int finite = NN_CAT(nn_dense_pack_, TS)(blk, n_in, n_out, WT);               \
        NN_CAT(nn_csr_rows_fwd_, TS)(WT, np, v, ind, ptr, idx, row0, B, z, n_out);         \
        return finite;                                                                     \
    }                                                                                      \
                                                                                           \
    /* W := wbeta W + alpha D^T X over the neurons' rows (ld = n_in + 1 apart from dst,    \
     * each after its bias, which this leaves) */                                         \
    static int NN_CAT(nn_csr_weight_grad_rows_, TS)(T *dst, ptrdiff_t n_in, ptrdiff_t n_out, \
                                                    const T *v, const ptrdiff_t *ind,       \
                                                    const ptrdiff_t *ptr, const ptrdiff_t *idx, \
                                                    ptrdiff_t row0, ptrdiff_t B, const T *D, \
                                                    T alpha, T wbeta)                       \
    {                                                                                      \
        const ptrdiff_t np = NN_CAT(nn_dense_np_, TS)(n_out), ld = n_in + 1;               \
        const size_t gbytes = (size_t)(n_in * np) * sizeof(T);                             \
        T *gT = (T *)nn_scratch(gbytes + (size_t)n_in);                                    \
        if (gT == NULL)                                                                    \
            return 0;                                                                      \
        unsigned char *seen = (unsigned char *)gT + gbytes;                                \
        NN_CAT(nn_csr_rows_grad_, TS)(gT, np, v, ind, ptr, idx, row0, B, D, alpha, n_out,  \
                                      seen, n_in);                                         \
        for (ptrdiff_t j = 0; j < n_out; j++) {                                            \
            T *g = dst + j * ld + 1;                                                       \
            const T *s = gT + j;                                                           \
            if (wbeta == 0) /* (garbage there: NaN * 0 is NaN) */                          \
                for (ptrdiff_t k = 0; k < n_in; k++)                                       \
                    g[k] = s[k * np];                                                      \
            else                                                                           \
                for (ptrdiff_t k = 0; k < n_in; k++)                                       \
                    g[k] = wbeta * g[k] + s[k * np];                                       \
        }                                                                                  \
        return 1;                                                                          \
    }

/* switch cases nv = 1..16, each calling F with NV that constant */
#define NN_CSR_CASES(F, ...)                                                              \
    case 1: F(1, __VA_ARGS__); break;   case 2: F(2, __VA_ARGS__); break;                  \
    case 3: F(3, __VA_ARGS__); break;   case 4: F(4, __VA_ARGS__); break;                  \
    case 5: F(5, __VA_ARGS__); break;   case 6: F(6, __VA_ARGS__); break;                  \
    case 7: F(7, __VA_ARGS__); break;   case 8: F(8, __VA_ARGS__); break;                  \
    case 9: F(9, __VA_ARGS__); break;   case 10: F(10, __VA_ARGS__); break;                \
    case 11: F(11, __VA_ARGS__); break; case 12: F(12, __VA_ARGS__); break;                \
    case 13: F(13, __VA_ARGS__); break; case 14: F(14, __VA_ARGS__); break;                \
    case 15: F(15, __VA_ARGS__); break; default: F(16, __VA_ARGS__); break;

NN_CSR_ROWS(double, __m512d, __mmask8, 8, pd, d)
NN_CSR_ROWS(float, __m512, __mmask16, 16, ps, f)
#undef NN_CSR_ROWS
#undef NN_CSR_CASES
#undef NN_CAT
#undef NN_CAT_

/* The tile loops, for layers whose pack would not fit the second-level cache (wide
 * input: TF-IDF's tens of thousands of columns): a vector of neurons at a time, their
 * weights copied transposed into a tile of n_in lines of one vector each, so that
 * each nonzero reads, or adds into, one line of it.  The tile is malloc'd per call
 * (where it is not there, or float32's sizes overflow the gathers' 32-bit offsets,
 * the direct loops run). */
static inline void *nn_sparse_tile(void **raw, ptrdiff_t n_in)
{
    *raw = malloc((size_t)n_in * 64 + 64);
    return *raw ? (void *)(((uintptr_t)*raw + 63) & ~(uintptr_t)63) : NULL;
}

__attribute__((target("avx512f"))) static int
nn_csr_affine_tiled_d(const double *blk, ptrdiff_t n_in, ptrdiff_t n_out, const double *v,
                      const ptrdiff_t *ind, const ptrdiff_t *ptr, const ptrdiff_t *idx,
                      ptrdiff_t row0, ptrdiff_t B, double *z)
{
    void *raw;
    double *t = (double *)nn_sparse_tile(&raw, n_in);
    const ptrdiff_t ld = n_in + 1;
    if (t == NULL)
        return 0;
    const __m512i rows = _mm512_set_epi64(7 * ld, 6 * ld, 5 * ld, 4 * ld, 3 * ld, 2 * ld, ld,
                                          0);
    for (ptrdiff_t j0 = 0; j0 < n_out; j0 += 8) {
        const ptrdiff_t nj = n_out - j0 < 8 ? n_out - j0 : 8;
        const __mmask8 m = (__mmask8)((1u << nj) - 1);
        const double *w = blk + j0 * ld + 1;
        for (ptrdiff_t k = 0; k < n_in; k++)  /* (neurons past n_out: zero) */
            _mm512_store_pd(t + 8 * k,
                            _mm512_mask_i64gather_pd(_mm512_setzero_pd(), m, rows, w + k, 8));
        const __m512d bias = _mm512_mask_i64gather_pd(_mm512_setzero_pd(), m, rows,
                                                      blk + j0 * ld, 8);
        for (ptrdiff_t i = 0; i < B; i++) {
            const ptrdiff_t r = NN_CSR_ROW(i);
            __m512d acc = _mm512_setzero_pd();
            for (ptrdiff_t p = ptr[r]; p < ptr[r + 1]; p++)
                acc = _mm512_fmadd_pd(_mm512_set1_pd(v[p]), _mm512_load_pd(t + 8 * ind[p]), acc);
            _mm512_mask_storeu_pd(z + i * n_out + j0, m, _mm512_add_pd(bias, acc));
        }
    }
    free(raw);
    return 1;
}

__attribute__((target("avx512f"))) static int
nn_csr_affine_tiled_f(const float *blk, ptrdiff_t n_in, ptrdiff_t n_out, const float *v,
                      const ptrdiff_t *ind, const ptrdiff_t *ptr, const ptrdiff_t *idx,
                      ptrdiff_t row0, ptrdiff_t B, float *z)
{
    void *raw;
    const ptrdiff_t ld = n_in + 1;
    if (15 * ld > 2147483647)
        return 0;
    float *t = (float *)nn_sparse_tile(&raw, n_in);
    if (t == NULL)
        return 0;
    const __m512i rows = _mm512_mullo_epi32(
        _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
        _mm512_set1_epi32((int)ld));
    for (ptrdiff_t j0 = 0; j0 < n_out; j0 += 16) {
        const ptrdiff_t nj = n_out - j0 < 16 ? n_out - j0 : 16;
        const __mmask16 m = (__mmask16)((1u << nj) - 1);
        const float *w = blk + j0 * ld + 1;
        for (ptrdiff_t k = 0; k < n_in; k++)
            _mm512_store_ps(t + 16 * k,
                            _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, rows, w + k, 4));
        const __m512 bias = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, rows,
                                                     blk + j0 * ld, 4);
        for (ptrdiff_t i = 0; i < B; i++) {
            const ptrdiff_t r = NN_CSR_ROW(i);
            __m512 acc = _mm512_setzero_ps();
            for (ptrdiff_t p = ptr[r]; p < ptr[r + 1]; p++)
                acc = _mm512_fmadd_ps(_mm512_set1_ps(v[p]), _mm512_load_ps(t + 16 * ind[p]), acc);
            _mm512_mask_storeu_ps(z + i * n_out + j0, m, _mm512_add_ps(bias, acc));
        }
    }
    free(raw);
    return 1;
}

/* W := wbeta W + alpha D^T X, a vector of neurons at a time: each row's deltas
 * (alpha in them) times each nonzero add into the nonzero's line of the zeroed
 * tile, which is then added to the neurons' rows of W (scattered back). */
__attribute__((target("avx512f"))) static int
nn_csr_weight_grad_tiled_d(double *dst, ptrdiff_t n_in, ptrdiff_t n_out, const double *v,
                           const ptrdiff_t *ind, const ptrdiff_t *ptr, const ptrdiff_t *idx,
                           ptrdiff_t row0, ptrdiff_t B, const double *D, double alpha,
                           double wbeta)
{
    void *raw;
    double *t = (double *)nn_sparse_tile(&raw, n_in);
    const ptrdiff_t ld = n_in + 1;
    if (t == NULL)
        return 0;
    const __m512i rows = _mm512_set_epi64(7 * ld, 6 * ld, 5 * ld, 4 * ld, 3 * ld, 2 * ld, ld,
                                          0);
    const __m512d wb = _mm512_set1_pd(wbeta), a = _mm512_set1_pd(alpha);
    for (ptrdiff_t j0 = 0; j0 < n_out; j0 += 8) {
        const ptrdiff_t nj = n_out - j0 < 8 ? n_out - j0 : 8;
        const __mmask8 m = (__mmask8)((1u << nj) - 1);
        memset(t, 0, (size_t)n_in * 64);
        for (ptrdiff_t i = 0; i < B; i++) {
            const __m512d d = _mm512_mul_pd(a, _mm512_maskz_loadu_pd(m, D + i * n_out + j0));
            if (_mm512_cmpneq_pd_mask(d, _mm512_setzero_pd()) == 0)
                continue;  /* (relu's inactive units add nothing) */
            const ptrdiff_t r = NN_CSR_ROW(i);
            for (ptrdiff_t p = ptr[r]; p < ptr[r + 1]; p++) {
                double *tk = t + 8 * ind[p];
                _mm512_store_pd(tk, _mm512_fmadd_pd(_mm512_set1_pd(v[p]), d,
                                                    _mm512_load_pd(tk)));
            }
        }
        double *g = dst + j0 * ld + 1;
        for (ptrdiff_t k = 0; k < n_in; k++) {
            __m512d gk = _mm512_setzero_pd();  /* (wbeta 0: garbage there, NaN * 0 is NaN) */
            if (wbeta != 0)
                gk = _mm512_mul_pd(wb, _mm512_mask_i64gather_pd(gk, m, rows, g + k, 8));
            _mm512_mask_i64scatter_pd(g + k, m, rows, _mm512_add_pd(gk, _mm512_load_pd(t + 8 * k)),
                                      8);
        }
    }
    free(raw);
    return 1;
}

__attribute__((target("avx512f"))) static int
nn_csr_weight_grad_tiled_f(float *dst, ptrdiff_t n_in, ptrdiff_t n_out, const float *v,
                           const ptrdiff_t *ind, const ptrdiff_t *ptr, const ptrdiff_t *idx,
                           ptrdiff_t row0, ptrdiff_t B, const float *D, float alpha,
                           float wbeta)
{
    void *raw;
    const ptrdiff_t ld = n_in + 1;
    if (15 * ld > 2147483647)
        return 0;
    float *t = (float *)nn_sparse_tile(&raw, n_in);
    if (t == NULL)
        return 0;
    const __m512i rows = _mm512_mullo_epi32(
        _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
        _mm512_set1_epi32((int)ld));
    const __m512 wb = _mm512_set1_ps(wbeta), a = _mm512_set1_ps(alpha);
    for (ptrdiff_t j0 = 0; j0 < n_out; j0 += 16) {
        const ptrdiff_t nj = n_out - j0 < 16 ? n_out - j0 : 16;
        const __mmask16 m = (__mmask16)((1u << nj) - 1);
        memset(t, 0, (size_t)n_in * 64);
        for (ptrdiff_t i = 0; i < B; i++) {
            const __m512 d = _mm512_mul_ps(a, _mm512_maskz_loadu_ps(m, D + i * n_out + j0));
            if (_mm512_cmp_ps_mask(d, _mm512_setzero_ps(), _CMP_NEQ_UQ) == 0)
                continue;
            const ptrdiff_t r = NN_CSR_ROW(i);
            for (ptrdiff_t p = ptr[r]; p < ptr[r + 1]; p++) {
                float *tk = t + 16 * ind[p];
                _mm512_store_ps(tk, _mm512_fmadd_ps(_mm512_set1_ps(v[p]), d,
                                                    _mm512_load_ps(tk)));
            }
        }
        float *g = dst + j0 * ld + 1;
        for (ptrdiff_t k = 0; k < n_in; k++) {
            __m512 gk = _mm512_setzero_ps();
            if (wbeta != 0)
                gk = _mm512_mul_ps(wb, _mm512_mask_i32gather_ps(gk, m, rows, g + k, 4));
            _mm512_mask_i32scatter_ps(g + k, m, rows, _mm512_add_ps(gk, _mm512_load_ps(t + 16 * k)),
                                      4);
        }
    }
    free(raw);
    return 1;
}

#else
static inline int nn_sparse_cpu(void) { return 0; }
#define NN_NO_TILE(NAME, T)                                                                \
    static inline int NAME(const T *blk, ptrdiff_t n_in, ptrdiff_t n_out, const T *v,       \
                           const ptrdiff_t *ind, const ptrdiff_t *ptr, const ptrdiff_t *idx, \
                           ptrdiff_t row0, ptrdiff_t B, T *z)                               \
    {                                                                                       \
        (void)blk; (void)n_in; (void)n_out; (void)v; (void)ind; (void)ptr; (void)idx;       \
        (void)row0; (void)B; (void)z;                                                       \
        return -1;                                                                          \
    }
NN_NO_TILE(nn_csr_affine_tiled_d, double)
NN_NO_TILE(nn_csr_affine_tiled_f, float)
NN_NO_TILE(nn_csr_affine_rows_d, double)
NN_NO_TILE(nn_csr_affine_rows_f, float)
#undef NN_NO_TILE
#define NN_NO_TILE(NAME, T)                                                                \
    static inline int NAME(T *dst, ptrdiff_t n_in, ptrdiff_t n_out, const T *v,             \
                           const ptrdiff_t *ind, const ptrdiff_t *ptr, const ptrdiff_t *idx, \
                           ptrdiff_t row0, ptrdiff_t B, const T *D, T alpha, T wbeta)       \
    {                                                                                       \
        (void)dst; (void)n_in; (void)n_out; (void)v; (void)ind; (void)ptr; (void)idx;       \
        (void)row0; (void)B; (void)D; (void)alpha; (void)wbeta;                             \
        return 0;                                                                           \
    }
NN_NO_TILE(nn_csr_weight_grad_tiled_d, double)
NN_NO_TILE(nn_csr_weight_grad_tiled_f, float)
NN_NO_TILE(nn_csr_weight_grad_rows_d, double)
NN_NO_TILE(nn_csr_weight_grad_rows_f, float)
#undef NN_NO_TILE
#endif

/* Whether the tiled loops take these rows: from one nonzero for every two columns.
 * Their cost has a part that grows with the layer (the transposes: every weight of
 * the layer read and written) and a part for each nonzero far below the direct
 * loops'.  Measured (the tile loops): C harness, 100 neurons, 20,000 columns, rows
 * of 100 nonzeros, float64: over 5,000 rows in one call forward 18 against 61-68
 * ms, gradient 25 against 111-115; calls of 512 rows 1.5-2.5x faster.  Drop-in
 * fits (adam, 3 epochs, five alternating): batch 200 of 5,000 x 20,000 (one
 * nonzero a column) 0.93 against 1.15 s; of 3,000 x 50,000 (0.4 a column) 1.53
 * against 1.40; batch 32 (0.16 a column) 3.43 against 2.20. */
static inline int nn_csr_tiles(ptrdiff_t n_in, const ptrdiff_t *ptr, const ptrdiff_t *idx,
                               ptrdiff_t row0, ptrdiff_t B)
{
    ptrdiff_t nnz = 0;
    if (nn_sparse_mode == 0 || !nn_sparse_cpu())
        return 0;
    if (nn_sparse_mode >= 2)
        return 1;
    for (ptrdiff_t i = 0; i < B; i++) {
        const ptrdiff_t r = NN_CSR_ROW(i);
        nnz += ptr[r + 1] - ptr[r];
    }
    return 2 * nnz >= n_in;
}

/* Which of the tiled loops: the row loops where the layer's pack fits the
 * second-level cache with room to spare (nn_dense_pack_len's 1 MB), the tile loops
 * where it would not (a pack of 20,000 inputs x 100 neurons is 16 MB, of 2**18
 * hashed columns 218 MB, every call: measured with the row loops there,
 * sparse_pairs.py's drop-in fit of 5,000 x 20,000 at 0.5% took 1.41 s and its
 * predict_proba of hashed features 215 ms, the tile loops 0.97 s and 66 ms); mode 3
 * (the tests) the tile loops wherever. */
static inline int nn_csr_rows(ptrdiff_t n_in, ptrdiff_t n_out, int f64)
{
    return nn_sparse_mode != 3 && nn_dense_pack_len(n_in, n_out, f64) > 0;
}

/* Z := X W^T + b (B x n_out, rows n_out apart) over the CSR rows; the tiled loops
 * where they run, else the direct ones.  Returns whether every weight (the biases
 * aside) is finite, where the row loops' pack saw them, else -1. */
#define NN_CSR_DISPATCH(NAME, T, ROWS, TILED, DIRECT)                                      \
    static inline int NAME(const T *blk, ptrdiff_t n_in, ptrdiff_t n_out, const T *v,       \
                           const ptrdiff_t *ind, const ptrdiff_t *ptr, const ptrdiff_t *idx, \
                           ptrdiff_t row0, ptrdiff_t B, T *z)                               \
    {                                                                                       \
        int finite = -1, done = 0;                                                          \
        if (nn_csr_tiles(n_in, ptr, idx, row0, B)) {                                        \
            if (nn_csr_rows(n_in, n_out, sizeof(T) == 8)) {                                 \
                finite = ROWS(blk, n_in, n_out, v, ind, ptr, idx, row0, B, z);              \
                done = finite >= 0;                                                         \
            } else {                                                                        \
                done = TILED(blk, n_in, n_out, v, ind, ptr, idx, row0, B, z) == 1;          \
            }                                                                               \
        }                                                                                   \
        if (!done)                                                                          \
            DIRECT(blk, n_in, n_out, v, ind, ptr, idx, row0, B, z);                         \
        return finite;                                                                      \
    }
NN_CSR_DISPATCH(nn_csr_affine_d, double, nn_csr_affine_rows_d, nn_csr_affine_tiled_d,
                nn_csr_affine_portable_d)
NN_CSR_DISPATCH(nn_csr_affine_f, float, nn_csr_affine_rows_f, nn_csr_affine_tiled_f,
                nn_csr_affine_portable_f)
#undef NN_CSR_DISPATCH

/* W := wbeta W + alpha D^T X for the n_out neurons' weights (their biases are the
 * caller's); the tiled loops where they run, else the direct ones */
#define NN_CSR_DISPATCH(NAME, T, ROWS, TILED, DIRECT)                                      \
    static inline void NAME(T *dst, ptrdiff_t n_in, ptrdiff_t n_out, const T *v,            \
                            const ptrdiff_t *ind, const ptrdiff_t *ptr, const ptrdiff_t *idx, \
                            ptrdiff_t row0, ptrdiff_t B, const T *D, T alpha, T wbeta)      \
    {                                                                                       \
        int done = 0;                                                                       \
        if (nn_csr_tiles(n_in, ptr, idx, row0, B))                                          \
            done = nn_csr_rows(n_in, n_out, sizeof(T) == 8)                                 \
                ? ROWS(dst, n_in, n_out, v, ind, ptr, idx, row0, B, D, alpha, wbeta)        \
                : TILED(dst, n_in, n_out, v, ind, ptr, idx, row0, B, D, alpha, wbeta);      \
        if (!done)                                                                          \
            DIRECT(dst, n_in, n_out, v, ind, ptr, idx, row0, B, D, alpha, wbeta);           \
    }
NN_CSR_DISPATCH(nn_csr_weight_grad_d, double, nn_csr_weight_grad_rows_d,
                nn_csr_weight_grad_tiled_d, nn_csr_weight_grad_portable_d)
NN_CSR_DISPATCH(nn_csr_weight_grad_f, float, nn_csr_weight_grad_rows_f,
                nn_csr_weight_grad_tiled_f, nn_csr_weight_grad_portable_f)
#undef NN_CSR_DISPATCH

#undef NN_CSR_ROW
#endif

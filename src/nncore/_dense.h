/* A layer's forward product, Z = X W^T + b, on AVX-512 without BLAS (float64
 * and float32).
 *
 * Why: nncore's layers are narrow (tens to a few hundred neurons) and its
 * minibatches short (tens to a thousand rows).  At those shapes OpenBLAS spends
 * a fifth of a product packing both operands, every call, and reaches about 50
 * GFLOP/s (float64, one core), where 16 independent chains of multiply-adds in
 * registers reach 72-78 on the processor of 1 December's afternoon (this shared
 * machine's processor changes: 110-123 on others).  Here the weights are
 * packed once per call (or once per pass, while they do not change): their
 * transpose, a row of the (n_in + 1) x np matrix per input, the biases in row 0
 * (np: the neurons rounded up to whole vectors, the padding zero).  The rows of
 * X are used where they lie: each of their numbers is broadcast against whole
 * vectors of weights, 8 rows x 3 vectors of neurons at a time (24 accumulators
 * in registers): about 75 GFLOP/s on 1 December's processor, its multiply-adds'
 * own limit (98 of 123 on another).  While a group of 8 rows goes through its
 * first tile, the next group's rows are prefetched into the second-level cache
 * (the first holds the current group's), a cache line per input: a
 * narrow layer is otherwise bound by fetching its inputs (float32 784 -> 30:
 * predict of 60,000 rows 36-39 -> 23-24 ms).  Measured, one thread, predict calls,
 * pack included: 784 -> 100 over 512 rows 75 GFLOP/s against OpenBLAS's 55-58
 * (on a later Xeon with AMX: 84-86 against 60-62); 60,000 rows through
 * 784-30-10, float64 63-68 -> 56-58 ms.  Packs over 1 MB stay
 * with BLAS, which blocks for cache and is level with this or ahead there
 * (float64 784 -> 256: 1.00x), as do products of few rows and calls over few
 * (the pack and its memory would not pay for themselves).
 *
 * Each output is the bias plus the products in the order of the inputs, with
 * fused multiply-adds: a different rounding from BLAS's (a few ulps), the same
 * mathematics.  (The weight gradient's product stays with BLAS: a kernel of
 * the same kind measured 11% faster in isolation but slower in real fits, and
 * so did one reading L-BFGS's inputs packed once per fit, column panels of
 * each row in sequence: 76-81 GFLOP/s against BLAS's 67-68 alone on 784 -> 100
 * over 4,000 rows (pack 64-byte aligned), yet inside a pass no faster than BLAS,
 * and float64 L-BFGS fits of 100 iterations took 3.53 s against 3.24.  Reading
 * the first layer's inputs from that pack in the forward as well, so that a
 * pass reads one copy of them, left the pass slower still.  Tried again on 1
 * December, tiles of 8 neurons x 3 vectors of inputs over blocks of 128 rows, each
 * block's inputs copied a panel at a time to the stack (in place, every row is
 * another page): 60-65 GFLOP/s against BLAS's 52-60 alone over 200 rows, level in
 * the drop-in's default fit (1.72 against 1.74 s, ten fits alternating), L-BFGS
 * fits slower (3.91 against 3.67 s).)
 */
#ifndef NNCORE_DENSE_H
#define NNCORE_DENSE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* products of fewer rows, or with a larger packed matrix, go to BLAS */
#define NN_DENSE_MIN_ROWS 64
#define NN_DENSE_MAX_PACK_BYTES (1 << 20)

/* (the tests switch it off to compare with the BLAS path) */
static int nn_dense_enabled = 1;
/* (and this to compare products passing over zero inputs with whole ones; the first
 * layer's weight gradient in _kernels.pyx, _input_span, reads it too) */
static int nn_dense_skip_zeros = 1;

static inline ptrdiff_t nn_dense_np_d(ptrdiff_t n_out) { return (n_out + 7) & ~(ptrdiff_t)7; }
static inline ptrdiff_t nn_dense_np_f(ptrdiff_t n_out) { return (n_out + 15) & ~(ptrdiff_t)15; }

/* (GCC on x86-64; not on Windows, where GCC's MinGW targets do not align the
 * stack for the 64-byte spills AVX-512 code may make) */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(_WIN32) \
    && !defined(NNCORE_NO_MULTIVERSION)
#include <immintrin.h>

/* whether this build and processor have the packed product */
static inline int nn_dense_cpu(void) { return __builtin_cpu_supports("avx512f"); }

/* whether this machine and setting take the packed product at all */
static inline int nn_dense_available(void) { return nn_dense_enabled && nn_dense_cpu(); }

/* WT[k * np + j] := blk[j * (n_in + 1) + k] for k = 0..n_in (row 0: the biases),
 * zero for j >= n_out.  WT: (n_in + 1) * np doubles, 64-byte aligned.  Returns
 * whether every weight (the biases aside) is finite: only then may the product
 * pass over inputs that are zero (0 * inf is NaN). */
__attribute__((target("avx512f"))) static int
nn_dense_pack_d(const double *blk, ptrdiff_t n_in, ptrdiff_t n_out, double *WT)
{
    const ptrdiff_t ld = n_in + 1, np = nn_dense_np_d(n_out);
    __mmask8 bad = 0;
    for (ptrdiff_t j0 = 0; j0 < np; j0 += 8) {
        ptrdiff_t left = n_out - j0;
        __mmask8 m = (__mmask8)(left >= 8 ? 0xff : (1u << left) - 1);
        const __m512i at = _mm512_setr_epi64(0, ld, 2 * ld, 3 * ld, 4 * ld, 5 * ld, 6 * ld,
                                             7 * ld);
        const double *base = blk + j0 * ld;
        for (ptrdiff_t k = 0; k < ld; k++) {
            const __m512d v = _mm512_mask_i64gather_pd(_mm512_setzero_pd(), m, at, base + k, 8);
            _mm512_store_pd(WT + k * np + j0, v);
            if (k > 0) {  /* (v - v is NaN exactly where v is infinite or NaN) */
                const __m512d d = _mm512_sub_pd(v, v);
                bad |= _mm512_cmp_pd_mask(d, d, _CMP_UNORD_Q);
            }
        }
    }
    return bad == 0;
}

/* rows xr[0..R-1] against neurons j0..j0+8V-1 of WT; the last vector's stores
 * are masked with last.  IDX: over the inputs ks[0..*nk-1] only, else all of them.
 * BUILD: also *nk := the count and ks[0..] := the inputs at which some row is not
 * zero (ks holds n_in + 16).  pf: lines to prefetch, one an input (or NULL); cp:
 * where to copy the rows as they are read, rows n_in apart (or NULL).  IDX and
 * BUILD are constants at every call: each use is a loop of its own. */
static inline __attribute__((always_inline, target("avx512f"))) void
nn_dense_tile_d(const int IDX, const int BUILD, int R, int V, const double *const *xr,
                const double *WT, ptrdiff_t np, ptrdiff_t n_in, int32_t *ks, ptrdiff_t *nk,
                double *Z, ptrdiff_t ldz, __mmask8 last, const char *pf, double *cp)
{
    __m512d acc[8][3];
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++)
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++)
            if (r < R && v < V)
                acc[r][v] = _mm512_load_pd(WT + 8 * v);
    const ptrdiff_t count = IDX ? *nk : n_in;
    ptrdiff_t found = 0;
    for (ptrdiff_t t = 0; t < count; t++) {
        const ptrdiff_t k = IDX ? ks[t] : t;
        const double *w = WT + (k + 1) * np;
        if (!IDX && pf)
            _mm_prefetch(pf + 64 * k, _MM_HINT_T1);
        if (!IDX && (cp || BUILD) && (k & 7) == 0) {
            const __mmask8 cm = (__mmask8)(n_in - k >= 8 ? 0xff : (1u << (n_in - k)) - 1);
            __mmask8 any = 0;
#pragma GCC unroll 8
            for (int r = 0; r < 8; r++)
                if (r < R) {
                    const __m512d xv = _mm512_maskz_loadu_pd(cm, xr[r] + k);
                    if (cp)
                        _mm512_mask_storeu_pd(cp + r * n_in + k, cm, xv);
                    if (BUILD)  /* (NaN is not zero) */
                        any |= _mm512_cmp_pd_mask(xv, _mm512_setzero_pd(), _CMP_NEQ_UQ);
                }
            if (BUILD) {
                const __m512i kv = _mm512_add_epi32(
                    _mm512_set1_epi32((int)k),
                    _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
                _mm512_storeu_si512((void *)(ks + found),
                                    _mm512_maskz_compress_epi32((__mmask16)any, kv));
                found += __builtin_popcount(any);
            }
        }
        __m512d wv[3];
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++)
            if (v < V)
                wv[v] = _mm512_load_pd(w + 8 * v);
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++)
            if (r < R) {
                __m512d x = _mm512_set1_pd(xr[r][k]);
#pragma GCC unroll 3
                for (int v = 0; v < 3; v++)
                    if (v < V)
                        acc[r][v] = _mm512_fmadd_pd(x, wv[v], acc[r][v]);
            }
    }
    if (BUILD)
        *nk = found;
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++)
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++)
            if (r < R && v < V)
                _mm512_mask_storeu_pd(Z + r * ldz + 8 * v, v == V - 1 ? last : 0xff, acc[r][v]);
}

/* The tile of the panel from neuron J: 3 vectors, or the 1-3 left, the last masked. */
#define NN_DENSE_PANEL(TILE, IDX, BUILD, R, LANES, MT, J, PF, CP)                           \
    do {                                                                                    \
        const ptrdiff_t rest_ = n_out - (J);                                                \
        const MT m_ = (MT)(rest_ >= 3 * (LANES) || rest_ % (LANES) == 0                      \
                               ? ~0u : (1u << (rest_ % (LANES))) - 1);                      \
        if (rest_ > 2 * (LANES))                                                            \
            TILE(IDX, BUILD, R, 3, xr, WT + (J), np, n_in, ks, &nk, Z + i * ldz + (J), ldz, \
                 m_, PF, CP);                                                               \
        else if (rest_ > (LANES))                                                           \
            TILE(IDX, BUILD, R, 2, xr, WT + (J), np, n_in, ks, &nk, Z + i * ldz + (J), ldz, \
                 m_, PF, CP);                                                               \
        else                                                                                \
            TILE(IDX, BUILD, R, 1, xr, WT + (J), np, n_in, ks, &nk, Z + i * ldz + (J), ldz, \
                 m_, PF, CP);                                                               \
    } while (0)

/* One group of R rows (xr) across the neurons, a panel of 3 vectors at a time.  The
 * first panel prefetches PF (the next group's rows) when it is not NULL, and copies
 * the rows to CP (rows n_in apart) when that is not NULL, the later panels then
 * reading the copy (nk: n_in, or with USE the list's count, which every panel then
 * takes).  With SKIP it also lists the inputs at which some of the rows
 * is not zero, and the later panels pass over the others, whose products would
 * only add zeros: the same sums, rounded alike (the weights are finite, see
 * nn_dense_pack_d).  Images have such inputs (MNIST's borders are blank in every
 * image), as do one-hot columns.  Measured, 1 thread, 784 -> 100 over minibatches of
 * 200 rows (C harness, 15-21 rounds): the bundled digits blown up to 24 x 24 and
 * padded to 28 x 28 as MNIST's are (62% zeros) 1.24x faster gathered, 1.38x in
 * place; uniform inputs, which have no zeros, level (0-1% slower gathered).  With
 * this alone, the drop-in's default fit on 20,000 such digits 1.10x faster (three
 * alternating rounds 1.04-1.15x), L-BFGS on 4,000 1.09x (with the gradient's span
 * as well: _input_span in _kernels.pyx).  (A list built before the first
 * panel instead, by a pass of its own over the rows, cost 18% on uniform inputs:
 * the rows' fetch then no longer overlaps the products.)  TILE is the dtype's
 * tile, LANES its vector width, MT its mask type. */
#define NN_DENSE_GROUP(TILE, R, LANES, MT, PF, CP, SKIP, USE)                               \
    do {                                                                                    \
        ptrdiff_t j1_ = 0;                                                                  \
        if (!(USE)) {                                                                       \
            if (SKIP)                                                                       \
                NN_DENSE_PANEL(TILE, 0, 1, R, LANES, MT, 0, PF, CP);                        \
            else                                                                            \
                NN_DENSE_PANEL(TILE, 0, 0, R, LANES, MT, 0, PF, CP);                        \
            if ((CP) != NULL)                                                               \
                for (int r_ = 0; r_ < (R); r_++)                                            \
                    xr[r_] = (CP) + r_ * n_in;                                              \
            j1_ = 3 * (LANES);                                                              \
        }                                                                                   \
        if (nk < n_in)                                                                      \
            for (ptrdiff_t j_ = j1_; j_ < n_out; j_ += 3 * (LANES))                         \
                NN_DENSE_PANEL(TILE, 1, 0, R, LANES, MT, j_, (const char *)NULL,            \
                               (__typeof__(CP))NULL);                                       \
        else                                                                                \
            for (ptrdiff_t j_ = j1_; j_ < n_out; j_ += 3 * (LANES))                         \
                NN_DENSE_PANEL(TILE, 0, 0, R, LANES, MT, j_,                                \
                               j_ == 0 ? (PF) : (const char *)NULL, (__typeof__(CP))NULL);  \
    } while (0)

/* the list of a group's inputs: on the stack up to this many inputs */
#define NN_DENSE_KS_STACK 2048

/* ks := room for the list of a group's inputs where skip asks for it and the layer
 * has more than one panel (NULL: none); with lists, the group's own room there */
#define NN_DENSE_KS_OPEN(LANES)                                                             \
    int32_t ks_stack[NN_DENSE_KS_STACK + 16];                                               \
    int32_t *ks = NULL;                                                                     \
    if (skip && n_out > 3 * (LANES) && !lists)                                              \
        ks = n_in <= NN_DENSE_KS_STACK ? ks_stack                                           \
                                       : (int32_t *)malloc((size_t)(n_in + 16) * sizeof(int32_t)); \
    int skip8 = ks != NULL || (lists && skip)
#define NN_DENSE_KS_CLOSE()                                                                 \
    if (ks != ks_stack && !lists)                                                           \
        free(ks)

/* The groups of 8 rows (i: the first row): with lists, group i / 8 lists its inputs
 * in its room there (counts: how many, n_in for none) where skip asks, or with use
 * takes the list given, formed by a product of the same rows by other neurons.  A
 * group without a zero input ends the listing for the call's later groups: inputs
 * without zeros then cost one group's listing a call (measured, look-ahead panels
 * of 24 neurons over 32 rows, C harness: 1-5% slower when every group listed). */
#define NN_DENSE_GROUPS8(TILE, LANES, MT, ROW, PF, CP)                                      \
    for (; i + 8 <= B; i += 8) {                                                            \
        ptrdiff_t nk = n_in;                                                                \
        for (int r = 0; r < 8; r++)                                                         \
            xr[r] = (ROW);                                                                  \
        if (lists)                                                                          \
            ks = lists + (i / 8) * (n_in + 16);                                             \
        if (use) {                                                                          \
            nk = counts[i / 8];                                                             \
            NN_DENSE_GROUP(TILE, 8, LANES, MT, PF, CP, 0, 1);                               \
        } else {                                                                            \
            NN_DENSE_GROUP(TILE, 8, LANES, MT, PF, CP, skip8, 0);                           \
            if (lists)                                                                      \
                counts[i / 8] = nk;                                                         \
            if (nk == n_in)                                                                 \
                skip8 = 0;                                                                  \
        }                                                                                   \
    }

/* The rows after the groups of 8: groups of 4, then single rows, none listing
 * (ROW: row i + r's address, CP: where the group's rows are copied, or NULL). */
#define NN_DENSE_REST(TILE, LANES, MT, ROW, CP)                                             \
    for (; i + 4 <= B; i += 4) {                                                            \
        for (int r = 0; r < 4; r++)                                                         \
            xr[r] = (ROW);                                                                  \
        ptrdiff_t nk = n_in;                                                                \
        NN_DENSE_GROUP(TILE, 4, LANES, MT, (const char *)NULL, CP, 0, 0);                   \
    }                                                                                       \
    for (; i < B; i++) {                                                                    \
        const int r = 0;                                                                    \
        xr[r] = (ROW);                                                                      \
        ptrdiff_t nk = n_in;                                                                \
        NN_DENSE_GROUP(TILE, 1, LANES, MT, (const char *)NULL, CP, 0, 0);                   \
    }

/* NAME(WT, X, B, n_in, n_out, Z, ldz, skip, lists, counts, use): Z (B x n_out,
 * row-major, rows ldz apart) := X WT[1:] + WT[0] for the B rows of X (row-major,
 * n_in columns), WT as the dtype's pack made it: rows in groups of 8, then 4, then
 * 1.  While a group of 8 goes through its first panel, the next group's rows (8 n_in
 * values) are prefetched.  skip: the pack's weights are finite (see NN_DENSE_GROUP).
 * lists (or NULL), counts, use: see NN_DENSE_GROUPS8 (lists hold B / 8 rooms of
 * n_in + 16). */
#define NN_DENSE_FWD(NAME, T, TILE, LANES, MT, NP)                                          \
    __attribute__((target("avx512f"))) static void                                         \
    NAME(const T *WT, const T *X, ptrdiff_t B, ptrdiff_t n_in, ptrdiff_t n_out, T *Z,       \
         ptrdiff_t ldz, int skip, int32_t *lists, ptrdiff_t *counts, int use)               \
    {                                                                                       \
        const ptrdiff_t np = NP(n_out);                                                     \
        const T *xr[8];                                                                     \
        NN_DENSE_KS_OPEN(LANES);                                                            \
        ptrdiff_t i = 0;                                                                    \
        NN_DENSE_GROUPS8(TILE, LANES, MT, X + (i + r) * n_in,                               \
                         i + 16 <= B ? (const char *)(X + (i + 8) * n_in) : NULL, (T *)NULL); \
        NN_DENSE_REST(TILE, LANES, MT, X + (i + r) * n_in, (T *)NULL);                      \
        NN_DENSE_KS_CLOSE();                                                                \
    }

/* NAME(WT, X, idx, B, n_in, n_out, Z, ldz, XC, skip, lists, counts): the same
 * product for the rows idx[0..B-1] of X, which it also copies to XC (B x n_in,
 * row-major) as its first panel reads them (lists, counts: where the groups' lists
 * go, or NULL): a shuffled minibatch's gather and product in one pass over its
 * rows, where a copy first wrote them and the product read them back.  Measured, 1
 * thread, 784 -> 100 over shuffled minibatches of 200 of 20,000 rows: 10-12%
 * less time than the copy and product (a C harness, 3 MB passed over between
 * minibatches); the drop-in's default fit about 2% faster (medians of five runs of
 * 10-20 alternating fits: 0.95-1.04, median 0.98), rows from memory at this
 * machine's 8 GB/s being most of what the copy cost.  No prefetch of the next
 * group's rows: each row is read in order, which the hardware's prefetcher
 * follows, and prefetching them by hand (one line an input, as the product of
 * rows in place does) left the pass level with the copy and product. */
#define NN_DENSE_FWD_GATHER(NAME, T, TILE, LANES, MT, NP)                                   \
    __attribute__((target("avx512f"))) static void                                         \
    NAME(const T *WT, const T *X, const ptrdiff_t *idx, ptrdiff_t B, ptrdiff_t n_in,        \
         ptrdiff_t n_out, T *Z, ptrdiff_t ldz, T *XC, int skip, int32_t *lists,             \
         ptrdiff_t *counts)                                                                 \
    {                                                                                       \
        const ptrdiff_t np = NP(n_out);                                                     \
        const T *xr[8];                                                                     \
        const int use = 0;                                                                  \
        NN_DENSE_KS_OPEN(LANES);                                                            \
        ptrdiff_t i = 0;                                                                    \
        NN_DENSE_GROUPS8(TILE, LANES, MT, X + idx[i + r] * n_in, (const char *)NULL,        \
                         XC + i * n_in);                                                    \
        NN_DENSE_REST(TILE, LANES, MT, X + idx[i + r] * n_in, XC + i * n_in);               \
        NN_DENSE_KS_CLOSE();                                                                \
    }

NN_DENSE_FWD(nn_dense_fwd_d, double, nn_dense_tile_d, 8, __mmask8, nn_dense_np_d)
NN_DENSE_FWD_GATHER(nn_dense_fwd_gather_d, double, nn_dense_tile_d, 8, __mmask8, nn_dense_np_d)

/* float32: the same with 16 neurons a vector (np a multiple of 16) */
__attribute__((target("avx512f"))) static int
nn_dense_pack_f(const float *blk, ptrdiff_t n_in, ptrdiff_t n_out, float *WT)
{
    const ptrdiff_t ld = n_in + 1, np = nn_dense_np_f(n_out);
    /* (int32 offsets: 15 ld stays far below 2^31 for any pack under the size limit) */
    const int l = (int)ld;
    const __m512i at = _mm512_setr_epi32(0, l, 2 * l, 3 * l, 4 * l, 5 * l, 6 * l, 7 * l, 8 * l,
                                         9 * l, 10 * l, 11 * l, 12 * l, 13 * l, 14 * l, 15 * l);
    __mmask16 bad = 0;
    for (ptrdiff_t j0 = 0; j0 < np; j0 += 16) {
        ptrdiff_t left = n_out - j0;
        __mmask16 m = (__mmask16)(left >= 16 ? 0xffff : (1u << left) - 1);
        const float *base = blk + j0 * ld;
        for (ptrdiff_t k = 0; k < ld; k++) {
            const __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, at, base + k, 4);
            _mm512_store_ps(WT + k * np + j0, v);
            if (k > 0) {
                const __m512 d = _mm512_sub_ps(v, v);
                bad |= _mm512_cmp_ps_mask(d, d, _CMP_UNORD_Q);
            }
        }
    }
    return bad == 0;
}

static inline __attribute__((always_inline, target("avx512f"))) void
nn_dense_tile_f(const int IDX, const int BUILD, int R, int V, const float *const *xr,
                const float *WT, ptrdiff_t np, ptrdiff_t n_in, int32_t *ks, ptrdiff_t *nk,
                float *Z, ptrdiff_t ldz, __mmask16 last, const char *pf, float *cp)
{
    __m512 acc[8][3];
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++)
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++)
            if (r < R && v < V)
                acc[r][v] = _mm512_load_ps(WT + 16 * v);
    const ptrdiff_t count = IDX ? *nk : n_in;
    ptrdiff_t found = 0;
    for (ptrdiff_t t = 0; t < count; t++) {
        const ptrdiff_t k = IDX ? ks[t] : t;
        const float *w = WT + (k + 1) * np;
        if (!IDX && pf && (k & 1) == 0)
            _mm_prefetch(pf + 32 * k, _MM_HINT_T1);
        if (!IDX && (cp || BUILD) && (k & 15) == 0) {
            const __mmask16 cm = (__mmask16)(n_in - k >= 16 ? 0xffff : (1u << (n_in - k)) - 1);
            __mmask16 any = 0;
#pragma GCC unroll 8
            for (int r = 0; r < 8; r++)
                if (r < R) {
                    const __m512 xv = _mm512_maskz_loadu_ps(cm, xr[r] + k);
                    if (cp)
                        _mm512_mask_storeu_ps(cp + r * n_in + k, cm, xv);
                    if (BUILD)
                        any |= _mm512_cmp_ps_mask(xv, _mm512_setzero_ps(), _CMP_NEQ_UQ);
                }
            if (BUILD) {
                const __m512i kv = _mm512_add_epi32(
                    _mm512_set1_epi32((int)k),
                    _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
                _mm512_storeu_si512((void *)(ks + found), _mm512_maskz_compress_epi32(any, kv));
                found += __builtin_popcount(any);
            }
        }
        __m512 wv[3];
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++)
            if (v < V)
                wv[v] = _mm512_load_ps(w + 16 * v);
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++)
            if (r < R) {
                __m512 x = _mm512_set1_ps(xr[r][k]);
#pragma GCC unroll 3
                for (int v = 0; v < 3; v++)
                    if (v < V)
                        acc[r][v] = _mm512_fmadd_ps(x, wv[v], acc[r][v]);
            }
    }
    if (BUILD)
        *nk = found;
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++)
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++)
            if (r < R && v < V)
                _mm512_mask_storeu_ps(Z + r * ldz + 16 * v, v == V - 1 ? last : 0xffff,
                                      acc[r][v]);
}

NN_DENSE_FWD(nn_dense_fwd_f, float, nn_dense_tile_f, 16, __mmask16, nn_dense_np_f)
NN_DENSE_FWD_GATHER(nn_dense_fwd_gather_f, float, nn_dense_tile_f, 16, __mmask16, nn_dense_np_f)
#undef NN_DENSE_FWD
#undef NN_DENSE_FWD_GATHER
#undef NN_DENSE_GROUP
#undef NN_DENSE_PANEL
#undef NN_DENSE_KS_OPEN
#undef NN_DENSE_KS_CLOSE
#undef NN_DENSE_GROUPS8
#undef NN_DENSE_REST

#else
static inline int nn_dense_cpu(void) { return 0; }
static inline int nn_dense_available(void) { return 0; }
/* (never called: nn_dense_available() is 0; here so that the module links) */
#define NN_DENSE_STUBS(T, SUF)                                                              \
    static inline int nn_dense_pack_##SUF(const T *blk, ptrdiff_t n_in, ptrdiff_t n_out,    \
                                          T *WT)                                            \
    {                                                                                       \
        (void)blk; (void)n_in; (void)n_out; (void)WT;                                       \
        return 0;                                                                           \
    }                                                                                       \
    static inline void nn_dense_fwd_##SUF(const T *WT, const T *X, ptrdiff_t B,             \
                                          ptrdiff_t n_in, ptrdiff_t n_out, T *Z,            \
                                          ptrdiff_t ldz, int skip, int32_t *lists,          \
                                          ptrdiff_t *counts, int use)                       \
    {                                                                                       \
        (void)WT; (void)X; (void)B; (void)n_in; (void)n_out; (void)Z; (void)ldz;            \
        (void)skip; (void)lists; (void)counts; (void)use;                                   \
    }                                                                                       \
    static inline void nn_dense_fwd_gather_##SUF(const T *WT, const T *X,                   \
                                                 const ptrdiff_t *idx, ptrdiff_t B,         \
                                                 ptrdiff_t n_in, ptrdiff_t n_out, T *Z,     \
                                                 ptrdiff_t ldz, T *XC, int skip,            \
                                                 int32_t *lists, ptrdiff_t *counts)         \
    {                                                                                       \
        (void)WT; (void)X; (void)idx; (void)B; (void)n_in; (void)n_out; (void)Z;            \
        (void)ldz; (void)XC; (void)skip; (void)lists; (void)counts;                         \
    }
NN_DENSE_STUBS(double, d)
NN_DENSE_STUBS(float, f)
#undef NN_DENSE_STUBS
#endif

/* the length of a layer's pack (elements of the dtype, f64 or not), or 0 for a
 * layer too wide to pack */
static inline ptrdiff_t nn_dense_pack_len(ptrdiff_t n_in, ptrdiff_t n_out, int f64)
{
    ptrdiff_t len = (n_in + 1) * (f64 ? nn_dense_np_d(n_out) : nn_dense_np_f(n_out));
    return len * (f64 ? 8 : 4) <= NN_DENSE_MAX_PACK_BYTES ? len : 0;
}

/* elements the packs of every layer of sizes[0..L] take, with room to align the
 * start to 64 bytes (each pack is whole 64-byte lines) */
static inline ptrdiff_t nn_dense_pack_size(const ptrdiff_t *sizes, ptrdiff_t L, int f64)
{
    ptrdiff_t total = 0;
    for (ptrdiff_t l = 0; l < L; l++)
        total += nn_dense_pack_len(sizes[l], sizes[l + 1], f64);
    return total ? total + 16 : 0;
}

#endif

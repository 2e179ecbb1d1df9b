/* Elementwise loops of nncore's kernels, written so that compilers vectorise them.
 *
 * Why: libm's exp is a scalar call, and a layer of 256 sigmoid units over a
 * batch of 1024 spends more time in exp than BLAS spends in the matrix
 * products.  nn_exp below is branch-free (range reduction to |r| <= ln2/2,
 * the degree-12 Taylor polynomial, whose truncation error r^13/13! < 2e-16 is
 * below one ulp, and 2^k assembled from its bits), so the loops that call it
 * vectorise.  Where GCC supports function multiversioning (glibc on x86-64),
 * each loop is also compiled for AVX2 and AVX-512 and picked at load time;
 * wheels stay portable (no -march=native).
 *
 * Inputs below the exp underflow threshold give exactly 0 (not a denormal):
 * the largest error that causes is 2^-1022, far below any tolerance, and it
 * keeps denormals out of the backward pass.  NaN propagates.
 */
#ifndef NNCORE_FASTMATH_H
#define NNCORE_FASTMATH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && defined(__GLIBC__) && !defined(NNCORE_NO_MULTIVERSION)
#define NN_CLONES __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#define NN_X86_DISPATCH 1
#else
#define NN_CLONES
#endif

static inline double nn_exp_d(double x)
{
    /* exp(x) for x <= 0 (callers pass -|z|); exactly 0 below -708 */
    const double log2e = 1.4426950408889634, ln2_hi = 6.93147180369123816490e-01,
                 ln2_lo = 1.90821492927058770002e-10, shifter = 6755399441055744.0; /* 1.5*2^52 */
    double xc = x < -708.0 ? -708.0 : x;
    double t = xc * log2e + shifter;
    double k = t - shifter;                   /* round(x / ln2) */
    double r = (xc - k * ln2_hi) - k * ln2_lo;
    double p = 1.0 / 479001600.0;             /* 1/12! */
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    uint64_t bits;
    memcpy(&bits, &t, sizeof bits);           /* low bits of t hold k */
    bits = (bits + 1023u) << 52;              /* 2^k, k in [-1022, 0] */
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    double e = p * scale;
    return x < -708.0 ? 0.0 : e;
}

static inline float nn_exp_f(float x)
{
    /* exp(x) for x <= 0 in float; exactly 0 below -87 (degree 7: r^8/8! < 6e-9) */
    const float log2e = 1.44269504f, ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f,
                shifter = 12582912.0f; /* 1.5*2^23 */
    float xc = x < -87.0f ? -87.0f : x;
    float t = xc * log2e + shifter;
    float k = t - shifter;
    float r = (xc - k * ln2_hi) - k * ln2_lo;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    uint32_t bits;
    memcpy(&bits, &t, sizeof bits);
    bits = (bits + 127u) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float e = p * scale;
    return x < -87.0f ? 0.0f : e;
}

/* a := 1 / (1 + e^-z) in place: e = exp(-|z|) never overflows, and
 * sigma(z) = 1/(1+e) for z >= 0, e/(1+e) for z < 0. */
#define NN_SIGMOID(NAME, T, EXP, ABS)                                        \
    NN_CLONES static void NAME(T *restrict z, ptrdiff_t n)                   \
    {                                                                        \
        for (ptrdiff_t i = 0; i < n; i++) {                                  \
            T v = z[i];                                                      \
            T e = EXP(-ABS(v));                                              \
            T s = (T)1 / ((T)1 + e);                                         \
            z[i] = v >= 0 ? s : e * s;                                       \
        }                                                                    \
    }

/* z := exp(z) in place for z <= 0: the softmax's logits less their row's maximum */
#define NN_EXP_NONPOS(NAME, T, EXP)                                          \
    NN_CLONES static void NAME(T *restrict z, ptrdiff_t n)                   \
    {                                                                        \
        for (ptrdiff_t i = 0; i < n; i++)                                    \
            z[i] = EXP(z[i]);                                                \
    }
NN_EXP_NONPOS(nn_exp_nonpos_d, double, nn_exp_d)
NN_EXP_NONPOS(nn_exp_nonpos_f, float, nn_exp_f)

static inline double nn_fabs_d(double v) { return v < 0 ? -v : v; }
static inline float nn_fabs_f(float v) { return v < 0 ? -v : v; }

NN_SIGMOID(nn_sigmoid_d, double, nn_exp_d, nn_fabs_d)
NN_SIGMOID(nn_sigmoid_f, float, nn_exp_f, nn_fabs_f)

/* a := tanh(z) in place, as sign(z) * -m / (2 + m) with m = expm1(-2|z|).
 * expm1 is taken from exp where exp(y) <= 0.7 (no cancellation in exp(y) - 1)
 * and from its Taylor series where |y| < ln2 / 2 (degree 13 in double, 8 in
 * float: truncation below one ulp), so small z keep full relative precision. */
static inline double nn_expm1_neg_d(double y)
{
    double p = 1.0 / 6227020800.0;            /* 1/13! */
    p = p * y + 1.0 / 479001600.0;
    p = p * y + 1.0 / 39916800.0;
    p = p * y + 1.0 / 3628800.0;
    p = p * y + 1.0 / 362880.0;
    p = p * y + 1.0 / 40320.0;
    p = p * y + 1.0 / 5040.0;
    p = p * y + 1.0 / 720.0;
    p = p * y + 1.0 / 120.0;
    p = p * y + 1.0 / 24.0;
    p = p * y + 1.0 / 6.0;
    p = p * y + 0.5;
    p = p * y + 1.0;
    double small = p * y;
    double large = nn_exp_d(y) - 1.0;
    return y > -0.34657359027997264 ? small : large;
}

static inline float nn_expm1_neg_f(float y)
{
    float p = 1.0f / 362880.0f;               /* 1/9! */
    p = p * y + 1.0f / 40320.0f;
    p = p * y + 1.0f / 5040.0f;
    p = p * y + 1.0f / 720.0f;
    p = p * y + 1.0f / 120.0f;
    p = p * y + 1.0f / 24.0f;
    p = p * y + 1.0f / 6.0f;
    p = p * y + 0.5f;
    p = p * y + 1.0f;
    float small = p * y;
    float large = nn_exp_f(y) - 1.0f;
    return y > -0.34657359f ? small : large;
}

#define NN_TANH(NAME, T, EXPM1, ABS)                                         \
    NN_CLONES static void NAME(T *restrict z, ptrdiff_t n)                   \
    {                                                                        \
        for (ptrdiff_t i = 0; i < n; i++) {                                  \
            T v = z[i];                                                      \
            T m = EXPM1((T)-2 * ABS(v));                                     \
            T t = -m / ((T)2 + m);                                           \
            z[i] = v < 0 ? -t : t;                                           \
        }                                                                    \
    }
NN_TANH(nn_tanh_d, double, nn_expm1_neg_d, nn_fabs_d)
NN_TANH(nn_tanh_f, float, nn_expm1_neg_f, nn_fabs_f)

/* d := d * a (1 - a): the sigmoid's derivative through its value */
#define NN_SIGMOID_PRIME(NAME, T)                                            \
    NN_CLONES static void NAME(T *restrict d, const T *restrict a, ptrdiff_t n) \
    {                                                                        \
        for (ptrdiff_t i = 0; i < n; i++)                                    \
            d[i] = d[i] * (a[i] * ((T)1 - a[i]));                            \
    }
NN_SIGMOID_PRIME(nn_sigmoid_prime_mul_d, double)
NN_SIGMOID_PRIME(nn_sigmoid_prime_mul_f, float)

/* a := max(z, slope z) (relu: slope 0); NaN stays NaN */
#define NN_RELU(NAME, T)                                                     \
    NN_CLONES static void NAME(T *restrict z, ptrdiff_t n, T slope)          \
    {                                                                        \
        for (ptrdiff_t i = 0; i < n; i++) {                                  \
            T v = z[i];                                                      \
            T neg = slope == 0 ? (T)0 : slope * v; /* relu(-inf) is 0 */     \
            z[i] = v > 0 ? v : (v != v ? v : neg);                           \
        }                                                                    \
    }
NN_RELU(nn_relu_d, double)
NN_RELU(nn_relu_f, float)

/* d := d * (a > 0 ? 1 : slope) */
#define NN_RELU_PRIME(NAME, T)                                               \
    NN_CLONES static void NAME(T *restrict d, const T *restrict a, ptrdiff_t n, T slope) \
    {                                                                        \
        for (ptrdiff_t i = 0; i < n; i++)                                    \
            d[i] = a[i] > 0 ? d[i] : d[i] * slope;                           \
    }
NN_RELU_PRIME(nn_relu_prime_mul_d, double)
NN_RELU_PRIME(nn_relu_prime_mul_f, float)

/* d := d * (1 - a^2) */
#define NN_TANH_PRIME(NAME, T)                                               \
    NN_CLONES static void NAME(T *restrict d, const T *restrict a, ptrdiff_t n) \
    {                                                                        \
        for (ptrdiff_t i = 0; i < n; i++)                                    \
            d[i] = d[i] * ((T)1 - a[i] * a[i]);                              \
    }
NN_TANH_PRIME(nn_tanh_prime_mul_d, double)
NN_TANH_PRIME(nn_tanh_prime_mul_f, float)

/* s[j] := sum_i D[i, j] for a row-major B x n matrix (row by row: contiguous) */
#define NN_COLSUM(NAME, T)                                                   \
    NN_CLONES static void NAME(const T *restrict D, ptrdiff_t B, ptrdiff_t n, T *restrict s) \
    {                                                                        \
        for (ptrdiff_t j = 0; j < n; j++)                                    \
            s[j] = 0;                                                        \
        for (ptrdiff_t i = 0; i < B; i++)                                    \
            for (ptrdiff_t j = 0; j < n; j++)                                \
                s[j] += D[i * n + j];                                        \
    }
NN_COLSUM(nn_colsum_d, double)
NN_COLSUM(nn_colsum_f, float)

/* sum x[i]^2 in double.  Eight independent partial sums: a single running sum is
 * a chain of dependent additions (one per 4 cycles), which the compiler may not
 * reorder without -ffast-math; eight lanes vectorise and are as accurate. */
#define NN_SUMSQ(NAME, T)                                                    \
    NN_CLONES static double NAME(const T *restrict x, ptrdiff_t n)          \
    {                                                                        \
        double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};                            \
        ptrdiff_t i = 0;                                                     \
        for (; i + 8 <= n; i += 8)                                           \
            for (int j = 0; j < 8; j++)                                      \
                acc[j] += (double)x[i + j] * (double)x[i + j];               \
        for (; i < n; i++)                                                   \
            acc[0] += (double)x[i] * (double)x[i];                           \
        return ((acc[0] + acc[4]) + (acc[1] + acc[5]))                       \
             + ((acc[2] + acc[6]) + (acc[3] + acc[7]));                      \
    }
NN_SUMSQ(nn_sumsq_d, double)
NN_SUMSQ(nn_sumsq_f, float)

/* z[i, j] := t[j, i] + b[j * bs]: a B x n row-major layer from its transpose t
 * (n x B, row-major) and the biases at stride bs.  The forward pass computes
 * the transpose because BLAS runs that orientation faster (see _forward). */
#define NN_TRANSPOSE_BIAS(NAME, T)                                           \
    NN_CLONES static void NAME(const T *restrict t, ptrdiff_t B, ptrdiff_t n, \
                               const T *restrict b, ptrdiff_t bs, T *restrict z) \
    {                                                                        \
        for (ptrdiff_t i0 = 0; i0 < B; i0 += 8) {                            \
            ptrdiff_t i1 = i0 + 8 < B ? i0 + 8 : B;                          \
            for (ptrdiff_t j = 0; j < n; j++) {                              \
                const T bj = b[j * bs];                                      \
                for (ptrdiff_t i = i0; i < i1; i++)                          \
                    z[i * n + j] = t[j * B + i] + bj;                        \
            }                                                                \
        }                                                                    \
    }
NN_TRANSPOSE_BIAS(nn_transpose_bias_d, double)
NN_TRANSPOSE_BIAS(nn_transpose_bias_f, float)

/* 1 if any of x[0:n] is NaN or +-inf (all exponent bits set), else 0.  On the
 * bits, so that it vectorises (a float comparison reduction would need
 * -ffast-math, which would also let the compiler assume no NaN exists). */
#define NN_ANY_NONFINITE(NAME, T, U, EXP)                                    \
    NN_CLONES static int NAME(const T *restrict x, ptrdiff_t n)              \
    {                                                                        \
        U bad = 0;                                                           \
        for (ptrdiff_t i = 0; i < n; i++) {                                  \
            U b;                                                             \
            memcpy(&b, x + i, sizeof b);                                     \
            bad |= (U)((b & EXP) == EXP);                                    \
        }                                                                    \
        return bad != 0;                                                     \
    }
NN_ANY_NONFINITE(nn_any_nonfinite_d, double, uint64_t, 0x7FF0000000000000ULL)
NN_ANY_NONFINITE(nn_any_nonfinite_f, float, uint32_t, 0x7F800000U)

/* ------------------------------------------------------------------ subnormals
 * Saturated sigmoid units make deltas of ~1e-40, below float32's smallest normal
 * number, and x86 processors take microcode assists on subnormal operands and
 * results: the matrix products of a saturated float32 network ran 1.7 times
 * slower.  Each kernel thread flushes subnormals to zero (FTZ, and treats
 * subnormal inputs as zero, DAZ) while it computes, and puts the caller's
 * floating-point control state back before it returns: the control register is
 * per thread, so no other thread, and not the caller afterwards, sees the change.
 * The results differ from exact arithmetic only by values below 1.2e-38 (float)
 * or 2.2e-308 (double).  aarch64 has FZ (bit 24 of FPCR); elsewhere nothing. */
#if defined(__x86_64__) || defined(_M_X64) || defined(__SSE2__)
#include <xmmintrin.h>
typedef unsigned int nn_fpstate;
static inline nn_fpstate nn_fp_flush_enter(void)
{
    nn_fpstate old = _mm_getcsr();
    _mm_setcsr(old | 0x8040u); /* FTZ (bit 15) | DAZ (bit 6) */
    return old;
}
static inline void nn_fp_flush_leave(nn_fpstate old) { _mm_setcsr(old); }
static inline unsigned long long nn_fp_control(void) { return _mm_getcsr(); }
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
typedef unsigned long long nn_fpstate;
static inline nn_fpstate nn_fp_flush_enter(void)
{
    unsigned long long fpcr;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
    __asm__ __volatile__("msr fpcr, %0" : : "r"(fpcr | (1ULL << 24)));
    return fpcr;
}
static inline void nn_fp_flush_leave(nn_fpstate old) { __asm__ __volatile__("msr fpcr, %0" : : "r"(old)); }
static inline unsigned long long nn_fp_control(void)
{
    unsigned long long fpcr;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(fpcr));
    return fpcr;
}
#else
typedef int nn_fpstate;
static inline nn_fpstate nn_fp_flush_enter(void) { return 0; }
static inline void nn_fp_flush_leave(nn_fpstate old) { (void)old; }
static inline unsigned long long nn_fp_control(void) { return 0; }
#endif

/* ------------------------------------------------------------------ updates
 * One optimiser update of a contiguous range of the parameter vector, with the
 * gradient's L2 term folded in (wd = 0 for biases): one pass over P, G and the
 * state instead of three, the per-step constants computed once by the caller, and
 * float arithmetic for float parameters, so that the loops vectorise.
 *   NN_SGD          P -= r g
 *   NN_MOMENTUM     v = mu v + g;  P -= r v              (NN_NESTEROV: P -= r (g + mu v))
 *   NN_ADAM         m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *                   P -= a m / (sqrt(v) q + eps)    a = r/(1-b1^t), q = 1/sqrt(1-b2^t)
 *   NN_SK_MOMENTUM  v = mu v - r g;  P += v              (NN_SK_NESTEROV: P += mu v - r g)
 *   NN_SK_ADAM      m, v as Adam;  P -= a m / (sqrt(v) + eps)   a = r sqrt(1-b2^t)/(1-b1^t)
 * where g = G + wd P.  The kinds are the kernels' OPT_* ids. */
enum { NN_SGD = 0, NN_MOMENTUM = 1, NN_NESTEROV = 2, NN_ADAM = 3, NN_SK_MOMENTUM = 4,
       NN_SK_NESTEROV = 5, NN_SK_ADAM = 6 };

typedef struct {
    int kind;
    int zero_g; /* G := 0 once read: the gradient buffer is ready for the next step's
                 * products to add into (beta = 1), which spares BLAS its own pass to
                 * zero it (beta = 0) over memory no longer in cache */
    double lr, mu, b1, b2, eps;
    double a, q; /* Adam's per-step constants (see above) */
} nn_update;

/* Adam's step without the divider, on AVX-512.  Its square root and division, one
 * unit per core, bound the IEEE loop (about 1.5 ns a float64 parameter when
 * first measured here, 2.7x this loop then): instead sqrt(v) from the 14-bit
 * estimate y of 1/sqrt(v), as v y / sqrt(1 - h) with h = 1 - v y^2, the series
 * in h to h^3 for double (to h for float), and 1/(sqrt(v) q + eps) from its
 * estimate and Newton's iterations (two for double: 14 -> 28 -> 56 bits; one for
 * float).  In the first-level cache the loop is bound by its vector operations;
 * with its vectors coming from the third-level cache, as part of them do in an
 * epoch, by their traffic (benchmarks/adam_loop.c).  The series takes two
 * operations a vector fewer than two Newton steps for y, and a zeroing mask for
 * v = inf one fewer than a blend: 17-23% faster in the first-level cache, 8-9%
 * over 79,510 parameters run back to back (part of them in the second), Adam's epoch
 * 1.36-1.39 -> 1.25-1.31x SGD's (784-100-10, 4,000 rows, batch 32; float32
 * 1.28-1.35 -> 1.24-1.27x).  Tested: over values spanning many decades, steps
 * within 4 ulps of the IEEE loop's (the mean 0.47 ulp in float64, 0.4 in
 * float32; with the Newton steps 0.6), far inside the reference twin's
 * tolerance.  v = 0 gives sqrt(v) = 0 (the estimate is taken of max(v, the
 * smallest normal)); v = +inf gives a zero step, as m / inf does; NaN
 * propagates.  Called only with eps > 0 (so the divisor is never 0).  Each takes
 * whole vectors (8 doubles, 16 floats) and returns how many elements it took; the
 * portable loop does the rest, and sq += sum P^2 of the elements taken. */
#ifdef NN_X86_DISPATCH
#include <immintrin.h>
/* (the sum of squares specialised away when not wanted: one operation a vector
 * fewer) */
static inline __attribute__((always_inline, target("avx512f"))) ptrdiff_t
nn_adam_avx512_d_body(const nn_update *u, double *restrict P, double *restrict G,
                      double *restrict M, double *restrict V, ptrdiff_t n, double wd,
                      double *sq, const int want_sq)
{
    __m512d acc = _mm512_setzero_pd();
    const __m512d b1 = _mm512_set1_pd(u->b1), b2 = _mm512_set1_pd(u->b2);
    const __m512d c1 = _mm512_set1_pd(1.0 - u->b1), c2 = _mm512_set1_pd(1.0 - u->b2);
    const __m512d vwd = _mm512_set1_pd(wd), a = _mm512_set1_pd(u->a), q = _mm512_set1_pd(u->q);
    const __m512d eps = _mm512_set1_pd(u->eps), one = _mm512_set1_pd(1.0);
    const __m512d h1 = _mm512_set1_pd(0.5), h2 = _mm512_set1_pd(0.375);
    const __m512d h3 = _mm512_set1_pd(0.3125), two = _mm512_set1_pd(2.0);
    const __m512d tiny = _mm512_set1_pd(2.2250738585072014e-308);
    const __m512d inf = _mm512_set1_pd(__builtin_inf());
    ptrdiff_t i = 0;
    for (; i + 8 <= n; i += 8) {
        /* (2 kB ahead, owned: the three vectors come from the third-level cache
         * when the state outgrows the second, 784-100-10 in float64; measured,
         * 1 kB ahead: the Adam epoch 1.33-1.36 -> 1.28-1.34x SGD's in three runs,
         * no gain in float32, whose state fits; 2 kB: 147-155 -> 144-153 ms an
         * epoch in three alternating pairs, 4 kB level with 2) */
        if (i + 264 <= n) {
            _mm_prefetch((const char *)(P + i + 256), _MM_HINT_ET0);
            _mm_prefetch((const char *)(M + i + 256), _MM_HINT_ET0);
            _mm_prefetch((const char *)(V + i + 256), _MM_HINT_ET0);
        }
        __m512d p = _mm512_loadu_pd(P + i);
        if (want_sq)
            acc = _mm512_fmadd_pd(p, p, acc);
        __m512d g = _mm512_fmadd_pd(vwd, p, _mm512_loadu_pd(G + i));
        if (u->zero_g)
            _mm512_storeu_pd(G + i, _mm512_setzero_pd());
        __m512d m = _mm512_fmadd_pd(b1, _mm512_loadu_pd(M + i), _mm512_mul_pd(c1, g));
        __m512d v = _mm512_fmadd_pd(b2, _mm512_loadu_pd(V + i),
                                    _mm512_mul_pd(c2, _mm512_mul_pd(g, g)));
        _mm512_storeu_pd(M + i, m);
        _mm512_storeu_pd(V + i, v);
        /* sqrt(v) = s / sqrt(1 - h), s = v y, h = 1 - v y^2 from y = rsqrt14(v)
         * (|h| < 2^-13): the series to h^3 leaves 0.3 ulp (two Newton steps for y
         * took two operations more); v = 0 gives s = 0 (y from tiny, not
         * infinite), a NaN v NaN */
        __m512d y = _mm512_rsqrt14_pd(_mm512_max_pd(v, tiny));
        __m512d s = _mm512_mul_pd(v, y);
        __m512d h = _mm512_fnmadd_pd(s, y, one);
        __m512d c = _mm512_fmadd_pd(_mm512_fmadd_pd(h, h3, h2), h, h1);
        s = _mm512_fmadd_pd(_mm512_mul_pd(s, h), c, s);
        __m512d d = _mm512_fmadd_pd(s, q, eps);
        __m512d r = _mm512_rcp14_pd(d);
        r = _mm512_mul_pd(r, _mm512_fnmadd_pd(d, r, two));
        /* (an infinite v: r = 0, so m / inf = 0 as in IEEE division, NaN for an
         * infinite m) */
        r = _mm512_maskz_mul_pd(_mm512_cmp_pd_mask(v, inf, _CMP_NEQ_UQ), r,
                                _mm512_fnmadd_pd(d, r, two));
        _mm512_storeu_pd(P + i, _mm512_fnmadd_pd(_mm512_mul_pd(a, m), r, p));
    }
    if (want_sq)
        *sq += _mm512_reduce_add_pd(acc);
    return i;
}
__attribute__((target("avx512f"))) static ptrdiff_t
nn_adam_avx512_d(const nn_update *u, double *restrict P, double *restrict G,
                 double *restrict M, double *restrict V, ptrdiff_t n, double wd, double *sq)
{
    return sq ? nn_adam_avx512_d_body(u, P, G, M, V, n, wd, sq, 1)
              : nn_adam_avx512_d_body(u, P, G, M, V, n, wd, sq, 0);
}
/* (float: the square root's series to h, the reciprocal's one Newton step, 14
 * -> 28 bits, past float's 24; the sum of squares, in double, specialised away
 * when not wanted) */
static inline __attribute__((always_inline, target("avx512f"))) ptrdiff_t
nn_adam_avx512_f_body(const nn_update *u, float *restrict P, float *restrict G,
                      float *restrict M, float *restrict V, ptrdiff_t n, double wd, double *sq,
                      const int want_sq)
{
    __m512d acc = _mm512_setzero_pd();
    const __m512 b1 = _mm512_set1_ps((float)u->b1), b2 = _mm512_set1_ps((float)u->b2);
    const __m512 c1 = _mm512_set1_ps((float)(1.0 - u->b1));
    const __m512 c2 = _mm512_set1_ps((float)(1.0 - u->b2)), vwd = _mm512_set1_ps((float)wd);
    const __m512 a = _mm512_set1_ps((float)u->a), q = _mm512_set1_ps((float)u->q);
    const __m512 eps = _mm512_set1_ps((float)u->eps), half = _mm512_set1_ps(0.5f);
    const __m512 one = _mm512_set1_ps(1.0f), two = _mm512_set1_ps(2.0f);
    const __m512 tiny = _mm512_set1_ps(1.17549435e-38f), inf = _mm512_set1_ps(__builtin_inff());
    ptrdiff_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 p = _mm512_loadu_ps(P + i);
        if (want_sq) {
            __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(p));
            __m512d hi = _mm512_cvtps_pd(
                _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(p), 1)));
            acc = _mm512_fmadd_pd(lo, lo, _mm512_fmadd_pd(hi, hi, acc));
        }
        __m512 g = _mm512_fmadd_ps(vwd, p, _mm512_loadu_ps(G + i));
        if (u->zero_g)
            _mm512_storeu_ps(G + i, _mm512_setzero_ps());
        __m512 m = _mm512_fmadd_ps(b1, _mm512_loadu_ps(M + i), _mm512_mul_ps(c1, g));
        __m512 v = _mm512_fmadd_ps(b2, _mm512_loadu_ps(V + i),
                                   _mm512_mul_ps(c2, _mm512_mul_ps(g, g)));
        _mm512_storeu_ps(M + i, m);
        _mm512_storeu_ps(V + i, v);
        /* (as in float64, the series to h: 1.5 2^-28) */
        __m512 y = _mm512_rsqrt14_ps(_mm512_max_ps(v, tiny));
        __m512 s = _mm512_mul_ps(v, y);
        s = _mm512_fmadd_ps(_mm512_mul_ps(s, _mm512_fnmadd_ps(s, y, one)), half, s);
        __m512 d = _mm512_fmadd_ps(s, q, eps);
        __m512 r = _mm512_rcp14_ps(d);
        r = _mm512_maskz_mul_ps(_mm512_cmp_ps_mask(v, inf, _CMP_NEQ_UQ), r,
                                _mm512_fnmadd_ps(d, r, two));
        _mm512_storeu_ps(P + i, _mm512_fnmadd_ps(_mm512_mul_ps(a, m), r, p));
    }
    if (want_sq)
        *sq += _mm512_reduce_add_pd(acc);
    return i;
}
__attribute__((target("avx512f"))) static ptrdiff_t
nn_adam_avx512_f(const nn_update *u, float *restrict P, float *restrict G,
                 float *restrict M, float *restrict V, ptrdiff_t n, double wd, double *sq)
{
    return sq ? nn_adam_avx512_f_body(u, P, G, M, V, n, wd, sq, 1)
              : nn_adam_avx512_f_body(u, P, G, M, V, n, wd, sq, 0);
}
/* (the tests switch it off to check the portable loop on AVX-512 machines too) */
static int nn_fast_adam = 1;
/* the elements of P[0:n] Adam's AVX-512 loop took (0 where it does not run) */
#define NN_ADAM_FAST(T, u, P, G, S, S2, n, wd, sq)                                          \
    (!(nn_fast_adam && (u)->eps > 0 && __builtin_cpu_supports("avx512f")) ? 0             \
     : sizeof(T) == sizeof(double)                                                        \
         ? nn_adam_avx512_d((u), (double *)(P), (double *)(G), (double *)(S),             \
                            (double *)(S2), (n), (wd), (sq))                              \
         : nn_adam_avx512_f((u), (float *)(P), (float *)(G), (float *)(S),                \
                            (float *)(S2), (n), (wd), (sq)))
#else
static int nn_fast_adam = 0;
#define NN_ADAM_FAST(T, u, P, G, S, S2, n, wd, sq) 0
#endif

#define NN_UPDATE(NAME, T, SUMSQ)                                                         \
    NN_CLONES static void NAME(const nn_update *u, T *restrict P, T *restrict G,          \
                               T *restrict S, T *restrict S2, ptrdiff_t n, double wd_,    \
                               double *sq)                                                \
    {                                                                                     \
        const T wd = (T)wd_, r = (T)u->lr, mu = (T)u->mu, b1 = (T)u->b1, b2 = (T)u->b2;   \
        const T c1 = (T)(1.0 - u->b1), c2 = (T)(1.0 - u->b2), eps = (T)u->eps;            \
        const T a = (T)u->a, q = (T)u->q;                                                 \
        ptrdiff_t i, i0 = 0; /* i0: the elements Adam's AVX-512 loop took */            \
        if (u->kind == NN_ADAM || u->kind == NN_SK_ADAM)                                  \
            i0 = NN_ADAM_FAST(T, u, P, G, S, S2, n, wd_, sq);                             \
        /* sq += sum P^2 before the step (scikit-learn's penalty; that loop sums its     \
         * own share as it goes) */                                                       \
        if (sq)                                                                           \
            *sq += SUMSQ(P + i0, n - i0);                                                 \
        switch (u->kind) {                                                                \
        case NN_SGD:                                                                      \
            for (i = 0; i < n; i++)                                                       \
                P[i] = P[i] - r * (G[i] + wd * P[i]);                                     \
            break;                                                                        \
        case NN_MOMENTUM:                                                                 \
        case NN_NESTEROV: {                                                               \
            const T nest = u->kind == NN_NESTEROV ? (T)1 : (T)0;                          \
            for (i = 0; i < n; i++) {                                                     \
                T g = G[i] + wd * P[i];                                                   \
                T v = mu * S[i] + g;                                                      \
                S[i] = v;                                                                 \
                P[i] = P[i] - r * (nest != 0 ? g + mu * v : v);                           \
            }                                                                             \
            break;                                                                        \
        }                                                                                 \
        case NN_SK_MOMENTUM:                                                              \
        case NN_SK_NESTEROV: {                                                            \
            const T nest = u->kind == NN_SK_NESTEROV ? (T)1 : (T)0;                       \
            for (i = 0; i < n; i++) {                                                     \
                T g = G[i] + wd * P[i];                                                   \
                T v = mu * S[i] - r * g;                                                  \
                S[i] = v;                                                                 \
                P[i] = P[i] + (nest != 0 ? mu * v - r * g : v);                           \
            }                                                                             \
            break;                                                                        \
        }                                                                                 \
        case NN_ADAM:       /* scikit-learn's form has q = 1: SQRT(v) * 1 is exact */  \
        case NN_SK_ADAM:                                                                  \
            for (i = i0; i < n; i++) {                                                    \
                T g = G[i] + wd * P[i];                                                   \
                T m = b1 * S[i] + c1 * g;                                                 \
                T v = b2 * S2[i] + c2 * (g * g);                                          \
                S[i] = m;                                                                 \
                S2[i] = v;                                                                \
                P[i] = P[i] - a * m / (SQRT(v) * q + eps);                                \
            }                                                                             \
            break;                                                                        \
        }                                                                                 \
        if (u->zero_g) /* (the range was just read: in cache) */                          \
            memset(G + i0, 0, (size_t)(n - i0) * sizeof(T));                              \
    }
#define SQRT sqrt
NN_UPDATE(nn_update_d, double, nn_sumsq_d)
#undef SQRT
#define SQRT sqrtf
NN_UPDATE(nn_update_f, float, nn_sumsq_f)
#undef SQRT

/* Momentum with its velocity held scaled, v = s u, so that the weight-gradient
 * GEMMs can add each minibatch's gradient straight into u (beta = 1, alpha divided
 * by s): no gradient buffer to zero and no velocity to rescale by mu every step,
 * which leaves one pass over the parameters:
 *     u += cw p  (the L2 term, cw = 0 for biases);  p += cp u;  u := rs u
 * (rs != 1 folds the scale back in; u is written only when cw != 0 or rs != 1). */
#define NN_VELOCITY(NAME, T)                                                              \
    NN_CLONES static void NAME(T *restrict P, T *restrict U, ptrdiff_t n, double cw_,     \
                               double cp_, double rs_)                                    \
    {                                                                                     \
        const T cw = (T)cw_, cp = (T)cp_, rs = (T)rs_;                                    \
        ptrdiff_t i;                                                                      \
        if (cw == 0 && rs_ == 1.0) {                                                      \
            for (i = 0; i < n; i++)                                                       \
                P[i] = P[i] + cp * U[i];                                                  \
        } else {                                                                          \
            for (i = 0; i < n; i++) {                                                     \
                T u = U[i] + cw * P[i];                                                   \
                P[i] = P[i] + cp * u;                                                     \
                U[i] = rs * u;                                                            \
            }                                                                             \
        }                                                                                 \
    }
NN_VELOCITY(nn_velocity_d, double)
NN_VELOCITY(nn_velocity_f, float)

/* Nesterov's momentum (v := mu v + g;  p := p - r (g + mu v)) over the same
 * scaled velocity, v = s u, with the gradient added into u by the GEMMs.  Its
 * step needs g apart from v, which u no longer holds; instead it carries
 * z = p + r mu v, which follows plain momentum, z := z - r v, and gives
 * p = z - r (1 + mu) v (z - r mu v after the step).  One pass:
 *     u += cw p;  p := z + cp u;  z := z + cz u;  u := rs u
 * (cp = -r (1 + mu) s, cz = -r s).  p is read even where its old value is not
 * needed (0 p): storing to lines the loop has not loaded cost more than loading
 * them (measured, 79,510 floats hot in the second-level cache: 14.5 against
 * 11.3 us; the gradient buffer's pass, 16 us).  Against the update from g, p is
 * rounded relative to |z|, which differs from |p| by the momentum's displacement. */
#define NN_NESTEROV_Z(NAME, T)                                                            \
    NN_CLONES static void NAME(T *restrict P, T *restrict U, T *restrict Z, ptrdiff_t n,  \
                               double cw_, double cp_, double cz_, double rs_)            \
    {                                                                                     \
        const T cw = (T)cw_, cp = (T)cp_, cz = (T)cz_, rs = (T)rs_;                       \
        ptrdiff_t i;                                                                      \
        if (cw == 0 && rs_ == 1.0) {                                                      \
            for (i = 0; i < n; i++) {                                                     \
                T z = Z[i], u = U[i];                                                     \
                P[i] = (z + cp * u) + (T)0 * P[i];                                        \
                Z[i] = z + cz * u;                                                        \
            }                                                                             \
        } else {                                                                          \
            for (i = 0; i < n; i++) {                                                     \
                T z = Z[i], u = U[i] + cw * P[i];                                         \
                P[i] = z + cp * u;                                                        \
                Z[i] = z + cz * u;                                                        \
                U[i] = rs * u;                                                            \
            }                                                                             \
        }                                                                                 \
    }
NN_NESTEROV_Z(nn_nesterov_z_d, double)
NN_NESTEROV_Z(nn_nesterov_z_f, float)

/* the constants of step t (t >= 1) of the update u->kind */
static inline void nn_update_prepare(nn_update *u, double t)
{
    u->a = u->lr;
    u->q = 1.0;
    if (u->kind == NN_ADAM) {
        u->a = u->lr / (1.0 - pow(u->b1, t));
        u->q = 1.0 / sqrt(1.0 - pow(u->b2, t));
    } else if (u->kind == NN_SK_ADAM) {
        u->a = u->lr * sqrt(1.0 - pow(u->b2, t)) / (1.0 - pow(u->b1, t));
    }
}

#endif

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

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && defined(__GLIBC__) && !defined(NNCORE_NO_MULTIVERSION)
#define NN_CLONES __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
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

#endif

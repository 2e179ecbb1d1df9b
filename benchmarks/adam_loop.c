/* What bounds Adam's AVX-512 loop (nn_adam_avx512_d in src/nncore/_fastmath.h):
 * its arithmetic, or moving its vectors?  It is timed against a loop that loads and
 * stores the same vectors (weights, gradient, both moments) with five operations, on
 * 512 parameters that stay in the first-level cache, then on 784-100-10's 79,510 with
 * 4 MB of other memory passed over (untimed) before each step, as an epoch's other data
 * push the state out of the second-level cache between its steps.
 *
 *     gcc -O2 -I src/nncore benchmarks/adam_loop.c -o /tmp/adam_loop -lm && /tmp/adam_loop
 *
 * Prints the best of five runs of each, in ns a parameter; x86-64 with AVX-512 only.
 * Never run it next to another timing job. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <immintrin.h>

#include "_fastmath.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* the same loads, stores and prefetches as Adam's loop, five vector operations */
__attribute__((target("avx512f"), noinline)) static void
same_traffic(const nn_update *u, double *restrict P, const double *restrict G,
             double *restrict M, double *restrict V, ptrdiff_t n)
{
    const __m512d b1 = _mm512_set1_pd(u->b1), b2 = _mm512_set1_pd(u->b2);
    const __m512d c1 = _mm512_set1_pd(1.0 - u->b1), c2 = _mm512_set1_pd(1.0 - u->b2);
    const __m512d a = _mm512_set1_pd(u->a);
    for (ptrdiff_t i = 0; i + 8 <= n; i += 8) {
        if (i + 264 <= n) {
            _mm_prefetch((const char *)(P + i + 256), _MM_HINT_ET0);
            _mm_prefetch((const char *)(M + i + 256), _MM_HINT_ET0);
            _mm_prefetch((const char *)(V + i + 256), _MM_HINT_ET0);
        }
        __m512d g = _mm512_loadu_pd(G + i);
        __m512d m = _mm512_fmadd_pd(b1, _mm512_loadu_pd(M + i), _mm512_mul_pd(c1, g));
        __m512d v = _mm512_fmadd_pd(b2, _mm512_loadu_pd(V + i), _mm512_mul_pd(c2, g));
        _mm512_storeu_pd(M + i, m);
        _mm512_storeu_pd(V + i, v);
        _mm512_storeu_pd(P + i, _mm512_fnmadd_pd(a, m, _mm512_loadu_pd(P + i)));
    }
}

static double run(int adam, const nn_update *u, double *P, double *G, double *M, double *V,
                  ptrdiff_t n, long steps, char *other, size_t other_bytes)
{
    double total = 0;
    if (!other_bytes) { /* (one interval: the clock's own cost is not small beside 512) */
        double t = now();
        for (long s = 0; s < steps; s++)
            if (adam)
                nn_adam_avx512_d(u, P, G, M, V, n, 0.0, NULL);
            else
                same_traffic(u, P, G, M, V, n);
        return (now() - t) / steps / n * 1e9;
    }
    for (long s = 0; s < steps; s++) {
        for (size_t x = 0; x < other_bytes; x += 64)
            other[x]++;
        double t = now();
        if (adam)
            nn_adam_avx512_d(u, P, G, M, V, n, 0.0, NULL);
        else
            same_traffic(u, P, G, M, V, n);
        total += now() - t;
    }
    return total / steps / n * 1e9;
}

int main(void)
{
    if (!__builtin_cpu_supports("avx512f")) {
        puts("no AVX-512 here");
        return 0;
    }
    _mm_setcsr(_mm_getcsr() | 0x8040); /* flush-to-zero, as the kernels run */
    const ptrdiff_t sizes[2] = {512, 79510};
    const long steps[2] = {200000, 300};
    const size_t others[2] = {0, 4u << 20};
    char *other = malloc(others[1]);
    memset(other, 1, others[1]);
    nn_update u = {0};
    u.kind = NN_ADAM;
    u.b1 = 0.9, u.b2 = 0.999, u.eps = 1e-8, u.a = 1e-3, u.q = 1.0;
    for (int c = 0; c < 2; c++) {
        ptrdiff_t n = sizes[c];
        double *P = aligned_alloc(64, 8 * ((n + 7) & ~7)), *G = aligned_alloc(64, 8 * ((n + 7) & ~7));
        double *M = aligned_alloc(64, 8 * ((n + 7) & ~7)), *V = aligned_alloc(64, 8 * ((n + 7) & ~7));
        for (ptrdiff_t i = 0; i < n; i++)
            P[i] = 1e-2 * (i % 7), G[i] = 1e-3 * (i % 13 - 6), M[i] = V[i] = 0;
        double best[2] = {1e9, 1e9};
        for (int r = 0; r < 5; r++)
            for (int adam = 0; adam < 2; adam++) {
                double t = run(adam, &u, P, G, M, V, n, steps[c], other, others[c]);
                best[adam] = t < best[adam] ? t : best[adam];
            }
        printf("%6td parameters%s: Adam's loop %.2f ns a parameter, the same traffic with "
               "five operations %.2f\n", n, others[c] ? ", 4 MB between steps" : "", best[1],
               best[0]);
        free(P), free(G), free(M), free(V);
    }
    free(other);
    return 0;
}

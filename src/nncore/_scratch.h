/* A per-thread scratch buffer, kept from call to call.
 *
 * Why: the kernels' temporaries (a transposed pack of a layer, a compacted copy
 * of some deltas and their product) are half a megabyte or more, needed at every
 * minibatch.  malloc and free of such a block each time may have glibc give it
 * back to the system at the free, and the kernel then clears its pages afresh for
 * the next: that clearing measured 4% of a drop-in fit.  So each thread keeps its
 * buffer, grown when a call needs more, until the kernel call that used it ends
 * and frees it (nn_scratch_release, from every thread that may have used it).
 * Only one user at a time: each takes the buffer and is done with it before it
 * returns.
 */
#ifndef NNCORE_SCRATCH_H
#define NNCORE_SCRATCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(_MSC_VER)
#define NN_THREAD_LOCAL __declspec(thread)
#else
#define NN_THREAD_LOCAL __thread
#endif

static NN_THREAD_LOCAL void *nn_scratch_raw;
static NN_THREAD_LOCAL size_t nn_scratch_cap;

/* n bytes, 64-byte aligned, from this thread's scratch, or NULL (no memory); what it
 * held before is lost */
static inline void *nn_scratch(size_t n)
{
    if (n > nn_scratch_cap) {
        free(nn_scratch_raw);
        nn_scratch_raw = malloc(n + 64);
        nn_scratch_cap = nn_scratch_raw ? n : 0;
        if (nn_scratch_raw == NULL)
            return NULL;
    }
    return (void *)(((uintptr_t)nn_scratch_raw + 63) & ~(uintptr_t)63);
}

/* frees this thread's scratch */
static inline void nn_scratch_release(void)
{
    free(nn_scratch_raw);
    nn_scratch_raw = NULL;
    nn_scratch_cap = 0;
}

#endif

/*
 * The allocation API's contract as the manual and the C standard state it, checked through
 * libjemalloc_rs.so: sizes, alignment, usable size, contents, zeroing, resizing, error
 * reporting, the aligned entry points and the experimental *allocm API.
 *
 * Each section prints "ok <section>" when it passes; the first violation prints a FAIL line
 * and exits with status 1.
 */
#include "check.h"

#include <errno.h>
#include <jemalloc/jemalloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Hides constants from the compiler so that it neither warns about nor folds huge requests. */
static volatile size_t opaque_sink;
static size_t opaque(size_t x) {
    opaque_sink = x;
    return opaque_sink;
}

/* The chunk size in effect: objects above it less the chunk header are huge. */
static size_t chunksize;

/* A size no process can map (beyond the 47-bit user address space) that is still a valid
 * request: the allocator must try, fail and report ENOMEM. */
#define UNMAPPABLE ((size_t)1 << 50)

static void check_block(const void *p, size_t size, const char *what) {
    CHECK(p != NULL, "%s(%zu) returned NULL", what, size);
    size_t align = size <= 8 ? 8 : 16;
    CHECK(((uintptr_t)p & (align - 1)) == 0, "%s(%zu) = %p is not %zu-byte aligned", what,
        size, p, align);
    size_t usable = malloc_usable_size(p);
    CHECK(usable >= size, "%s(%zu) = %p: malloc_usable_size is only %zu", what, size, p,
        usable);
    size_t real;
    CHECK(sallocm(p, &real, 0) == ALLOCM_SUCCESS && real == usable,
        "%s(%zu) = %p: sallocm says %zu, malloc_usable_size %zu", what, size, p, real, usable);
}

/* Verifies the pattern over n bytes, all of them for small blocks, evenly spaced 4 KiB
 * windows plus both ends for big ones. */
static void check_pattern_sampled(const uint8_t *p, size_t n, uint64_t seed, const char *what) {
    const size_t whole = 256 * KiB, window = 4 * KiB, windows = 48;
    if (n <= whole) {
        CHECK_PATTERN(p, n, seed, what);
        return;
    }
    size_t stride = (n - window) / windows;
    for (size_t k = 0; k <= windows; k++) {
        size_t off = k == windows ? n - window : k * stride;
        size_t at = pattern_mismatch_range(p, off, off + window, seed);
        CHECK(at == off + window, "block %p of %zu bytes corrupted at offset %zu: %s",
            (const void *)p, n, at, what);
    }
}

/* ---------------------------------------------------------------------------------------- */

static void test_sizes(void) {
    enum { NSMALL = 4097 };
    static void *small[NSMALL];
    for (size_t s = 0; s < NSMALL; s++) {
        small[s] = malloc(s);
        check_block(small[s], s, "malloc");
        pattern_fill(small[s], malloc_usable_size(small[s]), s);
    }
    for (size_t s = 0; s < NSMALL; s++)
        CHECK_PATTERN(small[s], malloc_usable_size(small[s]), s, "small sizes, all live");
    for (size_t s = 1; s < NSMALL; s += 2)
        free(small[s]);
    for (size_t s = 0; s < NSMALL; s += 2)
        CHECK_PATTERN(small[s], malloc_usable_size(small[s]), s, "after freeing odd sizes");
    for (size_t s = 0; s < NSMALL; s += 2)
        free(small[s]);

    /* Large and huge: boundaries of every size kind, then an irregular geometric sweep. */
    static size_t sizes[512];
    size_t n = 0;
    const size_t edges[] = {3584, 3840, 4096, 8192, 12288, 64 * KiB, MiB, 2 * MiB,
        4 * MiB - 8 * KiB, 4 * MiB - 4 * KiB, 4 * MiB, 8 * MiB, 16 * MiB, 32 * MiB};
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        sizes[n++] = edges[i] - 1;
        sizes[n++] = edges[i];
        sizes[n++] = edges[i] + 1;
    }
    for (size_t s = 4097; s <= 33 * MiB; s += s / 7 + 4093)
        sizes[n++] = s;
    sizes[n++] = 33 * MiB;

    enum { LIVE = 8 };
    void *live[LIVE] = {0};
    size_t live_size[LIVE] = {0};
    for (size_t i = 0; i < n + LIVE; i++) {
        size_t slot = i % LIVE;
        if (live[slot] != NULL) {
            check_pattern_sampled(live[slot], live_size[slot], live_size[slot],
                "large/huge sweep, after later allocations");
            free(live[slot]);
            live[slot] = NULL;
        }
        if (i < n) {
            void *p = malloc(sizes[i]);
            check_block(p, sizes[i], "malloc");
            pattern_fill(p, sizes[i], sizes[i]);
            live[slot] = p;
            live_size[slot] = sizes[i];
        }
    }
    CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) is not 0");
    puts("ok sizes");
}

/* ---------------------------------------------------------------------------------------- */

static void calloc_from_dirty(size_t size, int rounds, int batch) {
    void *ps[64];
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < batch; i++) {
            ps[i] = malloc(size);
            CHECK(ps[i] != NULL, "malloc(%zu) returned NULL", size);
            memset(ps[i], 0xff, malloc_usable_size(ps[i]));
        }
        for (int i = 0; i < batch; i++)
            free(ps[i]);
        for (int i = 0; i < batch; i++) {
            size_t n = (i % 3 == 0) ? 1 : (i % 3 == 1) ? size : (size % 2 == 0 ? 2 : size);
            size_t each = size / n;
            ps[i] = calloc(n, each);
            check_block(ps[i], n * each, "calloc");
            /* A small region is zeroed whole, past the request up to its usable size. */
            size_t span = n * each <= 3840 ? malloc_usable_size(ps[i]) : n * each;
            size_t at = first_nonzero(ps[i], span);
            CHECK(at == span, "calloc(%zu, %zu) = %p: byte %zu of %zu is 0x%02x, not zero", n, each,
                ps[i], at, span, ((uint8_t *)ps[i])[at]);
        }
        for (int i = 0; i < batch; i++) {
            memset(ps[i], 0xff, malloc_usable_size(ps[i]));
            free(ps[i]);
        }
    }
}

/* calloc served from pages that large objects gave up by shrinking in place or by being
 * freed, split into objects of other sizes. */
static void calloc_from_split_runs(void) {
    uint64_t rng = 0x1234567;
    enum { BIG = 16, SMALLER = 200 };
    for (int round = 0; round < 4; round++) {
        void *big[BIG];
        for (int i = 0; i < BIG; i++) {
            big[i] = malloc(256 * KiB);
            CHECK(big[i] != NULL, "malloc(256 KiB) returned NULL");
            memset(big[i], 0xff, malloc_usable_size(big[i]));
        }
        for (int i = 0; i < BIG; i++) {
            if (i % 2 == 0) {
                big[i] = realloc(big[i], 8 * KiB);
                CHECK(big[i] != NULL, "realloc(256 KiB -> 8 KiB) returned NULL");
            } else {
                free(big[i]);
            }
        }
        void *ps[SMALLER];
        size_t sizes[SMALLER];
        for (int i = 0; i < SMALLER; i++) {
            sizes[i] = 1 + rng_next(&rng) % (i % 2 ? 64 * KiB : 4 * KiB);
            ps[i] = calloc(1, sizes[i]);
            check_block(ps[i], sizes[i], "calloc");
            size_t at = first_nonzero(ps[i], sizes[i]);
            CHECK(at == sizes[i], "calloc(1, %zu) = %p from split dirty pages: byte %zu is 0x%02x",
                sizes[i], ps[i], at, ((uint8_t *)ps[i])[at]);
        }
        for (int i = 0; i < SMALLER; i++) {
            memset(ps[i], 0xff, malloc_usable_size(ps[i]));
            free(ps[i]);
        }
        for (int i = 0; i < BIG; i += 2)
            free(big[i]);
    }
}

static void test_calloc(void) {
    calloc_from_split_runs();
    const size_t small[] = {1, 8, 16, 24, 48, 96, 128, 192, 512, 1000, 2048, 3584, 3840};
    for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++)
        calloc_from_dirty(small[i], 8, 64);
    const size_t large[] = {3841, 4096, 5000, 12288, 65536, 300000, MiB - 1, 4 * MiB - 8 * KiB};
    for (size_t i = 0; i < sizeof(large) / sizeof(large[0]); i++)
        calloc_from_dirty(large[i], 6, large[i] > MiB ? 4 : 16);
    const size_t huge[] = {4 * MiB, 5 * MiB, 16 * MiB + 3};
    for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++)
        calloc_from_dirty(huge[i], 3, 2);

    void *p = calloc(0, 16), *q = calloc(16, 0);
    CHECK(p != NULL && q != NULL, "calloc with a zero count or size returned NULL");
    free(p);
    free(q);
    puts("ok calloc");
}

/* ---------------------------------------------------------------------------------------- */

static void test_realloc(void) {
    const size_t path[] = {1, 17, 200, 3000, 3840, 3841, 8192, 70000, MiB, 4 * MiB - 1,
        4 * MiB + 1, 9 * MiB, 20 * MiB + 7, 9 * MiB, 5 * MiB, 4 * MiB, MiB + 5, 70000, 4097,
        3000, 200, 17, 1, 33 * MiB, 3, 100000, 2, 3841, 3840, 8 * MiB, 12288};
    const uint64_t seed = 7;
    size_t old = path[0];
    uint8_t *p = realloc(NULL, old);
    check_block(p, old, "realloc(NULL, n)");
    pattern_fill(p, old, seed);
    for (size_t i = 1; i < sizeof(path) / sizeof(path[0]); i++) {
        size_t size = path[i];
        uint8_t *q = realloc(p, size);
        check_block(q, size, "realloc");
        char what[96];
        snprintf(what, sizeof(what), "contents after realloc from %zu to %zu", old, size);
        check_pattern_sampled(q, old < size ? old : size, seed, what);
        if (size > old)
            pattern_fill_range(q, old, size, seed);
        p = q;
        old = size;
    }
    free(p);

    /* A random walk of four blocks: mostly small and large, now and then huge. */
    enum { SLOTS = 4, STEPS = 2000 };
    uint8_t *slot[SLOTS] = {0};
    size_t slot_size[SLOTS] = {0};
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    for (int step = 0; step < STEPS; step++) {
        int k = (int)(rng_next(&rng) % SLOTS);
        uint64_t r = rng_next(&rng) % 100;
        size_t size = r < 70 ? 1 + rng_next(&rng) % 4096
                    : r < 98 ? 4097 + rng_next(&rng) % MiB
                             : 4 * MiB + rng_next(&rng) % (8 * MiB);
        uint8_t *q = realloc(slot[k], size);
        check_block(q, size, "realloc");
        size_t kept = slot_size[k] < size ? slot_size[k] : size;
        check_pattern_sampled(q, kept, 1000 + (uint64_t)k, "realloc random walk");
        pattern_fill_range(q, kept, size, 1000 + (uint64_t)k);
        slot[k] = q;
        slot_size[k] = size;
    }
    for (int k = 0; k < SLOTS; k++)
        free(slot[k]);

    /* Blocks from the aligned entry points resize like any other. */
    const size_t alignments[] = {64, 4096, 64 * KiB, MiB, 8 * MiB};
    for (size_t i = 0; i < sizeof(alignments) / sizeof(alignments[0]); i++) {
        size_t a = alignments[i];
        void *v = NULL;
        CHECK(posix_memalign(&v, a, a + 1) == 0, "posix_memalign(%zu, %zu) failed", a, a + 1);
        pattern_fill(v, a + 1, 77);
        p = realloc(v, 3 * a);
        check_block(p, 3 * a, "realloc of an aligned block");
        check_pattern_sampled(p, a + 1, 77, "aligned block after growing");
        p = realloc(p, 10);
        check_block(p, 10, "realloc of an aligned block");
        CHECK_PATTERN(p, 10, 77, "aligned block after shrinking");
        free(p);
    }

    p = malloc(100);
    CHECK(p != NULL, "malloc(100) returned NULL");
    p = realloc(p, 0);
    CHECK(p != NULL, "realloc(p, 0) returned NULL although opt.sysv is off");
    free(p);
    puts("ok realloc");
}

/* ---------------------------------------------------------------------------------------- */

#define CHECK_ENOMEM(expr, what)                                                           \
    do {                                                                                   \
        errno = 0;                                                                         \
        void *r_ = (expr);                                                                 \
        int e_ = errno;                                                                    \
        CHECK(r_ == NULL, "%s succeeded (%p)", what, r_);                                  \
        CHECK(e_ == ENOMEM, "%s: errno is %d, not ENOMEM", what, e_);                      \
    } while (0)

static void realloc_failure_keeps_block(size_t size) {
    uint8_t *p = malloc(size);
    CHECK(p != NULL, "malloc(%zu) returned NULL", size);
    pattern_fill(p, size, 55);
    const size_t too_big[] = {SIZE_MAX, (size_t)PTRDIFF_MAX + 1, UNMAPPABLE};
    for (size_t i = 0; i < 3; i++) {
        char what[64];
        snprintf(what, sizeof(what), "realloc(%zu-byte block, %zu)", size, too_big[i]);
        CHECK_ENOMEM(realloc(p, opaque(too_big[i])), what);
        check_pattern_sampled(p, size, 55, "block after a failed realloc");
        CHECK(malloc_usable_size(p) >= size, "block shrank after a failed realloc");
    }
    free(p);
}

static void test_errors(void) {
    CHECK_ENOMEM(malloc(opaque(SIZE_MAX)), "malloc(SIZE_MAX)");
    CHECK_ENOMEM(malloc(opaque((size_t)PTRDIFF_MAX + 1)), "malloc(PTRDIFF_MAX + 1)");
    CHECK_ENOMEM(malloc(opaque((size_t)PTRDIFF_MAX)), "malloc(PTRDIFF_MAX)");
    CHECK_ENOMEM(malloc(opaque(UNMAPPABLE)), "malloc(2^50)");
    CHECK_ENOMEM(calloc(opaque(SIZE_MAX / 2 + 1), opaque(2)), "calloc(SIZE_MAX / 2 + 1, 2)");
    CHECK_ENOMEM(calloc(opaque(2), opaque(SIZE_MAX / 2 + 1)), "calloc(2, SIZE_MAX / 2 + 1)");
    CHECK_ENOMEM(calloc(opaque(SIZE_MAX), opaque(SIZE_MAX)), "calloc(SIZE_MAX, SIZE_MAX)");
    CHECK_ENOMEM(calloc(opaque((size_t)1 << 25), opaque((size_t)1 << 25)), "calloc(2^25, 2^25)");
    CHECK_ENOMEM(valloc(opaque(SIZE_MAX)), "valloc(SIZE_MAX)");
    CHECK_ENOMEM(aligned_alloc(64, opaque(SIZE_MAX)), "aligned_alloc(64, SIZE_MAX)");
    CHECK_ENOMEM(memalign(64, opaque(UNMAPPABLE)), "memalign(64, 2^50)");

    CHECK_ENOMEM(realloc(NULL, opaque(SIZE_MAX)), "realloc(NULL, SIZE_MAX)");
    free(NULL);
    realloc_failure_keeps_block(24);
    realloc_failure_keeps_block(20000);
    realloc_failure_keeps_block(6 * MiB);

    const size_t bad_align[] = {0, 1, 2, 3, 4, 12, 24, 48, 4095, SIZE_MAX};
    for (size_t i = 0; i < sizeof(bad_align) / sizeof(bad_align[0]); i++) {
        void *p = NULL;
        int rc = posix_memalign(&p, opaque(bad_align[i]), 16);
        CHECK(rc == EINVAL, "posix_memalign(alignment %zu) returned %d, not EINVAL",
            bad_align[i], rc);
    }
    const size_t bad_pow2[] = {3, 12, 24, 4095};
    for (size_t i = 0; i < sizeof(bad_pow2) / sizeof(bad_pow2[0]); i++) {
        errno = 0;
        void *p = aligned_alloc(opaque(bad_pow2[i]), 64);
        CHECK(p == NULL && errno == EINVAL, "aligned_alloc(alignment %zu): %p, errno %d",
            bad_pow2[i], p, errno);
        errno = 0;
        p = memalign(opaque(bad_pow2[i]), 64);
        CHECK(p == NULL && errno == EINVAL, "memalign(alignment %zu): %p, errno %d",
            bad_pow2[i], p, errno);
    }
    const size_t too_big[] = {SIZE_MAX, (size_t)PTRDIFF_MAX + 1, UNMAPPABLE};
    for (size_t i = 0; i < 3; i++) {
        void *p = NULL;
        int rc = posix_memalign(&p, 16, opaque(too_big[i]));
        CHECK(rc == ENOMEM, "posix_memalign(16, %zu) returned %d, not ENOMEM", too_big[i], rc);
        rc = posix_memalign(&p, 8 * MiB, opaque(too_big[i]));
        CHECK(rc == ENOMEM, "posix_memalign(8 MiB, %zu) returned %d, not ENOMEM", too_big[i],
            rc);
    }
    {
        void *p = NULL;
        int rc = posix_memalign(&p, opaque((size_t)1 << 62), 1);
        CHECK(rc == ENOMEM, "posix_memalign(2^62, 1) returned %d, not ENOMEM", rc);
    }
    puts("ok errors");
}

/* ---------------------------------------------------------------------------------------- */

typedef void *(*aligned_fn)(size_t alignment, size_t size);

static void *via_posix_memalign(size_t alignment, size_t size) {
    void *p = NULL;
    int rc = posix_memalign(&p, alignment, size);
    CHECK(rc == 0, "posix_memalign(%zu, %zu) returned %d", alignment, size, rc);
    return p;
}

static void *via_aligned_alloc(size_t alignment, size_t size) {
    return aligned_alloc(alignment, size);
}

static void *via_memalign(size_t alignment, size_t size) {
    return memalign(alignment, size);
}

static void *via_valloc(size_t alignment, size_t size) {
    (void)alignment;
    return valloc(size);
}

static void check_aligned_batch(aligned_fn fn, const char *name, size_t alignment,
    const size_t *sizes, size_t n) {
    void *ps[8];
    for (size_t i = 0; i < n; i++) {
        ps[i] = fn(alignment, sizes[i]);
        CHECK(ps[i] != NULL, "%s(%zu, %zu) returned NULL", name, alignment, sizes[i]);
        CHECK(((uintptr_t)ps[i] & (alignment - 1)) == 0, "%s(%zu, %zu) = %p is misaligned",
            name, alignment, sizes[i], ps[i]);
        size_t usable = malloc_usable_size(ps[i]);
        CHECK(usable >= sizes[i], "%s(%zu, %zu) = %p: usable size %zu", name, alignment,
            sizes[i], ps[i], usable);
        pattern_fill(ps[i], usable, alignment * 31 + i);
    }
    for (size_t i = 0; i < n; i++) {
        char what[80];
        snprintf(what, sizeof(what), "%s(%zu, %zu) block", name, alignment, sizes[i]);
        check_pattern_sampled(ps[i], malloc_usable_size(ps[i]), alignment * 31 + i, what);
        free(ps[i]);
    }
}

static void test_aligned(void) {
    const struct {
        aligned_fn fn;
        const char *name;
        size_t min_alignment;
    } fns[] = {
        {via_posix_memalign, "posix_memalign", sizeof(void *)},
        {via_aligned_alloc, "aligned_alloc", 1},
        {via_memalign, "memalign", 1},
    };
    for (size_t f = 0; f < sizeof(fns) / sizeof(fns[0]); f++) {
        for (size_t a = fns[f].min_alignment; a <= 64 * MiB; a *= 2) {
            size_t sizes[8], n = 0;
            if (a <= MiB) {
                size_t s[] = {1, a > 1 ? a - 1 : 2, a, a + 1, 3 * a + 5, 24, 4000, 70000};
                for (size_t i = 0; i < 8; i++)
                    sizes[n++] = s[i];
            } else if (a < 64 * MiB) {
                sizes[n++] = 1;
                sizes[n++] = a - 1;
                sizes[n++] = a + 1;
            } else {
                sizes[n++] = 1;
                sizes[n++] = a + 1;
            }
            check_aligned_batch(fns[f].fn, fns[f].name, a, sizes, n);
        }
    }
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t vsizes[] = {1, page - 1, page, page + 1, 10 * page + 3, 5 * MiB};
    check_aligned_batch(via_valloc, "valloc", page, vsizes, sizeof(vsizes) / sizeof(vsizes[0]));

    void *p = NULL;
    CHECK(posix_memalign(&p, 64, 0) == 0 && p != NULL && ((uintptr_t)p & 63) == 0,
        "posix_memalign(64, 0) failed or returned %p", p);
    free(p);
    puts("ok aligned");
}

/* ---------------------------------------------------------------------------------------- */

/* Leaves freed memory full of 0xff where the next allocations of this size will come from. */
static void dirty(size_t size) {
    void *ps[16];
    int n = size > MiB ? 2 : 16;
    for (int i = 0; i < n; i++) {
        ps[i] = malloc(size);
        CHECK(ps[i] != NULL, "malloc(%zu) returned NULL", size);
        memset(ps[i], 0xff, malloc_usable_size(ps[i]));
    }
    for (int i = n - 1; i >= 0; i--)
        free(ps[i]);
}

static size_t salloc(const void *p) {
    size_t r = 0;
    CHECK(sallocm(p, &r, 0) == ALLOCM_SUCCESS, "sallocm(%p) failed", p);
    return r;
}

static void allocm_zero_grow(size_t from, size_t to) {
    dirty(to);
    dirty(from);
    void *p = NULL;
    size_t r0 = 0, r1 = 0;
    CHECK(allocm(&p, &r0, from, 0) == ALLOCM_SUCCESS, "allocm(%zu) failed", from);
    CHECK(r0 >= from && r0 == salloc(p), "allocm(%zu): rsize %zu, sallocm %zu", from, r0,
        salloc(p));
    pattern_fill(p, r0, 99);
    int rc = rallocm(&p, &r1, to, 0, ALLOCM_ZERO);
    CHECK(rc == ALLOCM_SUCCESS, "rallocm(%zu -> %zu, ALLOCM_ZERO) returned %d", from, to, rc);
    CHECK(r1 >= to && r1 == salloc(p), "rallocm(%zu -> %zu): rsize %zu, sallocm %zu", from, to,
        r1, salloc(p));
    check_pattern_sampled(p, r0, 99, "old contents after rallocm(ALLOCM_ZERO) growth");
    size_t at = first_nonzero((uint8_t *)p + r0, r1 - r0);
    CHECK(at == r1 - r0, "rallocm(%zu -> %zu, ALLOCM_ZERO): byte %zu past the old real size %zu "
        "is not zero", from, to, at, r0);
    CHECK(dallocm(p, 0) == ALLOCM_SUCCESS, "dallocm failed");
}

static void test_allocm(void) {
    /* The flag macros. */
    CHECK(ALLOCM_LG_ALIGN(5) == 5, "ALLOCM_LG_ALIGN(5) is %d", ALLOCM_LG_ALIGN(5));
    for (int lg = 0; lg < 63; lg++)
        CHECK(ALLOCM_ALIGN((size_t)1 << lg) == lg, "ALLOCM_ALIGN(2^%d) is %d", lg,
            (int)ALLOCM_ALIGN((size_t)1 << lg));
    CHECK((ALLOCM_ZERO & 0x3f) == 0 && (ALLOCM_NO_MOVE & 0x3f) == 0 &&
              ALLOCM_ZERO != ALLOCM_NO_MOVE,
        "ALLOCM_ZERO and ALLOCM_NO_MOVE overlap the alignment bits or each other");

    /* Plain allocation: rsize is the real size and agrees with sallocm. */
    const size_t sizes[] = {1, 8, 9, 100, 3840, 3841, 20000, 4 * MiB - 4 * KiB, 6 * MiB};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        void *p = NULL;
        size_t r = 0;
        CHECK(allocm(&p, &r, sizes[i], 0) == ALLOCM_SUCCESS, "allocm(%zu) failed", sizes[i]);
        check_block(p, sizes[i], "allocm");
        CHECK(r == salloc(p) && r == malloc_usable_size(p),
            "allocm(%zu): rsize %zu, sallocm %zu", sizes[i], r, salloc(p));
        pattern_fill(p, r, i);
        CHECK_PATTERN(p, r, i, "allocm block");
        CHECK(dallocm(p, 0) == ALLOCM_SUCCESS, "dallocm failed");
        CHECK(allocm(&p, NULL, sizes[i], 0) == ALLOCM_SUCCESS, "allocm(rsize NULL) failed");
        free(p);
    }

    /* Alignment, spelled both ways. */
    for (int lg = 0; lg <= 26; lg++) {
        size_t a = (size_t)1 << lg;
        const size_t asizes[] = {1, a, a + 1};
        for (int k = 0; k < 3; k++) {
            int flags = (k & 1) ? ALLOCM_ALIGN(a) : ALLOCM_LG_ALIGN(lg);
            void *p = NULL;
            size_t r = 0;
            CHECK(allocm(&p, &r, asizes[k], flags) == ALLOCM_SUCCESS,
                "allocm(%zu, align %zu) failed", asizes[k], a);
            CHECK(((uintptr_t)p & (a - 1)) == 0, "allocm(%zu, align %zu) = %p is misaligned",
                asizes[k], a, p);
            CHECK(r >= asizes[k] && r == salloc(p), "allocm(%zu, align %zu): rsize %zu",
                asizes[k], a, r);
            memset(p, 0x5a, asizes[k]);
            dallocm(p, 0);
        }
    }

    /* ALLOCM_ZERO on fresh allocations from dirty memory. */
    const size_t zsizes[] = {8, 24, 100, 1000, 3840, 4096, 20000, 300000, 3 * MiB, 5 * MiB};
    for (size_t i = 0; i < sizeof(zsizes) / sizeof(zsizes[0]); i++) {
        dirty(zsizes[i]);
        void *p = NULL;
        size_t r = 0;
        CHECK(allocm(&p, &r, zsizes[i], ALLOCM_ZERO) == ALLOCM_SUCCESS,
            "allocm(%zu, ALLOCM_ZERO) failed", zsizes[i]);
        size_t at = first_nonzero(p, r);
        CHECK(at == r, "allocm(%zu, ALLOCM_ZERO) = %p: byte %zu of %zu is not zero", zsizes[i],
            p, at, r);
        void *q = NULL;
        CHECK(allocm(&q, &r, zsizes[i], ALLOCM_ZERO | ALLOCM_LG_ALIGN(12)) == ALLOCM_SUCCESS,
            "allocm(%zu, ALLOCM_ZERO | 4 KiB alignment) failed", zsizes[i]);
        at = first_nonzero(q, r);
        CHECK(at == r && ((uintptr_t)q & 4095) == 0,
            "allocm(%zu, ALLOCM_ZERO, 4 KiB alignment) = %p: byte %zu of %zu is not zero",
            zsizes[i], q, at, r);
        dallocm(p, 0);
        dallocm(q, 0);
    }

    /* rallocm growth with ALLOCM_ZERO zeroes everything past the old real size. */
    allocm_zero_grow(24, 100);
    allocm_zero_grow(100, 3000);
    allocm_zero_grow(3000, 20000);
    allocm_zero_grow(20000, 60000);
    allocm_zero_grow(8192, 2 * MiB);
    allocm_zero_grow(MiB, 6 * MiB);
    allocm_zero_grow(5 * MiB, 13 * MiB);

    /* ALLOCM_NO_MOVE: a small object cannot become large in place. */
    {
        void *p = NULL, *orig;
        size_t r = 0;
        CHECK(allocm(&p, &r, 24, 0) == ALLOCM_SUCCESS, "allocm(24) failed");
        pattern_fill(p, 24, 3);
        orig = p;
        int rc = rallocm(&p, &r, 8192, 0, ALLOCM_NO_MOVE);
        CHECK(rc == ALLOCM_ERR_NOT_MOVED, "rallocm(24 -> 8192, ALLOCM_NO_MOVE) returned %d", rc);
        CHECK(p == orig, "rallocm(ALLOCM_NO_MOVE) moved the object");
        CHECK_PATTERN(p, 24, 3, "after a refused rallocm(ALLOCM_NO_MOVE)");
        /* Within its size class it can. */
        size_t cls = salloc(p);
        rc = rallocm(&p, &r, cls, 0, ALLOCM_NO_MOVE);
        CHECK(rc == ALLOCM_SUCCESS && p == orig && r == cls,
            "rallocm(24 -> %zu, ALLOCM_NO_MOVE) within the size class: rc %d, rsize %zu", cls,
            rc, r);
        CHECK_PATTERN(p, 24, 3, "after rallocm within the size class");
        dallocm(p, 0);
    }
    /* A large object shrinks in place, then grows back in place with zeroing. Chunks under
     * 64 KiB hold too few pages for the sizes involved. */
    if (chunksize >= 64 * KiB) {
        const size_t big = chunksize / 4 < 64 * KiB ? chunksize / 4 : 64 * KiB;
        void *p = NULL, *orig;
        size_t r = 0;
        CHECK(allocm(&p, &r, big, 0) == ALLOCM_SUCCESS, "allocm(%zu) failed", big);
        memset(p, 0xff, r);
        pattern_fill(p, 8192, 4);
        orig = p;
        int rc = rallocm(&p, &r, 8192, 0, ALLOCM_NO_MOVE);
        CHECK(rc == ALLOCM_SUCCESS && p == orig,
            "rallocm(%zu -> 8192, ALLOCM_NO_MOVE) returned %d (p %p, was %p)", big, rc, p, orig);
        CHECK(r == 8192 && salloc(p) == 8192, "shrunk large object: rsize %zu, sallocm %zu", r,
            salloc(p));
        CHECK_PATTERN(p, 8192, 4, "after an in-place shrink");
        rc = rallocm(&p, &r, big, 0, ALLOCM_NO_MOVE | ALLOCM_ZERO);
        CHECK(rc == ALLOCM_SUCCESS && p == orig,
            "rallocm(8192 -> %zu, ALLOCM_NO_MOVE) into the pages it just gave up returned %d",
            big, rc);
        CHECK(r == big && salloc(p) == r, "regrown large object: rsize %zu, sallocm %zu", r,
            salloc(p));
        CHECK_PATTERN(p, 8192, 4, "after an in-place growth");
        size_t at = first_nonzero((uint8_t *)p + 8192, r - 8192);
        CHECK(at == r - 8192, "in-place growth with ALLOCM_ZERO left byte %zu non-zero",
            8192 + at);

        /* extra: shrink to at least 8 KiB, keeping up to 12 KiB. */
        rc = rallocm(&p, &r, 8192, 4096, ALLOCM_NO_MOVE);
        CHECK(rc == ALLOCM_SUCCESS && p == orig && r >= 12288 && r < big && r == salloc(p),
            "rallocm(%zu -> 8192 + 4096 extra, ALLOCM_NO_MOVE): rc %d, rsize %zu", big, rc, r);
        CHECK_PATTERN(p, 8192, 4, "after a shrink with extra");
        /* A large object cannot become small in place. */
        rc = rallocm(&p, &r, 100, 0, ALLOCM_NO_MOVE);
        CHECK(rc == ALLOCM_ERR_NOT_MOVED && p == orig,
            "rallocm(large -> 100, ALLOCM_NO_MOVE) returned %d", rc);
        CHECK_PATTERN(p, 8192, 4, "after a refused shrink to small");
        dallocm(p, 0);
    }
    /* A huge object shrinks in place within its chunk multiple, and cannot become small. */
    {
        const size_t big = 3 * chunksize, smaller = 2 * chunksize + chunksize / 2;
        void *p = NULL, *orig;
        size_t r = 0;
        CHECK(allocm(&p, &r, big, 0) == ALLOCM_SUCCESS, "allocm(%zu) failed", big);
        pattern_fill(p, smaller, 5);
        orig = p;
        int rc = rallocm(&p, &r, smaller, 0, ALLOCM_NO_MOVE);
        CHECK(rc == ALLOCM_SUCCESS && p == orig && r >= smaller && r == salloc(p),
            "rallocm(%zu -> %zu, ALLOCM_NO_MOVE): rc %d, rsize %zu", big, smaller, rc, r);
        rc = rallocm(&p, &r, 100, 0, ALLOCM_NO_MOVE);
        CHECK(rc == ALLOCM_ERR_NOT_MOVED && p == orig,
            "rallocm(huge -> 100, ALLOCM_NO_MOVE) returned %d", rc);
        check_pattern_sampled(p, smaller, 5, "huge object after rallocm(ALLOCM_NO_MOVE)");
        dallocm(p, 0);
    }
    /* extra: an object that moves is allocated with size + extra bytes; one that stays in
     * place already holds at least size. */
    {
        void *p = NULL, *orig;
        size_t r = 0;
        CHECK(allocm(&p, &r, 100, 0) == ALLOCM_SUCCESS, "allocm(100) failed");
        pattern_fill(p, 100, 6);
        const size_t steps[][2] = {{200, 1000}, {50000, 30000}};
        for (int i = 0; i < 2; i++) {
            size_t size = steps[i][0], extra = steps[i][1];
            orig = p;
            int rc = rallocm(&p, &r, size, extra, 0);
            CHECK(rc == ALLOCM_SUCCESS && r == salloc(p) && r >= (p == orig ? size : size + extra),
                "rallocm(%zu + %zu extra) %s: rc %d, rsize %zu", size, extra,
                p == orig ? "in place" : "moving", rc, r);
            CHECK_PATTERN(p, 100, 6, "after rallocm with extra");
        }
        dallocm(p, 0);
    }
    /* Out of memory. */
    {
        void *p = (void *)&p;
        size_t r = 0;
        const size_t too_big[] = {SIZE_MAX, (size_t)PTRDIFF_MAX + 1, UNMAPPABLE};
        /* allocm sets *ptr to NULL when it fails; rallocm (below) leaves it unchanged. */
        for (int i = 0; i < 3; i++) {
            p = (void *)&p;
            int rc = allocm(&p, &r, opaque(too_big[i]), 0);
            CHECK(rc == ALLOCM_ERR_OOM, "allocm(%zu) returned %d, not ALLOCM_ERR_OOM",
                too_big[i], rc);
            CHECK(p == NULL, "allocm(%zu) failed but left *ptr %p, not NULL", too_big[i], p);
        }
        p = (void *)&p;
        int rc = allocm(&p, &r, 1, ALLOCM_LG_ALIGN(62));
        CHECK(rc == ALLOCM_ERR_OOM, "allocm(1, 2^62 alignment) returned %d", rc);
        CHECK(p == NULL, "allocm(1, 2^62 alignment) failed but left *ptr %p, not NULL", p);
        const size_t starts[] = {40, 40000, 5 * MiB};
        for (int s = 0; s < 3; s++) {
            void *orig;
            CHECK(allocm(&p, &r, starts[s], 0) == ALLOCM_SUCCESS, "allocm(%zu) failed",
                starts[s]);
            orig = p;
            pattern_fill(p, starts[s], 8);
            for (int i = 0; i < 3; i++) {
                rc = rallocm(&p, &r, opaque(too_big[i]), 0, 0);
                CHECK(rc == ALLOCM_ERR_OOM && p == orig,
                    "rallocm(%zu-byte object -> %zu) returned %d, p %p (was %p)", starts[s],
                    too_big[i], rc, p, orig);
                check_pattern_sampled(p, starts[s], 8, "object after a failed rallocm");
            }
            CHECK(dallocm(p, 0) == ALLOCM_SUCCESS, "dallocm failed");
        }
    }
    puts("ok allocm");
}

int main(int argc, char **argv) {
    require_preloaded();
    size_t len = sizeof(chunksize);
    CHECK(mallctl("arenas.chunksize", &chunksize, &len, NULL, 0) == 0 && len == sizeof(chunksize),
        "mallctl(\"arenas.chunksize\") failed");
    CHECK(chunksize >= 16 * KiB && (chunksize & (chunksize - 1)) == 0,
        "arenas.chunksize is %zu, not a power of two of at least 16 KiB", chunksize);
    /* A section name on the command line runs that section alone. */
    const struct {
        const char *name;
        void (*run)(void);
    } sections[] = {
        {"sizes", test_sizes},
        {"calloc", test_calloc},
        {"realloc", test_realloc},
        {"errors", test_errors},
        {"aligned", test_aligned},
        {"allocm", test_allocm},
    };
    int ran = 0;
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        if (argc > 1 && strcmp(argv[1], sections[i].name) != 0)
            continue;
        sections[i].run();
        fflush(stdout);
        ran++;
    }
    CHECK(ran > 0, "no section named %s", argc > 1 ? argv[1] : "");
    return 0;
}

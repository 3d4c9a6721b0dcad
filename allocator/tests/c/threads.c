/*
 * Threads against libjemalloc_rs.so.
 *
 *   threads queue   8 threads allocate blocks of random sizes and hand them through a shared
 *                   queue to be checked and freed by whichever thread takes them next.
 *   threads churn   2000 short-lived threads allocate and free; the resident set must stop
 *                   growing once the first few hundred have come and gone.
 *   threads hammer  16 threads, many more than cores, allocate, check and free mixed sizes.
 *   threads remap <chunk size> <iterations>
 *                   2 threads grow huge objects with realloc, which moves them to new
 *                   addresses, while 2 others allocate and free large objects, so that
 *                   chunks are mapped where moved objects used to be.
 *   threads spread  as many threads as there are arenas less one start together; each takes
 *                   an arena on its first allocation, and no two may take the same one while
 *                   an arena is still unused.
 *
 * Prints "ok <mode>" on success; a violation prints a FAIL line and exits with status 1.
 */
#include "check.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Fills a block with a pattern derived from its address and size, so that a block that was
 * handed out twice, moved or overwritten by another thread no longer matches. */
static uint64_t block_seed(const void *p, size_t size) {
    return mix64((uint64_t)(uintptr_t)p ^ ((uint64_t)size << 40));
}

static void *alloc_filled(size_t size) {
    void *p = malloc(size);
    CHECK(p != NULL, "malloc(%zu) returned NULL", size);
    pattern_fill(p, size, block_seed(p, size));
    return p;
}

static void check_and_free(void *p, size_t size, const char *what) {
    CHECK_PATTERN(p, size, block_seed(p, size), what);
    free(p);
}

/* Mostly small, some large, now and then huge. */
static size_t random_size(uint64_t *rng) {
    uint64_t r = rng_next(rng) % 1000;
    if (r < 800)
        return 1 + rng_next(rng) % 512;
    if (r < 950)
        return 513 + rng_next(rng) % 3584;
    if (r < 998)
        return 4097 + rng_next(rng) % (256 * KiB);
    return 4 * MiB + rng_next(rng) % (2 * MiB);
}

/* ---------------------------------------------------------------------------------------- */

enum { QUEUE_CAP = 512, QUEUE_THREADS = 8, QUEUE_OPS = 40000 };

static struct {
    pthread_mutex_t lock;
    void *ptr[QUEUE_CAP];
    size_t size[QUEUE_CAP];
    size_t head, len;
} queue = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void *queue_worker(void *arg) {
    uint64_t rng = mix64((uint64_t)(uintptr_t)arg + 1);
    for (int op = 0; op < QUEUE_OPS; op++) {
        size_t size = random_size(&rng);
        void *p = alloc_filled(size);
        void *take = NULL;
        size_t take_size = 0;
        pthread_mutex_lock(&queue.lock);
        if (queue.len == QUEUE_CAP || (queue.len > 0 && (rng_next(&rng) & 1))) {
            take = queue.ptr[queue.head];
            take_size = queue.size[queue.head];
            queue.head = (queue.head + 1) % QUEUE_CAP;
            queue.len--;
        }
        size_t tail = (queue.head + queue.len) % QUEUE_CAP;
        queue.ptr[tail] = p;
        queue.size[tail] = size;
        queue.len++;
        pthread_mutex_unlock(&queue.lock);
        if (take != NULL && rng_next(&rng) % 4 == 0) {
            /* Resized by a thread other than the one that allocated it. */
            size_t new_size = random_size(&rng);
            size_t kept = take_size < new_size ? take_size : new_size;
            uint64_t seed = block_seed(take, take_size);
            char *q = realloc(take, new_size);
            CHECK(q != NULL, "realloc(%zu -> %zu) returned NULL", take_size, new_size);
            CHECK_PATTERN(q, kept, seed, "block resized by another thread");
            free(q);
        } else if (take != NULL) {
            check_and_free(take, take_size, "block passed between threads");
        }
    }
    return NULL;
}

static void run_queue(void) {
    pthread_t t[QUEUE_THREADS];
    for (uintptr_t i = 0; i < QUEUE_THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, queue_worker, (void *)i) == 0, "pthread_create failed");
    for (int i = 0; i < QUEUE_THREADS; i++)
        pthread_join(t[i], NULL);
    while (queue.len > 0) {
        check_and_free(queue.ptr[queue.head], queue.size[queue.head], "block left in the queue");
        queue.head = (queue.head + 1) % QUEUE_CAP;
        queue.len--;
    }
}

/* ---------------------------------------------------------------------------------------- */

enum { CHURN_THREADS = 2000, CHURN_BATCH = 4, CHURN_WARMUP = 300 };

static pthread_key_t churn_key;

/* Runs at thread exit, possibly after the allocator's own per-thread teardown: memory it
 * allocates and frees must not stay behind with the dead thread. */
static void churn_key_destructor(void *p) {
    enum { N = 48 };
    void *qs[N];
    for (int i = 0; i < N; i++)
        qs[i] = alloc_filled(16 + (size_t)i * 80);
    check_and_free(p, 3000, "block freed by a thread-specific data destructor");
    for (int i = 0; i < N; i++)
        check_and_free(qs[i], 16 + (size_t)i * 80, "block allocated in a thread-specific data "
                                                   "destructor");
}

static void *churn_worker(void *arg) {
    uint64_t rng = mix64((uint64_t)(uintptr_t)arg + 77);
    enum { N = 64 };
    void *ps[N];
    size_t sizes[N];
    for (int i = 0; i < N; i++) {
        sizes[i] = 1 + rng_next(&rng) % (i % 8 == 0 ? 64 * KiB : 2048);
        ps[i] = alloc_filled(sizes[i]);
    }
    for (int i = 0; i < N; i++)
        check_and_free(ps[i], sizes[i], "block of a short-lived thread");
    pthread_setspecific(churn_key, alloc_filled(3000));
    return NULL;
}

static void run_churn(void) {
    CHECK(pthread_key_create(&churn_key, churn_key_destructor) == 0, "pthread_key_create failed");
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * KiB);
    size_t rss_warm = 0;
    for (int done = 0; done < CHURN_THREADS; done += CHURN_BATCH) {
        pthread_t t[CHURN_BATCH];
        for (uintptr_t i = 0; i < CHURN_BATCH; i++)
            CHECK(pthread_create(&t[i], &attr, churn_worker, (void *)(done + i)) == 0,
                "pthread_create failed after %d threads", done);
        for (int i = 0; i < CHURN_BATCH; i++)
            pthread_join(t[i], NULL);
        if (done + CHURN_BATCH == CHURN_WARMUP)
            rss_warm = rss_bytes();
    }
    size_t rss_end = rss_bytes();
    printf("churn: resident %zu KiB after %d threads, %zu KiB after %d\n", rss_warm / KiB,
        CHURN_WARMUP, rss_end / KiB, CHURN_THREADS);
    CHECK(rss_end <= rss_warm + 4 * MiB,
        "resident set grew from %zu KiB to %zu KiB between thread %d and thread %d",
        rss_warm / KiB, rss_end / KiB, CHURN_WARMUP, CHURN_THREADS);
    pthread_attr_destroy(&attr);
}

/* ---------------------------------------------------------------------------------------- */

enum { HAMMER_THREADS = 16, HAMMER_OPS = 20000, HAMMER_SLOTS = 256 };

static void *hammer_worker(void *arg) {
    uint64_t rng = mix64((uint64_t)(uintptr_t)arg + 1234);
    void *ps[HAMMER_SLOTS] = {0};
    size_t sizes[HAMMER_SLOTS] = {0};
    for (int op = 0; op < HAMMER_OPS; op++) {
        int k = (int)(rng_next(&rng) % HAMMER_SLOTS);
        if (ps[k] != NULL) {
            check_and_free(ps[k], sizes[k], "block of a busy thread");
            ps[k] = NULL;
        }
        uint64_t how = rng_next(&rng) % 16;
        size_t size = random_size(&rng);
        if (how == 0) {
            ps[k] = calloc(1, size);
            CHECK(ps[k] != NULL, "calloc(1, %zu) returned NULL", size);
            CHECK(first_nonzero(ps[k], size) == size, "calloc(1, %zu) is not zeroed", size);
            pattern_fill(ps[k], size, block_seed(ps[k], size));
        } else if (how == 1) {
            void *p = NULL;
            size_t align = (size_t)16 << (rng_next(&rng) % 9);
            CHECK(posix_memalign(&p, align, size) == 0, "posix_memalign(%zu, %zu) failed", align,
                size);
            CHECK(((uintptr_t)p & (align - 1)) == 0, "posix_memalign(%zu) misaligned", align);
            pattern_fill(p, size, block_seed(p, size));
            ps[k] = p;
        } else if (how == 2) {
            void *p = alloc_filled(size / 2 + 1);
            size_t grown = size / 2 + 1 + size;
            char *q = realloc(p, grown);
            CHECK(q != NULL, "realloc to %zu returned NULL", grown);
            CHECK_PATTERN(q, size / 2 + 1, block_seed(p, size / 2 + 1), "block after realloc");
            free(q);
            ps[k] = alloc_filled(size);
        } else {
            ps[k] = alloc_filled(size);
        }
        sizes[k] = size;
    }
    for (int k = 0; k < HAMMER_SLOTS; k++)
        if (ps[k] != NULL)
            check_and_free(ps[k], sizes[k], "block of a busy thread at exit");
    return NULL;
}

static void run_hammer(void) {
    pthread_t t[HAMMER_THREADS];
    for (uintptr_t i = 0; i < HAMMER_THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, hammer_worker, (void *)i) == 0, "pthread_create failed");
    for (int i = 0; i < HAMMER_THREADS; i++)
        pthread_join(t[i], NULL);
}

/* ---------------------------------------------------------------------------------------- */

static size_t remap_chunk;
static int remap_iterations;

static void *remap_mover(void *arg) {
    uint64_t seed = (uint64_t)(uintptr_t)arg;
    const size_t from = remap_chunk + remap_chunk / 10, to = 6 * remap_chunk, edge = 4 * KiB;
    for (int i = 0; i < remap_iterations; i++) {
        char *p = malloc(from);
        CHECK(p != NULL, "malloc(%zu) returned NULL", from);
        pattern_fill_range(p, 0, edge, seed + (uint64_t)i);
        pattern_fill_range(p, from - edge, from, seed + (uint64_t)i);
        char *q = realloc(p, to);
        CHECK(q != NULL, "realloc(%zu -> %zu) returned NULL", from, to);
        CHECK(pattern_mismatch_range(q, 0, edge, seed + (uint64_t)i) == edge &&
                  pattern_mismatch_range(q, from - edge, from, seed + (uint64_t)i) == from,
            "huge object %p lost its contents when realloc moved it to %p", (void *)p, (void *)q);
        q[to - 1] = 1;
        free(q);
    }
    return NULL;
}

static void *remap_churner(void *arg) {
    uint64_t rng = mix64((uint64_t)(uintptr_t)arg + 99);
    enum { SLOTS = 32 };
    void *ps[SLOTS] = {0};
    size_t sizes[SLOTS] = {0};
    for (int i = 0; i < remap_iterations * 4; i++) {
        int k = (int)(rng_next(&rng) % SLOTS);
        if (ps[k] != NULL)
            check_and_free(ps[k], 64, "large object while huge objects move");
        sizes[k] = 2 * 4096 + rng_next(&rng) % (remap_chunk / 2);
        ps[k] = malloc(sizes[k]);
        CHECK(ps[k] != NULL, "malloc(%zu) returned NULL", sizes[k]);
        pattern_fill(ps[k], 64, block_seed(ps[k], 64));
    }
    for (int k = 0; k < SLOTS; k++)
        if (ps[k] != NULL)
            check_and_free(ps[k], 64, "large object while huge objects move");
    return NULL;
}

static void run_remap(void) {
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, i < 2 ? remap_mover : remap_churner, (void *)i) == 0,
            "pthread_create failed");
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
}

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);
static mallctl_fn spread_mallctl;
static pthread_barrier_t spread_start, spread_hold;
static unsigned spread_arena[64];

static void *spread_worker(void *arg) {
    uintptr_t i = (uintptr_t)arg;
    pthread_barrier_wait(&spread_start);
    void *p = malloc(64);
    CHECK(p != NULL, "malloc(64) failed");
    unsigned ind;
    size_t len = sizeof(ind);
    CHECK(spread_mallctl("thread.arena", &ind, &len, NULL, 0) == 0, "reading thread.arena failed");
    spread_arena[i] = ind;
    /* Alive until every thread has chosen, so that no arena's count drops back to zero. */
    pthread_barrier_wait(&spread_hold);
    free(p);
    return NULL;
}

static void run_spread(void) {
    spread_mallctl = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
    CHECK(spread_mallctl != NULL, "mallctl is not exported");
    unsigned narenas;
    size_t len = sizeof(narenas);
    CHECK(spread_mallctl("arenas.narenas", &narenas, &len, NULL, 0) == 0, "reading arenas.narenas failed");
    unsigned n = narenas - 1;
    if (n > 64)
        n = 64;
    if (n < 2) {
        printf("skipped spread: %u arenas\n", narenas);
        return;
    }
    /* The main thread has not allocated through malloc here; it may hold arena 0 or none. */
    pthread_t t[64];
    for (int round = 0; round < 20; round++) {
        CHECK(pthread_barrier_init(&spread_start, NULL, n) == 0, "pthread_barrier_init failed");
        CHECK(pthread_barrier_init(&spread_hold, NULL, n) == 0, "pthread_barrier_init failed");
        for (uintptr_t i = 0; i < n; i++)
            CHECK(pthread_create(&t[i], NULL, spread_worker, (void *)i) == 0, "pthread_create failed");
        for (unsigned i = 0; i < n; i++)
            pthread_join(t[i], NULL);
        for (unsigned i = 0; i < n; i++)
            for (unsigned j = i + 1; j < n; j++)
                CHECK(spread_arena[i] != spread_arena[j],
                    "round %d: threads %u and %u share arena %u among %u threads and %u arenas", round, i, j,
                    spread_arena[i], n, narenas);
        pthread_barrier_destroy(&spread_start);
        pthread_barrier_destroy(&spread_hold);
    }
}

int main(int argc, char **argv) {
    require_preloaded();
    CHECK(argc >= 2, "usage: threads queue|churn|hammer|spread|remap <chunk size> <iterations>");
    if (strcmp(argv[1], "remap") == 0) {
        CHECK(argc == 4, "usage: threads remap <chunk size> <iterations>");
        remap_chunk = (size_t)strtoull(argv[2], NULL, 0);
        remap_iterations = atoi(argv[3]);
        CHECK(remap_chunk >= 16 * KiB && remap_iterations > 0, "bad remap arguments");
        run_remap();
    } else if (strcmp(argv[1], "queue") == 0)
        run_queue();
    else if (strcmp(argv[1], "churn") == 0)
        run_churn();
    else if (strcmp(argv[1], "hammer") == 0)
        run_hammer();
    else if (strcmp(argv[1], "spread") == 0)
        run_spread();
    else
        FAIL("unknown mode %s", argv[1]);
    printf("ok %s\n", argv[1]);
    return 0;
}

/*
 * The options of the TUNING section and the checks of the DEBUGGING and DIAGNOSTIC MESSAGES
 * sections, one behaviour per run: mallctl_behaviour MODE, under the MALLOC_CONF the driver
 * sets. Modes that must abort do so inside the allocator; the others print "ok".
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jemalloc/jemalloc.h>

/* Freed memory is read, and bad pointers freed, on purpose: that is what is under test. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wuse-after-free"
#pragma GCC diagnostic ignored "-Wfree-nonheap-object"
#endif

static void *volatile sink;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                           \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fprintf(stderr, "\n");                                                         \
            return 1;                                                                      \
        }                                                                                  \
    } while (0)

static bool all(const volatile unsigned char *p, size_t from, size_t to, unsigned char v) {
    for (size_t i = from; i < to; i++)
        if (p[i] != v) return false;
    return true;
}

static void hooked(void *opaque, const char *s) {
    (void)opaque;
    ssize_t ignored = write(2, "HOOK:", 5);
    ignored = write(2, s, strlen(s));
    (void)ignored;
}

/* The idle mode's thread: 256 large objects of 64 KiB in arena 1, every other one freed. */
static void *holes_in_arena_1(void *arg) {
    unsigned one = 1;
    mallctl("thread.arena", NULL, NULL, &one, sizeof(one));
    static void *big[256];
    for (int i = 0; i < 256; i++) big[i] = malloc(64 * 1024);
    for (int i = 0; i < 256; i += 2) free(big[i]);
    return arg;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "junk") == 0) {
        /* 0xa5 in new memory, 0x5a in freed memory, small and large. */
        size_t sizes[] = {100, 3000, 10000, 100000};
        for (unsigned i = 0; i < sizeof sizes / sizeof *sizes; i++) {
            unsigned char *p = malloc(sizes[i]);
            CHECK(all(p, 0, malloc_usable_size(p), 0xa5), "malloc(%zu) is not junk-filled", sizes[i]);
            memset(p, 1, sizes[i]);
            free(p);
            if (sizes[i] <= 3000)
                CHECK(all(p, 16, sizes[i], 0x5a), "freed %zu bytes are not 0x5a", sizes[i]);
        }
        /* realloc: bytes a growth adds are new (0xa5); a shrink's tail is freed (0x5a). */
        unsigned char *p = malloc(5000);
        memset(p, 1, 5000);
        unsigned char *q = realloc(p, 12000);
        CHECK(all(q, 0, 5000, 1) && all(q, 8192, 12000, 0xa5), "realloc growth is not junk-filled");
        memset(q, 1, 12000);
        p = realloc(q, 4096);
        if (p == q)
            CHECK(all(q, 4096, 12288, 0x5a), "the tail realloc gave back is not 0x5a");
    } else if (strcmp(mode, "zero") == 0) {
        for (int round = 0; round < 2; round++) {
            size_t sizes[] = {24, 700, 5000, 70000};
            for (unsigned i = 0; i < sizeof sizes / sizeof *sizes; i++) {
                unsigned char *p = malloc(sizes[i]);
                CHECK(all(p, 0, sizes[i], 0), "malloc(%zu) is not zeroed (round %d)", sizes[i], round);
                memset(p, 0xff, sizes[i]);
                free(p);
            }
        }
    } else if (strcmp(mode, "sysv") == 0) {
        CHECK(malloc(0) == NULL, "malloc(0) is not NULL under opt.sysv");
        CHECK(calloc(0, 8) == NULL, "calloc(0, 8) is not NULL under opt.sysv");
        void *p = malloc(10);
        CHECK(realloc(p, 0) == NULL, "realloc(p, 0) is not NULL under opt.sysv");
    } else if (strcmp(mode, "nosysv") == 0) {
        sink = malloc(0);
        CHECK(sink != NULL, "malloc(0) is NULL without opt.sysv");
        free(sink);
    } else if (strcmp(mode, "oom") == 0) {
        /* Fails politely without opt.xmalloc; aborts with it. */
        sink = malloc(SIZE_MAX / 2);
        CHECK(sink == NULL, "an impossible malloc succeeded");
    } else if (strcmp(mode, "badfree") == 0) {
        char *p = malloc(100);
        free(p + 16);
        /* A thread cache may take the pointer; its flush hands it to the bin, which notices. */
        mallctl("tcache.flush", NULL, NULL, NULL, 0);
        return 0;
    } else if (strcmp(mode, "foreignfree") == 0) {
        static char not_ours[64];
        free(not_ours + 16);
        return 0;
    } else if (strcmp(mode, "doublefree") == 0) {
        sink = malloc(64);
        free(sink);
        free(sink);
        /* A thread cache may hold both; its flush hands them to the bin, which notices. */
        mallctl("tcache.flush", NULL, NULL, NULL, 0);
        return 0;
    } else if (strcmp(mode, "doublefree-apart") == 0 || strcmp(mode, "badfree-apart") == 0) {
        /*
         * Two neighbours of one run, so that the bad free reaches the bin in the same batch as
         * a good one of the same run: a, b, a again, or a and an address inside b.
         */
        char *volatile a = malloc(64);
        char *volatile b = malloc(64);
        free(a);
        if (mode[0] == 'd') {
            free(b);
            free(a);
        } else {
            free(b + 16);
        }
        mallctl("tcache.flush", NULL, NULL, NULL, 0);
        return 0;
    } else if (strcmp(mode, "hook") == 0) {
        /* Diagnostics go through the malloc_message the program set. */
        static char not_ours[64];
        malloc_message = hooked;
        free(not_ours + 16);
        return 0;
    } else if (strcmp(mode, "opts") == 0) {
        bool junk = false, zero = false;
        size_t len = sizeof(bool), lg_chunk = 0, narenas = 0;
        mallctl("opt.junk", &junk, &len, NULL, 0);
        mallctl("opt.zero", &zero, &len, NULL, 0);
        len = sizeof(size_t);
        mallctl("opt.lg_chunk", &lg_chunk, &len, NULL, 0);
        mallctl("opt.narenas", &narenas, &len, NULL, 0);
        printf("junk:%d zero:%d lg_chunk:%zu narenas:%zu\n", junk, zero, lg_chunk, narenas);
    } else if (strcmp(mode, "dirty") == 0) {
        /* 16 MiB of large objects, too big for the thread cache, allocated and freed in
         * arena 0; then the dirty pages and purge sweeps, and again after arenas.purge. */
        unsigned zero = 0;
        mallctl("thread.arena", NULL, NULL, &zero, sizeof(zero));
        static void *big[256];
        for (int i = 0; i < 256; i++) big[i] = malloc(64 * 1024);
        for (int i = 0; i < 256; i++) free(big[i]);
        uint64_t epoch = 1, npurge = 0;
        size_t pdirty = 0, after = 0, len = sizeof(epoch);
        mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch));
        mallctl("stats.arenas.0.npurge", &npurge, &len, NULL, 0);
        len = sizeof(size_t);
        mallctl("stats.arenas.0.pdirty", &pdirty, &len, NULL, 0);
        mallctl("arenas.purge", NULL, NULL, &zero, sizeof(zero));
        mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch));
        mallctl("stats.arenas.0.pdirty", &after, &len, NULL, 0);
        printf("npurge:%llu pdirty:%zu after:%zu\n", (unsigned long long)npurge, pdirty, after);
        return 0;
    } else if (strcmp(mode, "purge") == 0) {
        /* 256 large objects of 64 KiB written with 0xa5 in arena 0, every other one freed, so
         * that the holes (2048 pages) outgrow the dirty limit while no chunk empties; then
         * arenas.purge, and calloc of the purged holes. Prints the counters at each step. */
        unsigned zero = 0;
        mallctl("thread.arena", NULL, NULL, &zero, sizeof(zero));
        static unsigned char *big[256];
        for (int i = 0; i < 256; i++) {
            big[i] = malloc(64 * 1024);
            memset(big[i], 0xa5, 64 * 1024);
        }
        for (int i = 0; i < 256; i += 2) free(big[i]);
        uint64_t epoch = 1, npurge = 0, nmadvise = 0, purged = 0, npurge2 = 0, nmadvise2 = 0, purged2 = 0;
        size_t pdirty = 0, pactive = 0, after = 0, lg_chunk = 0, len;
        ssize_t lg_dirty_mult = 0;
        len = sizeof(size_t);
        mallctl("opt.lg_chunk", &lg_chunk, &len, NULL, 0);
        len = sizeof(ssize_t);
        mallctl("opt.lg_dirty_mult", &lg_dirty_mult, &len, NULL, 0);
        mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch));
        len = sizeof(uint64_t);
        mallctl("stats.arenas.0.npurge", &npurge, &len, NULL, 0);
        mallctl("stats.arenas.0.nmadvise", &nmadvise, &len, NULL, 0);
        mallctl("stats.arenas.0.purged", &purged, &len, NULL, 0);
        len = sizeof(size_t);
        mallctl("stats.arenas.0.pdirty", &pdirty, &len, NULL, 0);
        mallctl("stats.arenas.0.pactive", &pactive, &len, NULL, 0);
        mallctl("arenas.purge", NULL, NULL, &zero, sizeof(zero));
        mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch));
        mallctl("stats.arenas.0.pdirty", &after, &len, NULL, 0);
        len = sizeof(uint64_t);
        mallctl("stats.arenas.0.npurge", &npurge2, &len, NULL, 0);
        mallctl("stats.arenas.0.nmadvise", &nmadvise2, &len, NULL, 0);
        mallctl("stats.arenas.0.purged", &purged2, &len, NULL, 0);
        int nonzero = 0;
        for (int i = 0; i < 256; i += 2) {
            unsigned char *p = calloc(1, 64 * 1024);
            for (size_t j = 0; j < 64 * 1024; j++) nonzero += p[j] != 0;
        }
        printf("lg_chunk:%zu lg_dirty_mult:%zd pactive:%zu pdirty:%zu npurge:%llu nmadvise:%llu "
               "purged:%llu after:%zu npurge2:%llu nmadvise2:%llu purged2:%llu nonzero:%d\n",
               lg_chunk, lg_dirty_mult, pactive, pdirty, (unsigned long long)npurge,
               (unsigned long long)nmadvise, (unsigned long long)purged, after,
               (unsigned long long)npurge2, (unsigned long long)nmadvise2,
               (unsigned long long)purged2, nonzero);
        return 0;
    } else if (strcmp(mode, "thp") == 0) {
        /* opt.thp (an extension): a huge object's mapping carries the kernel's "hg" flag
         * (MADV_HUGEPAGE) exactly when the option is on. */
        bool thp;
        size_t sz = sizeof(thp);
        CHECK(mallctl("opt.thp", &thp, &sz, NULL, 0) == 0, "opt.thp");
        size_t len = 9 << 20;
        char *p = malloc(len);
        CHECK(p != NULL, "malloc(%zu)", len);
        memset(p, 1, len);
        FILE *f = fopen("/proc/self/smaps", "r");
        CHECK(f != NULL, "/proc/self/smaps");
        char line[1024];
        bool inside = false;
        int hg = -1;
        while (fgets(line, sizeof(line), f) != NULL) {
            unsigned long lo, hi;
            char perms[8];
            if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3) {
                inside = lo <= (uintptr_t)p && (uintptr_t)p < hi;
            } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
                hg = strstr(line, " hg") != NULL;
                break;
            }
        }
        fclose(f);
        CHECK(hg >= 0, "no mapping of /proc/self/smaps holds %p", (void *)p);
        printf("thp:%d hg:%d\n", thp, hg);
        free(p);
        return 0;
    } else if (strcmp(mode, "idle") == 0) {
        /* A thread bound to arena 1 leaves holes of 2048 pages there and exits: its arena,
         * idle now, keeps at most half the manual's limit (half a chunk while little is
         * active). */
        pthread_t t;
        pthread_create(&t, NULL, holes_in_arena_1, NULL);
        pthread_join(t, NULL);
        uint64_t epoch = 1;
        size_t pdirty = 0, pactive = 0, len = sizeof(size_t);
        mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch));
        mallctl("stats.arenas.1.pdirty", &pdirty, &len, NULL, 0);
        mallctl("stats.arenas.1.pactive", &pactive, &len, NULL, 0);
        printf("pactive:%zu pdirty:%zu\n", pactive, pdirty);
        return 0;
    } else if (strcmp(mode, "exit") == 0) {
        sink = malloc(100);
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    printf("ok\n");
    return 0;
}

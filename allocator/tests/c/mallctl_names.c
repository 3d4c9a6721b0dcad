/*
 * Every name of the manual's MALLCTL NAMESPACE, read through mallctl() from C against
 * libjemalloc_rs.so, with the manual's C types, access rules and errors, and values compared
 * with what jemalloc 2.2.1 reports for the options given (derived here from the manual and
 * jemalloc 2.2.1's sizing rules, not from the library).
 *
 * Usage: mallctl_names LG_CHUNK LG_QSPACE_MAX LG_CSPACE_MAX  (run with the matching MALLOC_CONF)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <jemalloc/jemalloc.h>

static int failures;
/* Keeps the compiler from pairing up and removing a malloc() and free() whose result is unused. */
static void *volatile sink;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                           \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fprintf(stderr, "\n");                                                         \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

/* What jemalloc 2.2.1 reports for lg_chunk, lg_qspace_max and lg_cspace_max. */
struct expect {
    size_t lg_chunk, lg_qspace_max, lg_cspace_max;
    size_t chunksize, arena_maxclass, nlruns;
    size_t tspace_min, tspace_max, qspace_min, qspace_max, cspace_min, cspace_max;
    size_t sspace_min, sspace_max;
    unsigned ntbins, nqbins, ncbins, nsbins, nbins;
    size_t sizes[512];
    size_t tcache_max;
    unsigned nhbins;
};

static void derive(struct expect *e) {
    const size_t page = 4096, quantum = 16, cacheline = 64, subpage = 256;
    e->chunksize = (size_t)1 << e->lg_chunk;
    /* arena_boot(): the chunk header is the chunk's fixed fields (48 bytes) and one 24-byte
     * map entry per page not in the header, settled in three rounds. */
    size_t npages = e->chunksize / page, map_bias = 0;
    for (int i = 0; i < 3; i++) {
        size_t header = 48 + 24 * (npages - map_bias);
        map_bias = header / page + (header % page != 0);
    }
    e->arena_maxclass = e->chunksize - map_bias * page;
    e->nlruns = e->arena_maxclass / page;
    e->tspace_min = 8;
    e->tspace_max = quantum / 2;
    e->qspace_min = quantum;
    e->qspace_max = (size_t)1 << e->lg_qspace_max;
    e->cspace_min = (e->qspace_max + cacheline) & ~(cacheline - 1);
    e->cspace_max = (size_t)1 << e->lg_cspace_max;
    e->sspace_min = (e->cspace_max + subpage) & ~(subpage - 1);
    e->sspace_max = page - subpage;
    e->ntbins = 1;
    e->nqbins = (unsigned)(e->qspace_max / quantum);
    e->ncbins = (unsigned)((e->cspace_max - e->cspace_min) / cacheline + 1);
    e->nsbins = (unsigned)((e->sspace_max - e->sspace_min) / subpage + 1);
    e->nbins = e->ntbins + e->nqbins + e->ncbins + e->nsbins;
    unsigned n = 0;
    e->sizes[n++] = 8;
    for (size_t s = quantum; s <= e->qspace_max; s += quantum) e->sizes[n++] = s;
    for (size_t s = e->cspace_min; s <= e->cspace_max; s += cacheline) e->sizes[n++] = s;
    for (size_t s = e->sspace_min; s <= e->sspace_max; s += subpage) e->sizes[n++] = s;
    /* tcache_boot() with the default opt.lg_tcache_max of 15. */
    size_t want = (size_t)1 << 15;
    e->tcache_max = want < e->sspace_max ? e->sspace_max : want > e->arena_maxclass ? e->arena_maxclass : want;
    e->nhbins = e->nbins + (unsigned)(e->tcache_max / page);
}

/* Reads NAME as type T: the exact size must succeed; one byte short must copy that much and
 * fail with EINVAL; writing it must fail with EPERM. */
#define READ_RO(name, T, out)                                                              \
    do {                                                                                   \
        T v_ = 0;                                                                          \
        size_t len_ = sizeof(T);                                                           \
        int r_ = mallctl(name, &v_, &len_, NULL, 0);                                       \
        CHECK(r_ == 0, "%s: read returned %d", name, r_);                                  \
        CHECK(len_ == sizeof(T), "%s: length changed to %zu", name, len_);                 \
        unsigned char short_[sizeof(T)];                                                   \
        memset(short_, 0xee, sizeof short_);                                               \
        size_t slen_ = sizeof(T) - 1;                                                      \
        r_ = mallctl(name, short_, &slen_, NULL, 0);                                       \
        CHECK(r_ == EINVAL, "%s: short read returned %d, not EINVAL", name, r_);           \
        CHECK(short_[sizeof(T) - 1] == 0xee, "%s: short read wrote past the length", name);\
        CHECK(sizeof(T) == 1 || memcmp(short_, &v_, sizeof(T) - 1) == 0,                   \
              "%s: short read did not copy what fits", name);                              \
        T nv_ = v_;                                                                        \
        r_ = mallctl(name, NULL, NULL, &nv_, sizeof(T));                                   \
        CHECK(r_ == EPERM, "%s: write returned %d, not EPERM", name, r_);                  \
        out = v_;                                                                          \
    } while (0)

#define EXPECT_RO(name, T, want)                                                           \
    do {                                                                                   \
        T got_;                                                                            \
        READ_RO(name, T, got_);                                                            \
        CHECK(got_ == (T)(want), "%s = %llu, expected %llu", name,                         \
              (unsigned long long)got_, (unsigned long long)(T)(want));                    \
    } while (0)

static void noent(const char *name) {
    size_t v, len = sizeof(v);
    int r = mallctl(name, &v, &len, NULL, 0);
    CHECK(r == ENOENT, "%s: returned %d, not ENOENT", name, r);
}

static size_t read_size(const char *name) {
    size_t v = 0, len = sizeof(v);
    CHECK(mallctl(name, &v, &len, NULL, 0) == 0, "%s unreadable", name);
    return v;
}

static uint64_t read_u64(const char *name) {
    uint64_t v = 0;
    size_t len = sizeof(v);
    CHECK(mallctl(name, &v, &len, NULL, 0) == 0, "%s unreadable", name);
    return v;
}

static void advance_epoch(void) {
    uint64_t e = 1;
    size_t len = sizeof(e);
    CHECK(mallctl("epoch", &e, &len, &e, sizeof(e)) == 0, "epoch write failed");
}

static void general(const struct expect *e) {
    const char *version;
    READ_RO("version", const char *, version);
    CHECK(version && strcmp(version, JEMALLOC_VERSION) == 0, "version is %s", version ? version : "(null)");

    uint64_t e1, e2;
    size_t len = sizeof(e1);
    CHECK(mallctl("epoch", &e1, &len, NULL, 0) == 0, "epoch read");
    uint64_t one = 1;
    CHECK(mallctl("epoch", &e2, &len, &one, sizeof(one)) == 0, "epoch write");
    CHECK(e2 == e1 + 1, "epoch went from %llu to %llu", (unsigned long long)e1, (unsigned long long)e2);
    CHECK(mallctl("epoch", NULL, NULL, &one, 4) == EINVAL, "epoch with newlen 4 is not EINVAL");

    const bool on = true, off = false;
    EXPECT_RO("config.debug", bool, off);
    EXPECT_RO("config.dss", bool, off);
    EXPECT_RO("config.dynamic_page_shift", bool, off);
    EXPECT_RO("config.fill", bool, on);
    EXPECT_RO("config.lazy_lock", bool, off);
    EXPECT_RO("config.prof", bool, on);
    EXPECT_RO("config.prof_libgcc", bool, on);
    EXPECT_RO("config.prof_libunwind", bool, off);
    EXPECT_RO("config.stats", bool, on);
    EXPECT_RO("config.swap", bool, on);
    EXPECT_RO("config.sysv", bool, on);
    EXPECT_RO("config.tcache", bool, on);
    EXPECT_RO("config.tiny", bool, on);
    EXPECT_RO("config.tls", bool, on);
    EXPECT_RO("config.xmalloc", bool, on);

    EXPECT_RO("opt.abort", bool, off);
    EXPECT_RO("opt.lg_qspace_max", size_t, e->lg_qspace_max);
    EXPECT_RO("opt.lg_cspace_max", size_t, e->lg_cspace_max);
    EXPECT_RO("opt.lg_chunk", size_t, e->lg_chunk);
    size_t narenas_opt;
    READ_RO("opt.narenas", size_t, narenas_opt);
    CHECK(narenas_opt >= 1, "opt.narenas is %zu", narenas_opt);
    EXPECT_RO("opt.lg_dirty_mult", ssize_t, 5);
    EXPECT_RO("opt.stats_print", bool, off);
    EXPECT_RO("opt.junk", bool, off);
    EXPECT_RO("opt.zero", bool, off);
    EXPECT_RO("opt.sysv", bool, off);
    EXPECT_RO("opt.xmalloc", bool, off);
    EXPECT_RO("opt.tcache", bool, on);
    EXPECT_RO("opt.lg_tcache_gc_sweep", ssize_t, 13);
    EXPECT_RO("opt.lg_tcache_max", size_t, 15);
    /* Swap files (--enable-swap): present, none in use. */
    EXPECT_RO("opt.overcommit", bool, on);
    EXPECT_RO("swap.avail", size_t, 0);
    EXPECT_RO("swap.nfds", size_t, 0);
    {
        bool z = true, old = true;
        size_t zlen = sizeof(old);
        CHECK(mallctl("swap.prezeroed", &old, &zlen, &z, sizeof(z)) == 0 && !old, "swap.prezeroed is rw, false");
        CHECK(mallctl("swap.prezeroed", &old, &zlen, NULL, 0) == 0 && old, "swap.prezeroed reads what was written");
        z = false;
        CHECK(mallctl("swap.prezeroed", NULL, NULL, &z, sizeof(z)) == 0, "swap.prezeroed reset");
        CHECK(mallctl("swap.prezeroed", NULL, NULL, &z, 4) == EINVAL, "swap.prezeroed newlen 4 is not EINVAL");
        int fds[2] = {-1, -1};
        size_t flen = 0;
        CHECK(mallctl("swap.fds", fds, &flen, NULL, 0) == 0, "swap.fds reads no descriptors");
        flen = sizeof(int);
        CHECK(mallctl("swap.fds", fds, &flen, NULL, 0) == EINVAL, "swap.fds read of one descriptor is not EINVAL");
        CHECK(mallctl("swap.fds", NULL, NULL, fds, 3) == EINVAL, "swap.fds newlen 3 is not EINVAL");
        CHECK(mallctl("swap.fds", NULL, NULL, fds, 0) == EINVAL, "swap.fds newlen 0 is not EINVAL");
        CHECK(mallctl("swap.fds", NULL, NULL, fds, sizeof(int)) == EFAULT, "swap.fds of a closed descriptor is not EFAULT");
        EXPECT_RO("swap.nfds", size_t, 0);
    }
    /* The heap profiler is built, off until opt.prof: the manual's defaults. */
    EXPECT_RO("opt.prof", bool, off);
    const char *prefix;
    READ_RO("opt.prof_prefix", const char *, prefix);
    CHECK(strcmp(prefix, "jeprof") == 0, "opt.prof_prefix = \"%s\"", prefix);
    EXPECT_RO("opt.lg_prof_bt_max", size_t, 7);
    EXPECT_RO("opt.prof_active", bool, on);
    EXPECT_RO("opt.lg_prof_sample", ssize_t, 0);
    EXPECT_RO("opt.prof_accum", bool, on);
    EXPECT_RO("opt.lg_prof_tcmax", ssize_t, -1);
    EXPECT_RO("opt.lg_prof_interval", ssize_t, -1);
    EXPECT_RO("opt.prof_gdump", bool, off);
    EXPECT_RO("opt.prof_leak", bool, off);
    EXPECT_RO("prof.interval", uint64_t, 0);
    {
        bool active = off, inactive = off;
        size_t len = sizeof(active);
        CHECK(mallctl("prof.active", &active, &len, NULL, 0) == 0 && active, "prof.active reads true");
        CHECK(mallctl("prof.active", &active, &len, &inactive, sizeof(inactive)) == 0, "prof.active writes");
        CHECK(mallctl("prof.active", &active, &len, NULL, 0) == 0 && !active, "prof.active took the write");
        active = on;
        CHECK(mallctl("prof.active", NULL, NULL, &active, sizeof(active)) == 0, "prof.active writes back");
        const char *name = NULL;
        CHECK(mallctl("prof.dump", NULL, NULL, &name, sizeof(name)) == EFAULT, "prof.dump without opt.prof fails with EFAULT");
        CHECK(mallctl("prof.dump", &name, &len, NULL, 0) == EPERM, "prof.dump is write-only");
    }
    noent("prof.nope");
    noent("bogus");
    noent("opt");
    noent("opt.");
    noent("opt.abort.more");
    noent("");
    CHECK(mallctl("opt.abort", NULL, NULL, NULL, 0) == 0, "a read with no buffers succeeds");

    /* arenas.* */
    unsigned narenas;
    READ_RO("arenas.narenas", unsigned, narenas);
    CHECK(narenas == narenas_opt, "arenas.narenas %u != opt.narenas %zu", narenas, narenas_opt);
    EXPECT_RO("arenas.quantum", size_t, 16);
    EXPECT_RO("arenas.cacheline", size_t, 64);
    EXPECT_RO("arenas.subpage", size_t, 256);
    EXPECT_RO("arenas.pagesize", size_t, 4096);
    EXPECT_RO("arenas.chunksize", size_t, e->chunksize);
    EXPECT_RO("arenas.tspace_min", size_t, e->tspace_min);
    EXPECT_RO("arenas.tspace_max", size_t, e->tspace_max);
    EXPECT_RO("arenas.qspace_min", size_t, e->qspace_min);
    EXPECT_RO("arenas.qspace_max", size_t, e->qspace_max);
    EXPECT_RO("arenas.cspace_min", size_t, e->cspace_min);
    EXPECT_RO("arenas.cspace_max", size_t, e->cspace_max);
    EXPECT_RO("arenas.sspace_min", size_t, e->sspace_min);
    EXPECT_RO("arenas.sspace_max", size_t, e->sspace_max);
    EXPECT_RO("arenas.tcache_max", size_t, e->tcache_max);
    EXPECT_RO("arenas.ntbins", unsigned, e->ntbins);
    EXPECT_RO("arenas.nqbins", unsigned, e->nqbins);
    EXPECT_RO("arenas.ncbins", unsigned, e->ncbins);
    EXPECT_RO("arenas.nsbins", unsigned, e->nsbins);
    EXPECT_RO("arenas.nbins", unsigned, e->nbins);
    EXPECT_RO("arenas.nhbins", unsigned, e->nhbins);
    EXPECT_RO("arenas.nlruns", size_t, e->nlruns);

    char name[128];
    for (unsigned i = 0; i < e->nbins; i++) {
        snprintf(name, sizeof name, "arenas.bin.%u.size", i);
        EXPECT_RO(name, size_t, e->sizes[i]);
        uint32_t nregs;
        size_t run_size;
        snprintf(name, sizeof name, "arenas.bin.%u.nregs", i);
        READ_RO(name, uint32_t, nregs);
        snprintf(name, sizeof name, "arenas.bin.%u.run_size", i);
        READ_RO(name, size_t, run_size);
        CHECK(run_size % 4096 == 0 && run_size >= 4096, "bin %u run_size %zu", i, run_size);
        CHECK(nregs >= 1 && nregs * e->sizes[i] <= run_size, "bin %u: %u regions of %zu in %zu", i, nregs,
              e->sizes[i], run_size);
    }
    snprintf(name, sizeof name, "arenas.bin.%u.size", e->nbins);
    noent(name);
    EXPECT_RO("arenas.lrun.0.size", size_t, 4096);
    snprintf(name, sizeof name, "arenas.lrun.%zu.size", e->nlruns - 1);
    EXPECT_RO(name, size_t, e->arena_maxclass);
    snprintf(name, sizeof name, "arenas.lrun.%zu.size", e->nlruns);
    noent(name);
    noent("arenas.bin.x.size");
    noent("arenas.bin.0");
    noent("arenas.bin.0.size.x");

    /* arenas.initialized: bool * of arenas.narenas entries. */
    bool init[1024];
    len = narenas * sizeof(bool);
    CHECK(mallctl("arenas.initialized", init, &len, NULL, 0) == 0, "arenas.initialized");
    CHECK(init[0], "arena 0 is not initialized");
    memset(init, 0x7f, sizeof init);
    len = 1;
    CHECK(mallctl("arenas.initialized", init, &len, NULL, 0) == (narenas == 1 ? 0 : EINVAL),
          "short arenas.initialized");
    CHECK(init[0] == true && ((unsigned char *)init)[1] == 0x7f, "short arenas.initialized copied wrong");

    /* arenas.purge: unsigned, write-only. */
    unsigned a0 = 0, bad = narenas;
    len = sizeof(a0);
    CHECK(mallctl("arenas.purge", &a0, &len, NULL, 0) == EPERM, "reading arenas.purge is not EPERM");
    CHECK(mallctl("arenas.purge", NULL, NULL, &a0, sizeof(a0)) == 0, "arenas.purge 0");
    CHECK(mallctl("arenas.purge", NULL, NULL, NULL, 0) == 0, "arenas.purge all");
    CHECK(mallctl("arenas.purge", NULL, NULL, &bad, sizeof(bad)) == EFAULT, "arenas.purge narenas not EFAULT");
    CHECK(mallctl("arenas.purge", NULL, NULL, &a0, 8) == EINVAL, "arenas.purge newlen 8 not EINVAL");

    /* tcache.flush: void. */
    CHECK(mallctl("tcache.flush", NULL, NULL, NULL, 0) == 0, "tcache.flush");
    len = sizeof(a0);
    CHECK(mallctl("tcache.flush", &a0, &len, NULL, 0) == EPERM, "reading tcache.flush is not EPERM");
    CHECK(mallctl("tcache.flush", NULL, NULL, &a0, sizeof(a0)) == EPERM, "writing tcache.flush is not EPERM");

    /* thread.arena: unsigned, rw. */
    unsigned cur, next = narenas > 1 ? 1 : 0, back;
    len = sizeof(cur);
    CHECK(mallctl("thread.arena", &cur, &len, NULL, 0) == 0, "thread.arena read");
    CHECK(cur < narenas, "thread.arena %u", cur);
    CHECK(mallctl("thread.arena", &back, &len, &next, sizeof(next)) == 0, "thread.arena write");
    CHECK(back == cur, "thread.arena write returned %u, not the old %u", back, cur);
    CHECK(mallctl("thread.arena", &back, &len, NULL, 0) == 0 && back == next, "thread.arena now %u", back);
    CHECK(mallctl("thread.arena", NULL, NULL, &bad, sizeof(bad)) == EFAULT, "thread.arena narenas not EFAULT");
    CHECK(mallctl("thread.arena", NULL, NULL, &next, 2) == EINVAL, "thread.arena newlen 2 not EINVAL");
    len = sizeof(init);
    CHECK(mallctl("arenas.initialized", init, &len, NULL, 0) == EINVAL, "long arenas.initialized not EINVAL");

    /* thread.allocated and friends follow this thread's allocations. */
    uint64_t *allocatedp, *deallocatedp, allocated, deallocated;
    READ_RO("thread.allocatedp", uint64_t *, allocatedp);
    READ_RO("thread.deallocatedp", uint64_t *, deallocatedp);
    READ_RO("thread.allocated", uint64_t, allocated);
    READ_RO("thread.deallocated", uint64_t, deallocated);
    CHECK(allocatedp && *allocatedp == allocated, "thread.allocatedp does not point at thread.allocated");
    sink = malloc(1000);
    CHECK(*allocatedp >= allocated + 1000, "thread.allocated did not grow by 1000");
    free(sink);
    CHECK(*deallocatedp >= deallocated + 1000, "thread.deallocated did not grow by 1000");
    CHECK(read_u64("thread.allocated") == *allocatedp, "thread.allocated disagrees with its pointer");
}

static void statistics(const struct expect *e) {
    unsigned narenas;
    size_t len = sizeof(narenas);
    mallctl("arenas.narenas", &narenas, &len, NULL, 0);
    char name[128];
    size_t *cactive;
    READ_RO("stats.cactive", size_t *, cactive);
    CHECK(cactive != NULL, "stats.cactive is null");

    /* Pin this thread to arena 0 so that per-arena counters are predictable. */
    unsigned zero = 0;
    mallctl("thread.arena", NULL, NULL, &zero, sizeof(zero));
    mallctl("tcache.flush", NULL, NULL, NULL, 0);
    advance_epoch();
    size_t allocated0 = read_size("stats.allocated");
    uint64_t small0 = read_u64("stats.arenas.0.small.nrequests");
    uint64_t bin1_0 = read_u64("stats.arenas.0.bins.1.nrequests");
    uint64_t large0 = read_u64("stats.arenas.0.large.nmalloc");
    uint64_t huge0 = read_u64("stats.huge.nmalloc");
    uint64_t lrun1_0 = read_u64("stats.arenas.0.lruns.1.nrequests");

    enum { N = 1000 };
    static void *ps[N];
    for (int i = 0; i < N; i++) ps[i] = malloc(16);
    void *large = malloc(2 * 4096);
    void *huge = malloc(e->chunksize + 1);
    CHECK(ps[N - 1] && large && huge, "allocations failed");

    size_t stale = read_size("stats.allocated");
    CHECK(stale == allocated0, "stats.allocated moved without an epoch (%zu -> %zu)", allocated0, stale);
    /* Requests the thread cache served reach the bins' counters when it is flushed. */
    mallctl("tcache.flush", NULL, NULL, NULL, 0);
    advance_epoch();
    size_t allocated1 = read_size("stats.allocated");
    CHECK(allocated1 >= allocated0 + 2 * e->chunksize - 1, "stats.allocated %zu -> %zu", allocated0, allocated1);
    CHECK(read_u64("stats.arenas.0.small.nrequests") >= small0 + N, "small.nrequests did not move");
    CHECK(read_u64("stats.arenas.0.bins.1.nrequests") >= bin1_0 + N, "bins.1.nrequests did not move");
    CHECK(read_u64("stats.arenas.0.large.nmalloc") >= large0 + 1, "large.nmalloc did not move");
    CHECK(read_u64("stats.arenas.0.lruns.1.nrequests") >= lrun1_0 + 1, "lruns.1 (2 pages) did not count");
    CHECK(read_u64("stats.huge.nmalloc") == huge0 + 1, "huge.nmalloc did not count one");
    CHECK(read_size("stats.huge.allocated") >= 2 * e->chunksize, "huge.allocated");
    size_t active = read_size("stats.active"), mapped = read_size("stats.mapped");
    CHECK(active % 4096 == 0 && active >= allocated1, "stats.active %zu < allocated %zu", active, allocated1);
    CHECK(mapped % e->chunksize == 0 && mapped >= active, "stats.mapped %zu < active %zu", mapped, active);
    CHECK(read_size("stats.chunks.current") * e->chunksize == mapped, "chunks.current disagrees with mapped");
    CHECK(read_u64("stats.chunks.total") >= read_size("stats.chunks.current"), "chunks.total < current");
    CHECK(read_size("stats.chunks.high") >= read_size("stats.chunks.current"), "chunks.high < current");
    CHECK(*cactive >= active, "cactive %zu < active %zu", *cactive, active);

    /* The sum over arenas (index narenas) matches the arenas. */
    bool init[1024];
    len = narenas;
    mallctl("arenas.initialized", init, &len, NULL, 0);
    size_t pactive = 0;
    for (unsigned i = 0; i < narenas; i++) {
        snprintf(name, sizeof name, "stats.arenas.%u.pactive", i);
        if (init[i]) {
            pactive += read_size(name);
        } else {
            noent(name);
        }
    }
    snprintf(name, sizeof name, "stats.arenas.%u.pactive", narenas);
    CHECK(read_size(name) == pactive, "sum of pactive %zu != stats.arenas.narenas.pactive", pactive);
    snprintf(name, sizeof name, "stats.arenas.%u.pactive", narenas + 1);
    noent(name);

    /* Every stats.arenas.<i>.* name, with its type, for arena 0 and the sum. */
    for (unsigned k = 0; k < 2; k++) {
        unsigned i = k == 0 ? 0 : narenas;
        unsigned nthreads;
        size_t z;
        uint64_t u;
#define ARENA(leaf, T, v)                                                                  \
    snprintf(name, sizeof name, "stats.arenas.%u." leaf, i);                               \
    READ_RO(name, T, v)
        ARENA("nthreads", unsigned, nthreads);
        CHECK(nthreads >= 1, "arena %u has %u threads", i, nthreads);
        ARENA("pactive", size_t, z);
        ARENA("pdirty", size_t, z);
        ARENA("mapped", size_t, z);
        CHECK(z >= e->chunksize, "arena %u mapped %zu", i, z);
        ARENA("npurge", uint64_t, u);
        ARENA("nmadvise", uint64_t, u);
        ARENA("npurged", uint64_t, u);
        ARENA("small.allocated", size_t, z);
        CHECK(z >= N * 16, "arena %u small.allocated %zu", i, z);
        ARENA("small.nmalloc", uint64_t, u);
        ARENA("small.ndalloc", uint64_t, u);
        ARENA("small.nrequests", uint64_t, u);
        ARENA("large.allocated", size_t, z);
        CHECK(z >= 2 * 4096, "arena %u large.allocated %zu", i, z);
        ARENA("large.nmalloc", uint64_t, u);
        ARENA("large.ndalloc", uint64_t, u);
        ARENA("large.nrequests", uint64_t, u);
        for (unsigned j = 0; j < e->nbins; j++) {
#define BIN(leaf, T, v)                                                                    \
    snprintf(name, sizeof name, "stats.arenas.%u.bins.%u." leaf, i, j);                    \
    READ_RO(name, T, v)
            BIN("allocated", size_t, z);
            BIN("nmalloc", uint64_t, u);
            BIN("ndalloc", uint64_t, u);
            BIN("nrequests", uint64_t, u);
            BIN("nfills", uint64_t, u);
            BIN("nflushes", uint64_t, u);
            BIN("nruns", uint64_t, u);
            BIN("nreruns", uint64_t, u);
            BIN("highruns", size_t, z);
            BIN("curruns", size_t, z);
        }
        snprintf(name, sizeof name, "stats.arenas.%u.bins.%u.nmalloc", i, e->nbins);
        noent(name);
        for (size_t j = 0; j < e->nlruns; j += (j < 8 ? 1 : 97)) {
#define LRUN(leaf, T, v)                                                                   \
    snprintf(name, sizeof name, "stats.arenas.%u.lruns.%zu." leaf, i, j);                  \
    READ_RO(name, T, v)
            LRUN("nmalloc", uint64_t, u);
            LRUN("ndalloc", uint64_t, u);
            LRUN("nrequests", uint64_t, u);
            LRUN("highruns", size_t, z);
            LRUN("curruns", size_t, z);
        }
        snprintf(name, sizeof name, "stats.arenas.%u.lruns.%zu.nmalloc", i, e->nlruns - 1);
        READ_RO(name, uint64_t, u);
        snprintf(name, sizeof name, "stats.arenas.%u.lruns.%zu.nmalloc", i, e->nlruns);
        noent(name);
    }
    for (int i = 0; i < N; i++) free(ps[i]);
    free(large);
    free(huge);
    mallctl("tcache.flush", NULL, NULL, NULL, 0);
    advance_epoch();
    CHECK(read_size("stats.allocated") < allocated1 - 2 * e->chunksize, "stats.allocated did not fall");
    CHECK(read_u64("stats.huge.ndalloc") >= 1, "huge.ndalloc");
}

/* The manual's mallctlnametomib() example, with its two typos mended (size_t mib[], and
 * mallctlnametomib for "mallnametomib"). */
static void manual_example(const struct expect *e) {
    unsigned nbins, i;
    size_t mib[4];
    size_t len, miblen;
    len = sizeof(nbins);
    mallctl("arenas.nbins", &nbins, &len, NULL, 0);
    miblen = 4;
    mallctlnametomib("arenas.bin.0.size", mib, &miblen);
    for (i = 0; i < nbins; i++) {
        size_t bin_size;
        mib[2] = i;
        len = sizeof(bin_size);
        mallctlbymib(mib, miblen, &bin_size, &len, NULL, 0);
        CHECK(bin_size == e->sizes[i], "manual example: bin %u size %zu", i, bin_size);
    }
    CHECK(miblen == 4, "miblen %zu", miblen);

    /* A partial MIB is the lesser of the name's length and *miblenp. */
    size_t part[6] = {99, 99, 99, 99, 99, 99};
    miblen = 2;
    CHECK(mallctlnametomib("stats.arenas.0.bins.3.nmalloc", part, &miblen) == 0 && miblen == 2, "partial MIB");
    CHECK(part[2] == 99, "partial MIB wrote past its length");
    miblen = 6;
    CHECK(mallctlnametomib("stats.arenas.0.bins.3.nmalloc", part, &miblen) == 0 && miblen == 6, "full MIB");
    CHECK(part[2] == 0 && part[4] == 3, "index components are the integers");
    uint64_t v;
    len = sizeof(v);
    CHECK(mallctlbymib(part, 5, &v, &len, NULL, 0) == ENOENT, "a partial MIB is not readable");
    part[4] = e->nbins;
    CHECK(mallctlbymib(part, 6, &v, &len, NULL, 0) == ENOENT, "bin index nbins is not ENOENT");
    miblen = 6;
    CHECK(mallctlnametomib("arenas.bin", part, &miblen) == ENOENT, "a name ending inside the tree");
    CHECK(mallctlnametomib("nope.x", part, &miblen) == ENOENT, "unknown name");
}

static char captured[1 << 16];
static size_t ncaptured;
static void capture(void *opaque, const char *s) {
    (void)opaque;
    size_t n = strlen(s);
    if (ncaptured + n < sizeof captured) {
        memcpy(captured + ncaptured, s, n);
        ncaptured += n;
        captured[ncaptured] = 0;
    }
}

static void messages(void) {
    /* Without a callback the report goes through malloc_message, which a program may set. */
    void (*saved)(void *, const char *) = malloc_message;
    CHECK(saved != NULL, "malloc_message is null");
    malloc_message = capture;
    malloc_stats_print(NULL, NULL, "bl");
    malloc_message = saved;
    CHECK(strstr(captured, "___ Begin jemalloc statistics ___\n") == captured, "report does not begin right");
    CHECK(strstr(captured, "--- End jemalloc statistics ---\n") != NULL, "report does not end right");
    CHECK(strstr(captured, "Run-time option settings:") != NULL, "no general information");
    CHECK(strstr(captured, "arenas[0]:") != NULL, "no arena 0");
    CHECK(strstr(captured, "bins:") == NULL, "'b' did not leave the bins out");
    ncaptured = 0;
    malloc_stats_print(capture, NULL, "g");
    CHECK(strstr(captured, "Run-time option settings:") == NULL, "'g' did not leave general information out");
    CHECK(strstr(captured, "bins:     bin    size regs pgs") != NULL, "bins missing");
    CHECK(strstr(captured, "large:   size pages") != NULL, "large runs missing");
}

int main(int argc, char **argv) {
    struct expect e = {0};
    if (argc != 4) {
        fprintf(stderr, "usage: %s LG_CHUNK LG_QSPACE_MAX LG_CSPACE_MAX\n", argv[0]);
        return 2;
    }
    e.lg_chunk = strtoul(argv[1], NULL, 10);
    e.lg_qspace_max = strtoul(argv[2], NULL, 10);
    e.lg_cspace_max = strtoul(argv[3], NULL, 10);
    derive(&e);
    general(&e);
    statistics(&e);
    manual_example(&e);
    messages();
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}

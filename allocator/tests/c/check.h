/*
 * Helpers shared by the C test programs: failure reporting, a check that the allocator under
 * test is the one serving malloc, content patterns, a small PRNG and the resident set size.
 */
#ifndef JEMALLOC_RS_TEST_CHECK_H
#define JEMALLOC_RS_TEST_CHECK_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline void fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

static inline void fail_at(const char *file, int line, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* Written with one write(2) so that lines from several threads do not interleave. */
    char out[640];
    int n = snprintf(out, sizeof(out), "FAIL %s:%d: %s\n", file, line, msg);
    if (n > 0) {
        ssize_t ignored = write(2, out, (size_t)n < sizeof(out) ? (size_t)n : sizeof(out) - 1);
        (void)ignored;
    }
    _exit(1);
}

#define FAIL(...) fail_at(__FILE__, __LINE__, __VA_ARGS__)
#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond))                                                                       \
            FAIL(__VA_ARGS__);                                                             \
    } while (0)

/* Fails unless malloc resolves to libjemalloc_rs.so, i.e. the library really was preloaded. */
static inline void require_preloaded(void) {
    void *sym = dlsym(RTLD_DEFAULT, "malloc");
    Dl_info info;
    CHECK(sym != NULL && dladdr(sym, &info) != 0 && info.dli_fname != NULL,
        "cannot locate the definition of malloc");
    CHECK(strstr(info.dli_fname, "libjemalloc_rs") != NULL,
        "malloc comes from %s, not libjemalloc_rs.so: run with LD_PRELOAD", info.dli_fname);
}

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* xorshift64*: a fast PRNG for sizes and choices; state must be non-zero. */
static inline uint64_t rng_next(uint64_t *state) {
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* The byte at offset i of a block filled with seed; differs between seeds and offsets. */
static inline uint8_t pattern_byte(uint64_t seed, size_t i) {
    return (uint8_t)(mix64(seed + (i >> 3)) >> ((i & 7) * 8));
}

/* Fills bytes [from, to) of the block at p with the pattern of seed. */
static inline void pattern_fill_range(void *p, size_t from, size_t to, uint64_t seed) {
    uint8_t *b = p;
    size_t i = from;
    for (; i < to && (i & 7) != 0; i++)
        b[i] = pattern_byte(seed, i);
    for (; i + 8 <= to; i += 8) {
        uint64_t w = mix64(seed + (i >> 3));
        memcpy(b + i, &w, 8);
    }
    for (; i < to; i++)
        b[i] = pattern_byte(seed, i);
}

static inline void pattern_fill(void *p, size_t n, uint64_t seed) {
    pattern_fill_range(p, 0, n, seed);
}

/* The first offset in [from, to) that does not hold the pattern, or to if all do. */
static inline size_t pattern_mismatch_range(const void *p, size_t from, size_t to,
    uint64_t seed) {
    const uint8_t *b = p;
    size_t i = from;
    for (; i < to && (i & 7) != 0; i++)
        if (b[i] != pattern_byte(seed, i))
            return i;
    for (; i + 8 <= to; i += 8) {
        uint64_t w = mix64(seed + (i >> 3)), have;
        memcpy(&have, b + i, 8);
        if (have != w)
            break;
    }
    for (; i < to; i++)
        if (b[i] != pattern_byte(seed, i))
            return i;
    return to;
}

static inline size_t pattern_mismatch(const void *p, size_t n, uint64_t seed) {
    return pattern_mismatch_range(p, 0, n, seed);
}

#define CHECK_PATTERN(p, n, seed, ...)                                                     \
    do {                                                                                   \
        size_t at_ = pattern_mismatch((p), (n), (seed));                                   \
        if (at_ != (size_t)(n))                                                            \
            FAIL("block %p of %zu bytes corrupted at offset %zu: %s", (void *)(p),         \
                (size_t)(n), at_, __VA_ARGS__);                                            \
    } while (0)

/* The first non-zero offset in [0, n), or n. */
static inline size_t first_nonzero(const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return i;
    return n;
}

/* Resident set size in bytes, from /proc/self/statm. */
static inline size_t rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    CHECK(f != NULL, "cannot open /proc/self/statm");
    unsigned long size_pages, resident_pages;
    int n = fscanf(f, "%lu %lu", &size_pages, &resident_pages);
    fclose(f);
    CHECK(n == 2, "cannot parse /proc/self/statm");
    return (size_t)resident_pages * (size_t)sysconf(_SC_PAGESIZE);
}

#define MiB ((size_t)1 << 20)
#define KiB ((size_t)1 << 10)

#endif

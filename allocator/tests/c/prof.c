/*
 * The heap profiler under LD_PRELOAD (MALLOC_CONF=prof:true,...): allocation sites with known
 * allocations, named functions that the test finds in the dumps' backtraces.
 *
 *   prof sites DIR      known objects kept and freed at several sites; dumps DIR/sites.heap
 *   prof sampled DIR    much allocation at two sites (one 3x the other); dumps DIR/sampled.heap
 *   prof threads DIR    objects allocated by threads that exit, freed by others; DIR/threads.heap
 *   prof fork DIR       parent and child dump after the fork: DIR/parent.heap, DIR/child.heap
 *   prof leak           leaks from leaky_function, then exits (the final dump and leak report)
 *   prof auto           allocates 8 MiB in 64 KiB objects, prof.dump NULL twice, exits
 *   prof inactive DIR   prof.active false around one site; dumps DIR/inactive.heap
 *
 * Built without frame pointers and with optimisation, as most C is; the site functions are
 * kept out of line so that each allocation's caller is the site.
 */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/wait.h>

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);

static int ctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen) {
    static mallctl_fn f;
    if (f == NULL)
        f = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
    CHECK(f != NULL, "mallctl not found: run with LD_PRELOAD of libjemalloc_rs.so");
    return f(name, oldp, oldlenp, newp, newlen);
}

static void dump_to(const char *dir, const char *file) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    const char *p = path;
    int r = ctl("prof.dump", NULL, NULL, &p, sizeof p);
    CHECK(r == 0, "prof.dump(%s) returned %d", path, r);
}

#define NOINLINE __attribute__((noinline, noclone))
/* Keeps the compiler from turning the call into a tail call, so the site stays on the stack. */
#define KEEP(p) __asm__ volatile("" : : "r"(p) : "memory")

static void *volatile sink[1 << 17];

NOINLINE void *site_small(size_t n) { void *p = malloc(n); KEEP(p); return p; }
NOINLINE void *site_large(size_t n) { void *p = malloc(n); KEEP(p); return p; }
NOINLINE void *site_calloc(size_t n) { void *p = calloc(1, n); KEEP(p); return p; }
NOINLINE void *site_aligned(size_t n) { void *p = NULL; CHECK(posix_memalign(&p, 256, n) == 0, "posix_memalign"); KEEP(p); return p; }
NOINLINE void *site_huge(size_t n) { void *p = malloc(n); KEEP(p); return p; }
NOINLINE void *site_realloc(void *old, size_t n) { void *p = realloc(old, n); KEEP(p); return p; }
NOINLINE void *site_heavy(size_t n) { void *p = malloc(n); KEEP(p); return p; }
NOINLINE void *site_light(size_t n) { void *p = malloc(n); KEEP(p); return p; }
NOINLINE void *site_thread(size_t n) { void *p = malloc(n); KEEP(p); return p; }
NOINLINE void *site_worker(size_t n) { void *p = malloc(n); KEEP(p); return p; }
NOINLINE void *site_exiting(size_t n) { void *p = malloc(n); KEEP(p); return p; }
NOINLINE void *site_ctor(size_t n) { void *p = malloc(n); KEEP(p); return p; }
NOINLINE void *site_parent(size_t n) { void *p = malloc(n); KEEP(p); return p; }
NOINLINE void *site_child(size_t n) { void *p = malloc(n); KEEP(p); return p; }
NOINLINE void *site_unsampled(size_t n) { void *p = malloc(n); KEEP(p); return p; }
NOINLINE void *leaky_function(size_t n) { void *p = malloc(n); KEEP(p); return p; }

/* Allocated before main, while the process starts. */
static void *ctor_objects[5];
__attribute__((constructor)) static void early(void) {
    for (int i = 0; i < 5; i++)
        ctor_objects[i] = site_ctor(48);
}

static void sites(const char *dir) {
    /* site_small: 1000 x 100 bytes (class 112), 400 freed -> 600 x 112 in use. */
    for (int i = 0; i < 1000; i++)
        sink[i] = site_small(100);
    for (int i = 0; i < 400; i++)
        free(sink[i]);
    /* site_large: 50 x 20000 bytes (class 20480), 40 freed -> 10 in use. */
    for (int i = 0; i < 50; i++)
        sink[2000 + i] = site_large(20000);
    for (int i = 0; i < 40; i++)
        free(sink[2000 + i]);
    /* site_calloc: 30 x 3000 bytes (class 3072), all freed. */
    for (int i = 0; i < 30; i++)
        sink[3000 + i] = site_calloc(3000);
    for (int i = 0; i < 30; i++)
        free(sink[3000 + i]);
    /* site_aligned: 7 x 300 bytes at 256-byte alignment (class 512), all kept. */
    for (int i = 0; i < 7; i++)
        sink[4000 + i] = site_aligned(300);
    /* site_huge: 3 x 5 MiB (class 8 MiB with 4 MiB chunks), 1 freed. */
    for (int i = 0; i < 3; i++)
        sink[5000 + i] = site_huge(5 << 20);
    free(sink[5000]);
    /* site_realloc: 20 objects grown 64 -> 1000 (class 1024): each realloc moves and counts
     * as a new object at the realloc site; the 64-byte originals come from site_small. */
    for (int i = 0; i < 20; i++)
        sink[6000 + i] = site_realloc(site_small(64), 1000);
    dump_to(dir, "sites.heap");
}

static void sampled(const char *dir) {
    /* 3 x 96 MiB at site_heavy and 96 MiB at site_light, in 1000-byte objects (class 1024),
     * freed as they go except every 4th of site_heavy's. */
    size_t n = (96u << 20) / 1024;
    for (size_t i = 0; i < 3 * n; i++) {
        void *p = site_heavy(1000);
        if (i % 4 == 0)
            sink[i / 4] = p;
        else
            free(p);
        if (i < n) {
            void *q = site_light(1000);
            free(q);
        }
    }
    dump_to(dir, "sampled.heap");
}

static void *thread_main(void *arg) {
    void **out = arg;
    for (int i = 0; i < 1000; i++)
        out[i] = site_thread(200);
    return NULL;
}

static void *worker_main(void *arg) {
    (void)arg;
    void *mine[500];
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 500; i++)
            mine[i] = site_worker(40);
        for (int i = 0; i < 500; i++)
            if (round < 19 || i >= 100)
                free(mine[i]);
    }
    /* 100 x 48 bytes stay in use per worker. */
    return NULL;
}

static pthread_key_t exit_key;
static void *exiting_objects[8 * 4];
static void on_exit_key(void *v) {
    intptr_t t = (intptr_t)v - 1;
    for (int i = 0; i < 4; i++)
        exiting_objects[t * 4 + i] = site_exiting(4000);
}

static void *exiting_main(void *arg) {
    pthread_setspecific(exit_key, arg);
    (void)site_worker(1); /* at least one allocation, so the allocator has seen the thread */
    return NULL;
}

static void threads(const char *dir) {
    /* site_thread: allocated by a thread that then exits; 300 freed by main -> 700 x 208. */
    static void *objs[1000];
    pthread_t t;
    CHECK(pthread_create(&t, NULL, thread_main, objs) == 0, "pthread_create");
    CHECK(pthread_join(t, NULL) == 0, "pthread_join");
    for (int i = 0; i < 300; i++)
        free(objs[i]);
    /* site_worker: 4 threads, each 10000 x 40 bytes (class 48), 100 left in use each. */
    pthread_t w[4];
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&w[i], NULL, worker_main, NULL) == 0, "pthread_create");
    for (int i = 0; i < 4; i++)
        CHECK(pthread_join(w[i], NULL) == 0, "pthread_join");
    /* site_exiting: allocations made by 8 threads' key destructors, while they exit. */
    CHECK(pthread_key_create(&exit_key, on_exit_key) == 0, "pthread_key_create");
    pthread_t e[8];
    for (intptr_t i = 0; i < 8; i++)
        CHECK(pthread_create(&e[i], NULL, exiting_main, (void *)(i + 1)) == 0, "pthread_create");
    for (int i = 0; i < 8; i++)
        CHECK(pthread_join(e[i], NULL) == 0, "pthread_join");
    dump_to(dir, "threads.heap");
}

static void forked(const char *dir) {
    for (int i = 0; i < 100; i++)
        sink[i] = site_parent(500);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        for (int i = 0; i < 50; i++)
            sink[1000 + i] = site_child(700);
        for (int i = 0; i < 20; i++)
            free(sink[i]);
        dump_to(dir, "child.heap");
        _exit(0);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed");
    dump_to(dir, "parent.heap");
}

static void leak(void) {
    for (int i = 0; i < 10; i++)
        sink[i] = leaky_function(1000);
    for (int i = 0; i < 10; i++)
        sink[i] = NULL; /* forgotten: a leak */
}

static void automatic(void) {
    for (int i = 0; i < 128; i++)
        free(site_large(64 << 10));
    free(site_huge(5 << 20)); /* maps a new chunk: a high-water mark for prof_gdump */
    CHECK(ctl("prof.dump", NULL, NULL, NULL, 0) == 0, "prof.dump with no name");
    const char *none = NULL;
    CHECK(ctl("prof.dump", NULL, NULL, &none, sizeof none) == 0, "prof.dump NULL");
}

static void inactive(const char *dir) {
    bool off = false, on = true, was;
    size_t len = sizeof was;
    CHECK(ctl("prof.active", &was, &len, &off, sizeof off) == 0 && was, "prof.active was on");
    for (int i = 0; i < 100; i++)
        sink[i] = site_unsampled(64);
    CHECK(ctl("prof.active", NULL, NULL, &on, sizeof on) == 0, "prof.active back on");
    for (int i = 0; i < 100; i++)
        free(sink[i]);
    for (int i = 0; i < 10; i++)
        sink[i] = site_small(64);
    dump_to(dir, "inactive.heap");
}

int main(int argc, char **argv) {
    require_preloaded();
    CHECK(argc >= 2, "usage: prof MODE [DIR]");
    const char *mode = argv[1], *dir = argc > 2 ? argv[2] : ".";
    if (strcmp(mode, "sites") == 0)
        sites(dir);
    else if (strcmp(mode, "sampled") == 0)
        sampled(dir);
    else if (strcmp(mode, "threads") == 0)
        threads(dir);
    else if (strcmp(mode, "fork") == 0)
        forked(dir);
    else if (strcmp(mode, "leak") == 0)
        leak();
    else if (strcmp(mode, "auto") == 0)
        automatic();
    else if (strcmp(mode, "inactive") == 0)
        inactive(dir);
    else
        FAIL("unknown mode %s", mode);
    printf("ok %s\n", mode);
    return 0;
}

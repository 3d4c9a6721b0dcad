/*
 * libjemalloc_rs.so loaded with dlopen while other threads already run, as `jemctl bench`
 * and plugin hosts load it: a thread that existed before the load gets the library's thread
 * state from the TLS image (which holds relocated pointers: a thread without a cache starts
 * on the empty cache), and must then allocate and free through the library like the thread
 * that loaded it.
 *
 *   dlopen_threads <path to libjemalloc_rs.so>
 *
 * Prints "ok dlopen" on success; a violation prints a FAIL line and exits with status 1.
 */
#include "check.h"

#include <pthread.h>

static void *(*lib_malloc)(size_t);
static void (*lib_free)(void *);
static pthread_barrier_t loaded;

/* Allocates, fills, checks and frees blocks of small and large sizes through the library. */
static void exercise(unsigned salt) {
    enum { LIVE = 64 };
    unsigned char *live[LIVE] = {0};
    size_t sizes[LIVE] = {0};
    for (unsigned i = 0; i < 50000; i++) {
        unsigned slot = (i * 2654435761u + salt) % LIVE;
        if (live[slot] != NULL) {
            for (size_t j = 0; j < sizes[slot]; j += 97) {
                CHECK(live[slot][j] == (unsigned char)(slot + salt), "block %u lost its contents", slot);
            }
            lib_free(live[slot]);
        }
        sizes[slot] = 8 + (i * 7919u) % (i % 16 == 0 ? 40000 : 600);
        live[slot] = lib_malloc(sizes[slot]);
        CHECK(live[slot] != NULL, "malloc(%zu) failed", sizes[slot]);
        memset(live[slot], (int)(slot + salt), sizes[slot]);
    }
    for (unsigned slot = 0; slot < LIVE; slot++) {
        lib_free(live[slot]);
    }
}

static void *early_thread(void *arg) {
    (void)arg;
    pthread_barrier_wait(&loaded); /* started before the load */
    pthread_barrier_wait(&loaded); /* the library is loaded */
    exercise(1);
    return NULL;
}

int main(int argc, char **argv) {
    CHECK(argc == 2, "usage: dlopen_threads <library>");
    CHECK(pthread_barrier_init(&loaded, NULL, 2) == 0, "barrier");
    pthread_t t;
    CHECK(pthread_create(&t, NULL, early_thread, NULL) == 0, "pthread_create");
    pthread_barrier_wait(&loaded);
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    CHECK(lib != NULL, "dlopen: %s", dlerror());
    lib_malloc = (void *(*)(size_t))dlsym(lib, "malloc");
    lib_free = (void (*)(void *))dlsym(lib, "free");
    CHECK(lib_malloc != NULL && lib_free != NULL, "the library lacks malloc or free");
    pthread_barrier_wait(&loaded);
    exercise(2);
    CHECK(pthread_join(t, NULL) == 0, "pthread_join");
    printf("ok dlopen\n");
    return 0;
}

/*
 * fork() while other threads allocate, against libjemalloc_rs.so.
 *
 * Two threads allocate, resize and free in a loop while the main thread forks 50 times.
 * Each child checks a block its parent filled before forking, allocates and frees (from the
 * main thread and from a new thread) and exits with _exit(0). A child that deadlocks on an
 * allocator lock left held by a thread that does not exist in the child is killed after a
 * timeout, and the run fails.
 *
 * Prints "ok fork" on success; a violation prints a FAIL line and exits with status 1.
 */
#include "check.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

enum { FORKS = 50, CHILD_TIMEOUT_S = 20 };

static atomic_int stop;

static void *busy_worker(void *arg) {
    uint64_t rng = mix64((uint64_t)(uintptr_t)arg + 5);
    enum { SLOTS = 64 };
    void *ps[SLOTS] = {0};
    size_t sizes[SLOTS] = {0};
    while (!atomic_load(&stop)) {
        int k = (int)(rng_next(&rng) % SLOTS);
        if (ps[k] != NULL && rng_next(&rng) % 8 == 0) {
            /* Resizing moves huge objects with mremap while the main thread forks. */
            size_t grown = sizes[k] + sizes[k] / 2 + 1;
            void *q = realloc(ps[k], grown);
            CHECK(q != NULL, "realloc(%zu -> %zu) returned NULL", sizes[k], grown);
            CHECK_PATTERN(q, sizes[k], sizes[k], "block after realloc");
            ps[k] = q;
            pattern_fill(q, grown, grown);
            sizes[k] = grown;
        }
        if (ps[k] != NULL) {
            CHECK_PATTERN(ps[k], sizes[k], sizes[k], "block of an allocating thread");
            free(ps[k]);
        }
        uint64_t r = rng_next(&rng) % 1000;
        sizes[k] = r < 900 ? 1 + rng_next(&rng) % 2048
                 : r < 995 ? 4097 + rng_next(&rng) % (128 * KiB)
                           : 4 * MiB + rng_next(&rng) % MiB;
        ps[k] = malloc(sizes[k]);
        CHECK(ps[k] != NULL, "malloc(%zu) returned NULL", sizes[k]);
        pattern_fill(ps[k], sizes[k], sizes[k]);
    }
    for (int k = 0; k < SLOTS; k++)
        free(ps[k]);
    return NULL;
}

static void *child_thread(void *arg) {
    (void)arg;
    for (int i = 0; i < 100; i++) {
        void *p = malloc(16 + (size_t)i * 40);
        CHECK(p != NULL, "malloc in a thread of a forked child returned NULL");
        memset(p, i, 16 + (size_t)i * 40);
        free(p);
    }
    return NULL;
}

static void child(const void *inherited, size_t inherited_size) {
    CHECK_PATTERN(inherited, inherited_size, 42, "block inherited across fork");
    free((void *)inherited);
    const size_t sizes[] = {8, 100, 3000, 20000, 300000, 5 * MiB};
    for (int round = 0; round < 10; round++) {
        void *ps[6];
        for (int i = 0; i < 6; i++) {
            ps[i] = malloc(sizes[i]);
            CHECK(ps[i] != NULL, "malloc(%zu) in a forked child returned NULL", sizes[i]);
            pattern_fill(ps[i], sizes[i], (uint64_t)i);
        }
        for (int i = 0; i < 6; i++) {
            CHECK_PATTERN(ps[i], sizes[i], (uint64_t)i, "block allocated in a forked child");
            free(ps[i]);
        }
    }
    pthread_t t;
    CHECK(pthread_create(&t, NULL, child_thread, NULL) == 0, "pthread_create in a child failed");
    pthread_join(t, NULL);
    _exit(0);
}

static void on_alarm(int sig) {
    (void)sig;
}

int main(void) {
    require_preloaded();
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: the alarm interrupts waitpid */
    sigaction(SIGALRM, &sa, NULL);

    pthread_t workers[2];
    for (uintptr_t i = 0; i < 2; i++)
        CHECK(pthread_create(&workers[i], NULL, busy_worker, (void *)i) == 0,
            "pthread_create failed");

    for (int n = 0; n < FORKS; n++) {
        size_t inherited_size = 1000 + (size_t)n * 997;
        void *inherited = malloc(inherited_size);
        CHECK(inherited != NULL, "malloc returned NULL");
        pattern_fill(inherited, inherited_size, 42);
        pid_t pid = fork();
        CHECK(pid >= 0, "fork failed");
        if (pid == 0)
            child(inherited, inherited_size);
        free(inherited);

        alarm(CHILD_TIMEOUT_S);
        int status = 0;
        pid_t got = waitpid(pid, &status, 0);
        int wait_errno = errno;
        alarm(0);
        if (got < 0 && wait_errno == EINTR) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            FAIL("child %d of %d did not exit within %d s (deadlocked after fork?)", n + 1, FORKS,
                CHILD_TIMEOUT_S);
        }
        CHECK(got == pid, "waitpid failed: errno %d", wait_errno);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "child %d of %d: %s %d", n + 1, FORKS,
            WIFEXITED(status) ? "exit status" : "killed by signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(workers[i], NULL);
    puts("ok fork");
    return 0;
}

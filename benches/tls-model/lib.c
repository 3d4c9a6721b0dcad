/* One thread-local counter, in the TLS model chosen at compile time (-DIE: initial-exec). */
#ifdef IE
static __thread long counter __attribute__((tls_model("initial-exec")));
#else
static __thread long counter __attribute__((tls_model("global-dynamic")));
#endif
long bump(void) { return ++counter; }

#!/usr/bin/env bash
# What a thread-local costs inside a shared library: the same increment of a __thread
# variable through the global-dynamic model (a __tls_get_addr call, what Rust's own
# thread_local! compiles to in a cdylib) and through initial-exec (a GOT load and an add
# from %fs, what libjemalloc_rs.so uses for its thread state).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc -O2 -fPIC -shared -o "$out/libgd.so" "$here/lib.c"
cc -O2 -fPIC -shared -DIE -o "$out/libie.so" "$here/lib.c"
cc -O2 -o "$out/gd" "$here/main.c" -L"$out" -lgd -Wl,-rpath,"$out"
cc -O2 -o "$out/ie" "$here/main.c" -L"$out" -lie -Wl,-rpath,"$out"
for round in 1 2 3; do
  echo "round $round: global-dynamic $("$out/gd" | sort -n | head -2 | tail -1)   initial-exec $("$out/ie" | sort -n | head -2 | tail -1)"
done

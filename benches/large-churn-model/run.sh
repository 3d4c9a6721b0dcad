#!/usr/bin/env bash
# large-churn's kernel work, for libjemalloc_rs.so and each installed peer, single-threaded.
# Usage: benches/large-churn-model/run.sh [path/to/libjemalloc_rs.so] [STEPS]   (after cargo build --release)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
so=${1:-$here/../../target/release/libjemalloc_rs.so}
steps=${2:-1000000}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc -O2 -o "$out/churn" "$here/churn.c"
libdir=$(dirname "$(cc -print-file-name=libc.so.6)")
echo "glibc:               $("$out/churn" "$steps")"
echo "jemalloc-rs:         $(LD_PRELOAD=$so "$out/churn" "$steps")"
for peer in libjemalloc.so.2 libmimalloc.so.2 libtcmalloc_minimal.so.4; do
  for dir in "$libdir" /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 /usr/lib; do
    if [ -e "$dir/$peer" ]; then
      printf '%-20s %s\n' "${peer%%.so*}:" "$(LD_PRELOAD=$dir/$peer "$out/churn" "$steps")"
      break
    fi
  done
done

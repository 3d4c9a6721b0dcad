#!/usr/bin/env bash
# Resident set after freeing 1 GiB, for libjemalloc_rs.so and each installed peer, by block size.
# Usage: benches/rss-giveback/run.sh [path/to/libjemalloc_rs.so]   (after cargo build --release)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
so=${1:-$here/../../target/release/libjemalloc_rs.so}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc -O2 -o "$out/giveback" "$here/giveback.c"
libdir=$(dirname "$(cc -print-file-name=libc.so.6)")
for block in 1048576 65536 4096 100; do
  echo "glibc:          $("$out/giveback" $block)"
  echo "jemalloc-rs:    $(LD_PRELOAD=$so "$out/giveback" $block)"
  for peer in libjemalloc.so.2 libmimalloc.so.2 libtcmalloc_minimal.so.4; do
    for dir in "$libdir" /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 /usr/lib; do
      if [ -e "$dir/$peer" ]; then
        printf '%-16s %s\n' "${peer%%.so*}:" "$(LD_PRELOAD=$dir/$peer "$out/giveback" $block)"
        break
      fi
    done
  done
done

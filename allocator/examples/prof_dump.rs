//! Heap profiling a Rust program that uses jemalloc-rs as its global allocator.
//!
//! ```sh
//! MALLOC_CONF=prof:true,prof_prefix:/tmp/ex cargo run --release -p jemalloc_rs --example prof_dump
//! google-pprof --text target/release/examples/prof_dump /tmp/ex.*.m0.heap
//! ```
//!
//! Without `prof:true` in `MALLOC_CONF` the dump fails with `EFAULT`, as the manual says.

use jemalloc_rs::ctl::typed::prof;

#[global_allocator]
static GLOBAL: jemalloc_rs::Jemalloc = jemalloc_rs::Jemalloc;

#[inline(never)]
fn build_index(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("entry number {i}")).collect()
}

fn main() {
    let index = build_index(100_000);
    let on = jemalloc_rs::ctl::typed::opt::prof::read().unwrap_or(false);
    match prof::dump(None) {
        Ok(()) => println!("{} entries; profile written to <prefix>.<pid>.<seq>.m0.heap", index.len()),
        Err(e) if !on => println!("profiling is off (run with MALLOC_CONF=prof:true): {e}"),
        Err(e) => {
            eprintln!("prof.dump failed: {e}");
            std::process::exit(1);
        }
    }
}

#[global_allocator]
static GLOBAL: jemalloc_rs::Jemalloc = jemalloc_rs::Jemalloc;

fn main() {}

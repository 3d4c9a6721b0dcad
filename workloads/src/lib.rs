//! Synthetic multithreaded allocation workloads, shared by `jemctl bench` and the criterion
//! benches.
//!
//! Each [`Workload`] is a seeded, reproducible program of allocation events run on N threads.
//! Workloads reach the allocator under test only through an [`AllocTable`] of C function pointers
//! (`malloc`, `free`, `realloc`, `calloc`, `posix_memalign`, `malloc_usable_size`), so every
//! allocator, in-process or loaded from a shared library, is called the same way. Their own
//! bookkeeping (slot arrays, queues, histograms) comes from the program's global allocator and is
//! set up before the timed part starts.
//!
//! Entry points: [`all`] and [`find`] list the workloads; [`run`] runs one on N threads and
//! returns an [`Outcome`] (operations, CPU time, latency histogram, live bytes and RSS).
//! [`ThreadCtx`] is what a workload thread sees: the allocator calls, counted and sampled for
//! latency, its random numbers and its stop condition.

pub mod catalog;
pub mod clock;
pub mod ctx;
pub mod os;
pub mod rng;
pub mod runner;
pub mod table;

pub use catalog::{all, find, Shared, Workload};
pub use clock::Clock;
pub use ctx::ThreadCtx;
pub use rng::Rng;
pub use runner::{run, run_shared, Outcome, RunParams};
pub use table::AllocTable;

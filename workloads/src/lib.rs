//! Synthetic multithreaded allocation workloads.

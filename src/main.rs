//! `bk-job-shim` binary: all behaviour lives in the library; this only wires.

#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    bk_job_shim::cli::main()
}

//! `bk-job-shim` binary: all behaviour lives in the library; this only wires.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    bk_job_shim::cli::main()
}

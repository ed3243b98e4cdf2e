//! `bk-job-shim` binary: all behaviour lives in the library; this only wires.

fn main() -> std::process::ExitCode {
    bk_job_shim::cli::main()
}

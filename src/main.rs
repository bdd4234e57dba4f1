//! The `hashsieve` command line. Only parsing lives here (and in `cli/`):
//! clap types are turned into the library's plain configs, then the library
//! runs. Errors reach the user through `anyhow` at this edge only.

mod alloc_tuning;
mod cli;

fn main() -> std::process::ExitCode {
    alloc_tuning::tune();
    cli::main()
}

//! The `hashsieve` command line. Only parsing lives here (and in `cli/`):
//! clap types are turned into the library's plain configs, then the library
//! runs. Errors reach the user through `anyhow` at this edge only.

mod alloc_tuning;
mod cli;

fn main() -> std::process::ExitCode {
    alloc_tuning::tune();
    // A sandboxed decoder worker (started by `scan` and `serve`, never by
    // hand): before any argument parsing, thread or file.
    if std::env::args_os().nth(1).as_deref() == Some(hashsieve::sandbox::WORKER_ARG.as_ref()) {
        let rest: Vec<String> = std::env::args_os()
            .skip(2)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        hashsieve::sandbox::worker::main(&rest);
    }
    // Before any worker thread: the kernel grants the tile state only if
    // every thread's signal stack can hold it.
    hashsieve::video::prepare_cpu();
    cli::main()
}

//! Command-line parsing: one file per subcommand, each turning its clap
//! arguments into a library config and returning the process exit code.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

mod compare;
mod db;
mod hash;
mod limits_args;
mod match_file;
mod matching;
#[cfg(feature = "queue")]
mod queue;
mod rule_args;
mod runs;
mod sandbox_args;
mod scan;
mod scan_args;
#[cfg(feature = "serve")]
mod serve;
mod token;
mod video_args;
mod views_args;

/// Find known violent-extremist media when it is reposted.
///
/// Exit codes: 0 success (scan/match/compare: no match), 1 matches found
/// (scan, match, compare), 2 errors happened or bad arguments, 3 matches
/// found and errors happened (scan, match --queries), 130 scan interrupted.
#[derive(Parser)]
#[command(name = "hashsieve", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Hash files: MD5, SHA-256, BLAKE3 of every file, PDQ of images,
    /// vPDQ frame hashes of videos. JSON Lines on stdout.
    Hash(hash::HashArgs),
    /// Scan folders and archives for known media (parallel, resumable):
    /// hashes every file and matches it against the hash lists.
    Scan(scan::ScanArgs),
    /// Manage the hash lists: create, import, export, add media, disable,
    /// dispute, allowlist, stats.
    Db(db::DbArgs),
    /// Look hashes up in the hash lists (JSON Lines; exit 1 on a match, 3 on
    /// matches and bad query lines).
    Match(matching::MatchArgs),
    /// Compare two videos (vPDQ) or images (PDQ); media or vPDQ text files.
    Compare(compare::CompareArgs),
    /// Serve upload scanning over HTTP (our /v1 API and HMA 2.0's routes).
    #[cfg(feature = "serve")]
    Serve(serve::ServeArgs),
    /// Serve upload scanning over HTTP: not in this build (built without
    /// the `serve` feature).
    #[cfg(not(feature = "serve"))]
    #[command(disable_help_flag = true)]
    Serve {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        _args: Vec<std::ffi::OsString>,
    },
    /// Create, list and revoke API tokens of `serve`.
    Token(token::TokenArgs),
    /// List and prune the resume state of `scan` runs (it keeps every
    /// path and hash a run saw); list, show and report queued runs
    /// (`scan --queue`) from the database.
    Runs(runs::RunsArgs),
    /// Scan the jobs of queued runs (`scan --queue`) from NATS JetStream,
    /// writing the records to the database.
    #[cfg(feature = "queue")]
    Worker(queue::WorkerArgs),
}

/// Parse the command line and run; returns the process exit code.
pub fn main() -> ExitCode {
    // Parsed in two steps (as `Cli::parse` does) to keep the matches: a
    // scan records which flags it ran with, defaults included.
    let mut cmd = Cli::command();
    let matches = cmd.clone().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.format(&mut cmd).exit());
    let result = match cli.command {
        Command::Hash(args) => hash::run(args),
        Command::Scan(args) => {
            let flags = match (
                cmd.find_subcommand("scan"),
                matches.subcommand_matches("scan"),
            ) {
                (Some(c), Some(m)) => runs::result_flags(c, m),
                _ => Default::default(),
            };
            scan::run(args, flags)
        }
        Command::Db(args) => db::run(args),
        Command::Match(args) => matching::run(args),
        Command::Compare(args) => compare::run(args),
        #[cfg(feature = "serve")]
        Command::Serve(args) => serve::run_serve(args),
        #[cfg(not(feature = "serve"))]
        Command::Serve { .. } => Err(anyhow::anyhow!(
            "this hashsieve was built without the HTTP service (cargo feature `serve`)"
        )),
        Command::Token(args) => token::run(args),
        Command::Runs(args) => runs::run(args),
        #[cfg(feature = "queue")]
        Command::Worker(args) => queue::run_worker(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Errors quote paths, list names and labels, which are not ours.
            eprintln!(
                "hashsieve: error: {}",
                hashsieve::escape::escape_display(format_args!("{e:#}"))
            );
            ExitCode::from(2)
        }
    }
}

//! hashsieve's integration tests: one test binary, one module per area
//! (in the manner of ripgrep's `tests/`). One binary links FFmpeg, axum and
//! the library once instead of once per file, which is most of the time a
//! change takes to test.
//!
//! Modules ending in `_support` and `fixtures` are shared helpers; every
//! other module is a set of tests. A module that needs a cargo feature says
//! so (an inner `#![cfg(feature = ...)]`, or its `mod` line below), so
//! `cargo test --no-default-features` builds the rest.
//!
//! Run one area with a filter: `cargo test --test it scan_archives::`.

// Shared helpers.
mod compare_support;
mod ffmpeg_support;
mod fixtures;
mod hostile_support;
#[cfg(feature = "queue")]
mod queue_support;
mod scan_support;
#[cfg(feature = "serve")]
mod serve_support;
mod views_support;

// Tests, one module per area.
mod compare_conformance;
mod compare_tmk;
mod conformance_pdq;
mod db_add_derived;
mod db_add_views;
mod db_bad_input;
mod db_cli;
mod db_concurrency;
mod db_hostile_schema;
mod hash_bad_input;
mod match_cli;
#[cfg(feature = "serve")]
mod missing_db;
#[cfg(feature = "serve")]
mod pg_store;
mod pg_tls;
mod pytx_roundtrip;
#[cfg(feature = "queue")]
mod queue_scan;
mod saved_index;
mod scan_archive_streaming;
mod scan_archives;
mod scan_decoder_memory;
mod scan_dedupe;
mod scan_hostile_names;
mod scan_list_thresholds;
mod scan_many_files;
mod scan_matching;
mod scan_resume;
mod scan_resume_lists;
mod scan_sandbox;
mod scan_shard;
mod scan_tar_long_names;
mod scan_zip_overlap;
#[cfg(feature = "serve")]
mod serve_bad_input;
#[cfg(feature = "serve")]
mod serve_fetch;
#[cfg(feature = "serve")]
mod serve_hma;
#[cfg(feature = "serve")]
mod serve_hma_fetch;
#[cfg(feature = "serve")]
mod serve_hma_items;
#[cfg(feature = "serve")]
mod serve_hma_raw;
#[cfg(feature = "serve")]
mod serve_list_thresholds;
#[cfg(feature = "serve")]
mod serve_live;
#[cfg(feature = "serve")]
mod serve_live_lists;
#[cfg(feature = "serve")]
mod serve_sandbox;
#[cfg(feature = "serve")]
mod serve_tokens;
mod tmk_bad_input;
mod tmk_conformance;
mod tmk_frames;
#[cfg(feature = "serve")]
mod tmk_lists;
mod video_bad_input;
mod video_conformance;
mod video_disabled;
mod video_excerpts;
mod video_formats;
mod video_views;
mod views_cli;
mod views_exact;
mod views_recovery;

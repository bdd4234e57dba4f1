//! hashsieve: find known violent-extremist media when it is reposted.
//!
//! The library walks inputs, reads each file once (cryptographic hashes on the
//! byte stream), sniffs and decodes media, computes PDQ (images) and vPDQ
//! (videos), and matches against the hash lists of the [`hashdb`] crate. The
//! binary (`main.rs`) only turns the command line into the plain configs
//! defined here. The library never prints.

pub mod archive;
pub mod compare;
pub mod contribute;
pub mod enroll;
pub mod error;
pub mod escape;
pub mod exit;
pub mod float_json;
pub mod hashing;
pub mod matching;
pub mod media;
// The PDQ algorithm is its own crate (below hashdb and the app); the
// re-export keeps the `hashsieve::pdq::...` and `crate::pdq::...` paths.
pub use pdq;
pub mod pipeline;
pub mod progress;
#[cfg(feature = "queue")]
pub mod queue;
pub mod record;
pub mod sandbox;
pub mod scan;
#[cfg(feature = "serve")]
pub mod serve;
pub mod tmk;
pub mod video;
pub mod views;
pub mod walk;

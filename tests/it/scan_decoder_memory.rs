//! `--max-decoder-mib` holds for images (security issue, item 7): a PNG of
//! under 1 MB can declare 10000x10000 16-bit RGBA, 800 MB of decoder
//! output. It must be refused from its header, before any pixel buffer
//! exists, so the process never comes near that much memory.

use crate::hostile_support;
use crate::scan_support;

use hostile_support::*;
use scan_support::*;

#[test]
fn sixteen_bit_png_over_the_decoder_limit_is_refused_before_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = png_rgba16_zeros(10_000, 10_000);
    assert!(bomb.len() < 1 << 20, "bomb is {} bytes", bomb.len());
    write(&dir.path().join("in/bomb.png"), &bomb);
    // An ordinary image next to it still decodes under the same limit.
    write(&dir.path().join("in/small.png"), &png(1));
    let mut cmd = scan_cmd(dir.path());
    cmd.args([
        "--no-state",
        "--format",
        "jsonl",
        "--max-decoder-mib",
        "256",
        "in",
    ]);
    let run = run_measured(cmd);
    let s = parse(run.out);
    assert_eq!(s.code, 2, "{}", s.stderr);
    let r = s.one("in/bomb.png");
    assert_eq!(r["error"]["kind"], "limit", "{r}");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.contains("decoder memory limit of 256 MiB"), "{msg}");
    // Its cryptographic hashes are still there to match on.
    assert_eq!(r["md5"], md5_hex(&bomb));
    assert!(s.one("in/small.png")["error"].is_null());
    assert!(s.one("in/small.png")["pdq"][0]["hash"].is_string());
    // Before the fix: 1.1 GB. Now the bomb costs no pixel buffer at all.
    assert!(
        run.peak_rss_kib < 200 << 10,
        "peak RSS {} MiB",
        run.peak_rss_kib >> 10
    );
    println!(
        "peak RSS {} MiB in {:.2} s",
        run.peak_rss_kib >> 10,
        run.elapsed.as_secs_f64()
    );
}

#[test]
fn the_bomb_past_a_raised_decoder_limit_ends_its_worker_not_the_scan() {
    // --max-decoder-mib raised past the bomb's 800 MB: the header check
    // lets it through, and the sandboxed worker's memory limit (256 MiB)
    // stops the decoder. The scan itself never comes near that memory.
    let dir = tempfile::tempdir().unwrap();
    let bomb = png_rgba16_zeros(10_000, 10_000);
    write(&dir.path().join("in/bomb.png"), &bomb);
    write(&dir.path().join("in/small.png"), &png(1));
    let mut cmd = scan_cmd(dir.path());
    cmd.args([
        "--no-state",
        "--format",
        "jsonl",
        "--max-decoder-mib",
        "4096",
        "--sandbox-memory-mib",
        "256",
        "in",
    ]);
    let run = run_measured(cmd);
    let s = parse(run.out);
    assert_eq!(s.code, 2, "{}", s.stderr);
    let r = s.one("in/bomb.png");
    let kind = r["error"]["kind"].as_str().unwrap_or_default();
    assert!(kind == "crash" || kind == "limit", "{r}");
    assert_eq!(r["md5"], md5_hex(&bomb));
    assert!(s.one("in/small.png")["pdq"][0]["hash"].is_string());
    assert!(
        run.peak_rss_kib < 200 << 10,
        "peak RSS {} MiB",
        run.peak_rss_kib >> 10
    );
    println!("bomb: {} ({})", kind, r["error"]["message"]);
}

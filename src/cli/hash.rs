//! `hashsieve hash`.

/// Arguments of `hashsieve hash`.
#[derive(clap::Args)]
pub struct HashArgs {}

pub fn run(_args: HashArgs) -> anyhow::Result<u8> {
    anyhow::bail!("not implemented yet")
}

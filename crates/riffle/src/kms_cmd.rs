//! `riffle kms`: manage the local KMS keyring (`<data-dir>/keys/keyring.json`)
//! that encrypts streams at rest. Safe while the server runs: it re-reads the
//! file when it changes.

use crate::config::{Config, ServeArgs};
use anyhow::Result;
use clap::{Args, Subcommand};
use riffle_kms::{KeyInfo, KeyState, Keyring};

#[derive(Args, Debug)]
pub struct KmsArgs {
    #[command(subcommand)]
    pub action: KmsAction,
    /// Data directory, region and account come from the same flags, file and
    /// environment as `riffle serve`.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
pub enum KmsAction {
    /// Create a random 256-bit master key.
    CreateKey {
        /// Alias for it, e.g. alias/my-stream-key.
        #[arg(long)]
        alias: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List every key: id, state, ARN, aliases.
    ListKeys,
    /// Disable a key (id, ARN, alias or alias ARN): StartStreamEncryption with it fails.
    DisableKey { key_id: String },
    /// Enable a disabled key again.
    EnableKey { key_id: String },
}

fn line(k: &KeyInfo) -> String {
    format!(
        "{}\t{:?}\t{}\t{}",
        k.key_id,
        k.state,
        k.arn,
        k.aliases.join(",")
    )
}

pub fn main(args: KmsArgs) -> Result<()> {
    let cfg = Config::resolve(&args.serve)?;
    let ring = Keyring::open(&cfg.data_dir, &cfg.region, &cfg.account_id)?;
    match args.action {
        KmsAction::CreateKey { alias, description } => {
            println!(
                "{}",
                line(&ring.create_key(alias.as_deref(), &description)?)
            );
        }
        KmsAction::ListKeys => {
            for k in ring.list_keys()? {
                println!("{}", line(&k));
            }
        }
        KmsAction::DisableKey { key_id } => {
            println!("{}", line(&ring.set_state(&key_id, KeyState::Disabled)?));
        }
        KmsAction::EnableKey { key_id } => {
            println!("{}", line(&ring.set_state(&key_id, KeyState::Enabled)?));
        }
    }
    Ok(())
}

//! `hashsieve token`: API tokens of `hashsieve serve`.

use hashdb::store::Scope;

use super::db::DbLocation;

/// Create, list and revoke API tokens (stored hashed in the database).
#[derive(clap::Args, Debug)]
pub struct TokenArgs {
    #[command(flatten)]
    pub location: DbLocation,

    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token; prints the secret alone on stdout (shown only now).
    Create {
        /// Scopes: match (hash and look up), write (change lists), admin
        /// (everything). Repeatable or comma-separated.
        #[arg(long = "scope", required = true, value_delimiter = ',')]
        scopes: Vec<String>,
        /// A note to recognise the token by (who or what uses it).
        #[arg(long)]
        note: Option<String>,
    },
    /// List tokens (ids, scopes, notes; never secrets) as JSON Lines.
    List,
    /// Revoke a token by id.
    Revoke { id: i64 },
}

pub fn run(args: TokenArgs) -> anyhow::Result<u8> {
    let mut store = args.location.open()?;
    match args.command {
        TokenCommand::Create { scopes, note } => {
            let scopes = scopes
                .iter()
                .map(|s| Scope::parse(s))
                .collect::<Result<Vec<_>, _>>()?;
            let (id, secret) = store.create_token(&scopes, note.as_deref())?;
            println!("{secret}");
            eprintln!("created token {id}; store it now, it is not shown again");
        }
        TokenCommand::List => {
            for t in store.tokens()? {
                println!("{}", serde_json::to_string(&t)?);
            }
        }
        TokenCommand::Revoke { id } => {
            store.revoke_token(id)?;
            eprintln!("revoked token {id}");
        }
    }
    Ok(0)
}

//! `meishi`: swap signed contact cards. Thin glue over the meishi-* crates.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod exit;
mod home;
mod output;

#[derive(Parser, Debug)]
#[command(
    name = "meishi",
    version,
    about = "Swap signed contact cards: peer-to-peer, by QR code, or through a relay"
)]
struct Cli {
    /// Folder holding your key, card and contact book [default: the platform data folder]
    #[arg(long, env = "MEISHI_HOME", global = true, value_name = "DIR")]
    home: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create your key and your first card.
    Init(cmd::card::InitArgs),
    /// Print your peer id and fingerprint.
    Id {
        #[arg(long)]
        json: bool,
    },
    /// Show, edit or export your card.
    #[command(subcommand)]
    Card(cmd::card::CardCmd),
    /// Import signed card files (verified) or .vcf files (unverified contacts).
    Import {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Your contact book.
    #[command(subcommand)]
    Contacts(cmd::contacts::ContactsCmd),
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let home = home::Home::resolve(cli.home)?;
    match cli.cmd {
        Cmd::Init(a) => cmd::card::init(&home, a),
        Cmd::Id { json } => cmd::card::id(&home, json),
        Cmd::Card(c) => cmd::card::card(&home, c),
        Cmd::Import { files, json } => cmd::contacts::import(&home, &files, json),
        Cmd::Contacts(c) => cmd::contacts::contacts(&home, c),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            // One line a person can act on.
            eprintln!("meishi: {}", meishi_card::display_safe(&format!("{e:#}")));
            ExitCode::from(exit::code_of(&e))
        }
    }
}

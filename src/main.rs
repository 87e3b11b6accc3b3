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
    /// Show your signed card as a QR code (terminal, PNG or SVG), or a plain vCard QR.
    Qr(cmd::qr::QrArgs),
    /// Read QR codes from photos into verified (meishi) or unverified (vCard, MeCard) contacts.
    Scan(cmd::qr::ScanArgs),
    /// Run your node: swap with people nearby or who reach you, until Ctrl-C.
    Up(cmd::net::UpArgs),
    /// Open the running `meishi up`'s web app in a browser.
    Ui {
        /// Print the link instead of opening a browser.
        #[arg(long)]
        print: bool,
    },
    /// Give your card to someone and get theirs.
    Swap(cmd::net::SwapArgs),
    /// List people on the local network who run meishi.
    Nearby(cmd::net::NearbyArgs),
    /// Join an event through its relay: list attendees, optionally swap with all; or
    /// `event new` to make a code.
    Event(cmd::event::EventArgs),
    /// Run a relay node for events (circuit relay, rendezvous, metrics).
    Relay(cmd::relay::RelayArgs),
    /// Introduce two contacts: B is asked first, A once B accepts; if both accept, each gets the
    /// other's card. A decline reaches only you.
    Introduce {
        /// The contact to introduce (number, name or peer id).
        a: String,
        /// The contact asked first.
        b: String,
        /// Why they should meet (up to 280 bytes), shown to both.
        #[arg(long)]
        note: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Introductions: those you were asked about (accept or decline) and those you made.
    Intros {
        #[command(subcommand)]
        cmd: Option<cmd::updates::IntrosCmd>,
        #[arg(long, global = true)]
        json: bool,
    },
    /// Ask a contact for their current card (they answer if they hold yours).
    Fetch(cmd::fetch::FetchArgs),
    /// Cards waiting for your decision (policy `ask`).
    Inbox {
        #[arg(long)]
        json: bool,
    },
    /// Accept an inbox card: keep it and give yours back.
    Accept { id: i64 },
    /// Decline an inbox card: they do not get yours.
    Decline {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<i64>,
        /// Decline every waiting card.
        #[arg(long)]
        all: bool,
    },
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let home = home::Home::resolve(cli.home)?;
    match cli.cmd {
        Cmd::Init(a) => cmd::card::init(&home, a),
        Cmd::Id { json } => cmd::card::id(&home, json),
        Cmd::Card(c) => cmd::card::card(&home, c),
        Cmd::Import { files, json } => cmd::contacts::import(&home, &files, json),
        Cmd::Contacts(c) => cmd::contacts::contacts(&home, c),
        Cmd::Qr(a) => cmd::qr::qr(&home, a),
        Cmd::Scan(a) => cmd::qr::scan(&home, a),
        Cmd::Up(a) => cmd::net::up(&home, a),
        Cmd::Ui { print } => cmd::net::ui(&home, print),
        Cmd::Swap(a) => cmd::net::swap(&home, a),
        Cmd::Nearby(a) => cmd::net::nearby(&home, a),
        Cmd::Event(a) => cmd::event::event(&home, a),
        Cmd::Relay(a) => cmd::relay::run(&home, a),
        Cmd::Fetch(a) => cmd::fetch::fetch(&home, a),
        Cmd::Introduce { a, b, note, json } => cmd::updates::introduce(&home, &a, &b, note, json),
        Cmd::Intros { cmd, json } => cmd::updates::intros(&home, cmd, json),
        Cmd::Inbox { json } => cmd::net::inbox(&home, json),
        Cmd::Accept { id } => cmd::net::decide(&home, id, true),
        Cmd::Decline { id: Some(id), .. } => cmd::net::decide(&home, id, false),
        Cmd::Decline { id: None, .. } => cmd::net::decline_all(&home),
    }
}

/// `MEISHI_LOG=libp2p_dcutr=debug,meishi_node=debug meishi up …` writes diagnostics to stderr.
/// The relay sets up its own logs (`RUST_LOG`, `--json`).
fn init_logs(cmd: &Cmd) {
    if matches!(cmd, Cmd::Relay(_)) {
        return;
    }
    let Ok(filter) = std::env::var("MEISHI_LOG") else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("debug"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() -> ExitCode {
    // A decoder panic on a crafted image is caught by the scanner and reported as one line; its
    // panic message would only be noise on the terminal.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !meishi_qr::in_guarded_decode() {
            default_hook(info);
        }
    }));
    let cli = Cli::parse();
    init_logs(&cli.cmd);
    match run(cli) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            // One line a person can act on.
            eprintln!("meishi: {}", meishi_card::display_safe(&format!("{e:#}")));
            ExitCode::from(exit::code_of(&e))
        }
    }
}

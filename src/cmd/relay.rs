//! `meishi relay`: run a relay for events; `meishi relay dump`: what it keeps on disk. Glue
//! over `meishi_relay`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use meishi_node::Multiaddr;
use meishi_relay::disk::{self, Disk, Dump, OpenError};
use meishi_relay::{Config, Relay, SpawnError};
use serde_json::json;

use crate::exit::{Failure, USAGE};
use crate::home::Home;

/// The relay's key file inside the home folder.
const RELAY_KEY_FILE: &str = "relay.key";

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RelayArgs {
    #[command(subcommand)]
    pub cmd: Option<RelayCmd>,
    /// Address to listen on (repeatable), e.g. /ip4/0.0.0.0/tcp/4001 and
    /// /ip4/0.0.0.0/udp/4001/quic-v1 [default: both of these]
    #[arg(long, value_name = "MULTIADDR")]
    pub listen: Vec<String>,
    /// Public address attendees dial (repeatable). Required: the relay serves no reservation
    /// without one.
    #[arg(long = "external-address", value_name = "MULTIADDR")]
    pub external_address: Vec<String>,
    /// Another relay of this relay's fleet (repeatable), ending in /p2p/<peer id>: the relays
    /// of a fleet copy every teaser board entry to each other. Replaces `[fleet] peers`.
    #[arg(long = "peer", value_name = "MULTIADDR")]
    pub peer: Vec<String>,
    /// TOML configuration file; flags given here win over it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Serve Prometheus metrics on this address [default: 127.0.0.1:9464]
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// Serve no metrics endpoint.
    #[arg(long, conflicts_with = "metrics")]
    pub no_metrics: bool,
    /// Keep slot records and drop box messages in this SQLite file across restarts
    /// [default: relay.db next to the key file]
    #[arg(long, value_name = "FILE")]
    pub store: Option<PathBuf>,
    /// Keep slot records and drop box messages in memory only: a restart loses them.
    #[arg(long, conflicts_with = "store")]
    pub no_store: bool,
    /// One JSON object per line on stdout, and JSON logs on stderr.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum RelayCmd {
    /// Print what the relay keeps on disk: slot records and drop box messages, by opaque id.
    Dump(DumpArgs),
}

#[derive(Args, Debug)]
pub struct DumpArgs {
    /// The store file [default: as `meishi relay` with the same --config and --home chooses it]
    #[arg(long, value_name = "FILE")]
    pub store: Option<PathBuf>,
    /// The relay's TOML configuration, to find its `[store] path` or `key_file`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

fn init_logs(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A subscriber set earlier (tests) wins; that is fine.
    let _ = if json {
        b.json().try_init()
    } else {
        b.try_init()
    };
}

/// The configuration file, or the defaults.
fn read_config(path: Option<&Path>) -> Result<Config> {
    Ok(match path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the relay configuration {}", p.display()))?;
            Config::from_toml(&text).with_context(|| format!("in {}", p.display()))?
        }
        None => Config::default(),
    })
}

/// Fills in the key file (`<home>/relay.key`) and the store (`relay.db` next to the key, the
/// relay's home) where the configuration names none.
fn locate_files(home: &Home, c: &mut Config) {
    let key = c
        .key_file
        .get_or_insert_with(|| home.dir().join(RELAY_KEY_FILE));
    let next_to_key = key.with_file_name(disk::FILE_NAME);
    c.store.path.get_or_insert(next_to_key);
}

/// Builds the configuration: defaults, then the file, then the flags.
pub fn config(home: &Home, args: &RelayArgs) -> Result<Config> {
    let mut c = read_config(args.config.as_deref())?;
    if !args.listen.is_empty() {
        c.listen = args.listen.clone();
    }
    if !args.external_address.is_empty() {
        c.external_addresses = args.external_address.clone();
    }
    if !args.peer.is_empty() {
        c.fleet.peers = args.peer.clone();
    }
    if args.metrics.is_some() {
        c.metrics = args.metrics;
    }
    if args.no_metrics {
        c.metrics = None;
    }
    if let Some(p) = &args.store {
        c.store.path = Some(p.clone());
    }
    if args.no_store {
        // An empty path: memory only (as `[store] path = ""`).
        c.store.path = Some(PathBuf::new());
    }
    locate_files(home, &mut c);
    c.validate()?;
    Ok(c)
}

/// What to do about a store the relay cannot use, added to the library's error.
fn store_remedy(e: &OpenError) -> &'static str {
    match e {
        OpenError::Newer { .. } => "run the newer meishi, or give this relay another --store",
        OpenError::Missing { .. } => "check the path (--store, or [store] path in --config)",
        OpenError::Io { .. } | OpenError::Sqlite { .. } => {
            "check the file's permissions, or give another --store (or --no-store)"
        }
        // Damaged, Foreign, BadRow, Integrity and whatever comes: never wiped by the relay.
        _ => {
            "move it away to start with an empty store (the relay never deletes it), or pass \
             --store FILE or --no-store"
        }
    }
}

pub fn run(home: &Home, args: RelayArgs) -> Result<()> {
    if let Some(RelayCmd::Dump(d)) = &args.cmd {
        return dump(home, d);
    }
    init_logs(args.json);
    let config = config(home, &args)?;
    if config.external_addresses.is_empty() {
        eprintln!(
            "warning: no --external-address: the relay will refuse every reservation. \
             Pass the public address attendees dial, e.g. --external-address /ip4/203.0.113.7/tcp/4001"
        );
    }
    let external = config
        .external_addrs()
        .map_err(|e| Failure::new(USAGE, e.into()))?;
    home.create_dir()?;
    let store = config.store_path().map(Path::to_owned);
    let fleet = config.fleet.peers.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.threads)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let mut relay = match Relay::spawn(config).await {
            Ok(r) => r,
            // One line: what is wrong with which file, and what to do about it.
            Err(SpawnError::Store(e)) => {
                anyhow::bail!("cannot start the relay: {e}; {}", store_remedy(&e))
            }
            Err(e) => return Err(anyhow::Error::new(e).context("cannot start the relay")),
        };
        let id = relay.peer_id();
        let full = |a: &Multiaddr| format!("{a}/p2p/{id}");
        let listen: Vec<String> = relay.listen_addrs().iter().map(full).collect();
        let external: Vec<String> = external.iter().map(full).collect();
        // The address to hand out: the first public one (what attendees dial), else the first
        // bound one (a relay for a LAN or a test).
        let share = external
            .first()
            .or(listen.first())
            .cloned()
            .unwrap_or_default();
        if args.json {
            println!(
                "{}",
                json!({
                    "event": "listening",
                    "addr": share,
                    "external": external,
                    "listen": listen,
                    "store": store,
                    "fleet": fleet,
                })
            );
        } else {
            for a in &external {
                eprintln!("Relay address for attendees: {a}");
            }
            for a in &listen {
                eprintln!("Listening on {a}");
            }
            match &store {
                Some(p) => eprintln!("Slot records and drop messages kept in {}", p.display()),
                None => eprintln!("Slot records and drop messages kept in memory only"),
            }
            // The teaser board is replicated with these (the relay skips its own entry).
            for a in fleet.iter().filter(|a| !a.ends_with(&format!("/p2p/{id}"))) {
                eprintln!("Fleet peer {a}");
            }
        }
        if let Some(m) = relay.metrics_addr() {
            if args.json {
                println!(
                    "{}",
                    json!({"event": "metrics", "addr": format!("http://{m}/metrics")})
                );
            } else {
                eprintln!("Metrics on http://{m}/metrics");
            }
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot watch for SIGTERM")?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
            _ = relay.wait() => anyhow::bail!("the relay stopped unexpectedly"),
        }
        relay.shutdown().await;
        if args.json {
            println!("{}", json!({"event": "stopped"}));
        } else {
            eprintln!("Relay stopped.");
        }
        Ok(())
    })
}

/// `meishi relay dump`: prints the store's contents by opaque id, and totals.
fn dump(home: &Home, args: &DumpArgs) -> Result<()> {
    let path = match &args.store {
        Some(p) => p.clone(),
        None => {
            let mut c = read_config(args.config.as_deref())?;
            locate_files(home, &mut c);
            c.store_path().map(Path::to_owned).ok_or_else(|| {
                Failure::new(
                    USAGE,
                    anyhow::anyhow!(
                        "this configuration keeps the relay's records in memory only \
                         ([store] path = \"\"): nothing on disk to dump"
                    ),
                )
            })?
        }
    };
    let d = Disk::open_read_only(&path)
        .and_then(|d| d.dump())
        .map_err(|e| match e {
            OpenError::Missing { .. } => anyhow::anyhow!("{e}; {}", store_remedy(&e)),
            e => anyhow::Error::new(e),
        })?;
    if args.json {
        println!("{}", serde_json::to_string(&d)?);
    } else {
        print_dump(&d);
    }
    Ok(())
}

/// The human form of a dump, from the same value as `--json`. Ids are hex and times UTC:
/// nothing in it came from a person but sizes.
fn print_dump(d: &Dump) {
    use meishi_app::book::date_time;
    let t = &d.totals;
    println!(
        "Relay store {} (schema {}, {} bytes on disk)",
        d.path.display(),
        d.schema,
        t.file_bytes
    );
    println!("Slot records: {} ({} bytes)", t.slots, t.slot_bytes);
    for s in &d.slots {
        println!(
            "  {}  seq {}  expires {} UTC  {} bytes",
            s.slot,
            s.seq,
            date_time(s.expires_at),
            s.size
        );
    }
    println!("Slot tombstones (seq of expired records): {}", t.tombstones);
    for s in &d.tombstones {
        println!(
            "  {}  seq {}  forgotten {} UTC",
            s.slot,
            s.seq,
            date_time(s.forget_at)
        );
    }
    println!("Drop messages: {} ({} bytes)", t.drops, t.drop_bytes);
    for m in &d.drops {
        println!(
            "  box {}  {} bytes  stored {} UTC",
            m.box_id,
            m.size,
            date_time(m.stored_at)
        );
    }
}

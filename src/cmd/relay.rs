//! `meishi relay`: run a relay for events. Glue over `meishi_relay`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use meishi_node::Multiaddr;
use meishi_relay::{Config, Relay};
use serde_json::json;

use crate::exit::{Failure, USAGE};
use crate::home::Home;

/// The relay's key file inside the home folder.
const RELAY_KEY_FILE: &str = "relay.key";

#[derive(Args, Debug)]
pub struct RelayArgs {
    /// Address to listen on (repeatable), e.g. /ip4/0.0.0.0/tcp/4001 and
    /// /ip4/0.0.0.0/udp/4001/quic-v1 [default: both of these]
    #[arg(long, value_name = "MULTIADDR")]
    pub listen: Vec<String>,
    /// Public address attendees dial (repeatable). Required: the relay serves no reservation
    /// without one.
    #[arg(long = "external-address", value_name = "MULTIADDR")]
    pub external_address: Vec<String>,
    /// TOML configuration file; flags given here win over it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Serve Prometheus metrics on this address [default: 127.0.0.1:9464]
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// Serve no metrics endpoint.
    #[arg(long, conflicts_with = "metrics")]
    pub no_metrics: bool,
    /// One JSON object per line on stdout, and JSON logs on stderr.
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

/// Builds the configuration: defaults, then the file, then the flags.
pub fn config(home: &Home, args: &RelayArgs) -> Result<Config> {
    let mut c = match &args.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the relay configuration {}", p.display()))?;
            Config::from_toml(&text).with_context(|| format!("in {}", p.display()))?
        }
        None => Config::default(),
    };
    if !args.listen.is_empty() {
        c.listen = args.listen.clone();
    }
    if !args.external_address.is_empty() {
        c.external_addresses = args.external_address.clone();
    }
    if args.metrics.is_some() {
        c.metrics = args.metrics;
    }
    if args.no_metrics {
        c.metrics = None;
    }
    if c.key_file.is_none() {
        c.key_file = Some(home.dir().join(RELAY_KEY_FILE));
    }
    c.validate()?;
    Ok(c)
}

pub fn run(home: &Home, args: RelayArgs) -> Result<()> {
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let mut relay = Relay::spawn(config)
            .await
            .context("cannot start the relay")?;
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
                json!({"event": "listening", "addr": share, "external": external, "listen": listen})
            );
        } else {
            for a in &external {
                eprintln!("Relay address for attendees: {a}");
            }
            for a in &listen {
                eprintln!("Listening on {a}");
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

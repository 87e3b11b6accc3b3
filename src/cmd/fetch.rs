//! `meishi fetch`: ask a contact for their current card, to pick up their edits.

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use meishi_card::display_safe;
use meishi_node::{key_of, FetchError, Policy, RequestError};
use meishi_store::{ContactRef, PutOutcome, Via};
use serde_json::json;

use crate::cmd::net::{default_listen, done_result, resolve_target, runtime, start};
use crate::exit::{Failure, BAD_INPUT, NOT_FOUND, UNREACHABLE, USAGE};
use crate::home::Home;

#[derive(Args, Debug)]
pub struct FetchArgs {
    /// The contact: its number, its name, its peer id, or a multiaddr ending in /p2p/<peer id>.
    /// Without an address, meishi tries where it reached them last and the local network.
    pub target: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 15)]
    pub timeout: u64,
    #[arg(long)]
    pub json: bool,
}

pub fn fetch(home: &Home, args: FetchArgs) -> Result<()> {
    let target = resolve_target(home, &args.target)?;
    let Some(peer) = target.peer else {
        return Err(Failure::new(
            NOT_FOUND,
            anyhow::anyhow!(
                "no contact is called {:?}; see `meishi contacts list`",
                display_safe(&target.query)
            ),
        )
        .into());
    };
    let key = key_of(&peer)
        .ok_or_else(|| Failure::new(USAGE, anyhow::anyhow!("{peer} is not a meishi peer id")))?;
    let store = home.store()?;
    if store.resolve(&ContactRef::Key(key))?.is_none() {
        return Err(Failure::new(
            NOT_FOUND,
            anyhow::anyhow!("{peer} is not in your contacts: swap with them first"),
        )
        .into());
    }
    let who = target
        .name
        .as_deref()
        .map(display_safe)
        .unwrap_or_else(|| peer.to_string());
    let addrs = target.addrs;
    let lan = !target.explicit;
    let deadline = Duration::from_secs(args.timeout.max(1));
    if !args.json {
        eprintln!(
            "Asking {who} for their current card (up to {}s)…",
            args.timeout
        );
    }
    runtime()?.block_on(async {
        if let Some(stream) = meishi_app::control::connect(home.dir()).await {
            let request = meishi_app::control::Request::Fetch {
                peer: peer.to_string(),
                addrs: addrs.iter().map(ToString::to_string).collect(),
                timeout_secs: args.timeout.max(1),
            };
            let done = meishi_app::control::call(stream, &request, |_| {}).await?;
            let bytes = done_result(done)?
                .ok_or_else(|| anyhow::anyhow!("the running `meishi up` sent no card"))?;
            let card = meishi_card::SignedCard::decode(&bytes).map_err(|e| {
                Failure::new(
                    BAD_INPUT,
                    anyhow::anyhow!("{who} sent a card that does not verify: {e}"),
                )
            })?;
            if card.key() != key {
                return Err(Failure::new(
                    BAD_INPUT,
                    anyhow::anyhow!("{who} answered with someone else's card"),
                )
                .into());
            }
            return store_fetched(&store, &card, peer, args.json);
        }
        // Only asking: `never` publishes no teaser and gives nothing.
        let mut options =
            meishi_app::Options::new(default_listen(), Policy::Never, meishi_node::Scope::Known);
        options.mdns = lan;
        options.via = Via::Fetch;
        let app = start(home, options)?;
        let node = app.node().clone();
        let started = tokio::time::Instant::now();
        let mut addrs = addrs;
        let lan = lan && addrs.is_empty();
        while lan && addrs.is_empty() && started.elapsed() < deadline {
            if let Some(d) = node.nearby().await?.into_iter().find(|d| d.peer == peer) {
                addrs = d.addrs;
            } else {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let res = tokio::time::timeout(
            deadline.saturating_sub(started.elapsed()),
            node.fetch(peer, addrs),
        )
        .await;
        app.shutdown().await;
        let card = match res {
            Err(_)
            | Ok(Err(FetchError::Request(RequestError::Unreachable | RequestError::Timeout))) => {
                return Err(
                    Failure::new(UNREACHABLE, anyhow::anyhow!("{peer} did not answer")).into(),
                )
            }
            Ok(Err(e)) => {
                return Err(Failure::new(
                    BAD_INPUT,
                    anyhow::anyhow!("fetch from {peer} failed: {e}"),
                )
                .into())
            }
            Ok(Ok(card)) => card,
        };
        store_fetched(&store, &card, peer, args.json)
    })
}

fn store_fetched(
    store: &meishi_store::Store,
    card: &meishi_card::SignedCard,
    peer: meishi_node::PeerId,
    json: bool,
) -> Result<()> {
    let outcome = store
        .put_signed(card, Via::Fetch.as_str())
        .context("cannot store the fetched card")?;
    let name = card.card().name.clone();
    if let PutOutcome::Older { .. } | PutOutcome::Equivocation { .. } = outcome {
        return Err(Failure::new(
            BAD_INPUT,
            anyhow::anyhow!("the card of {} was refused: {outcome}", display_safe(&name)),
        )
        .into());
    }
    if json {
        println!(
            "{}",
            json!({"peer_id": peer.to_string(), "name": name, "seq": card.seq(), "result": outcome.to_string()})
        );
    } else {
        eprintln!("{} (seq {}): {outcome}", display_safe(&name), card.seq());
    }
    Ok(())
}

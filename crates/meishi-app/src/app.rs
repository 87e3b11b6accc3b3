//! [`App`]: a running node and the contact book, joined. Node events become stored facts and
//! [`Report`]s; changes other processes make to the book (an accepted inbox item, a revoked
//! contact, an edited card) reach the node.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use meishi_card::{Identity, PublicKey, SignedCard};
use meishi_node::{Config, Event, Multiaddr, Node, PeerId, Peers, Policy, Scope, Teaser};
use meishi_store::{
    InboxItem, InboxStatus, PutOutcome, Store, StoreError, TeaserChoice, Via, MAX_UNKEPT,
};
use tokio::sync::mpsc;

use crate::report::{Report, TeaserReport};

/// How long before an accepted inbox item whose give-back failed is tried again.
pub const GIVE_BACK_RETRY: Duration = Duration::from_secs(30);
/// How long one give-back may take.
const GIVE_BACK_TIMEOUT: Duration = Duration::from_secs(20);
/// Names of peers (from their teasers) remembered for human lines.
const MAX_NAMES: usize = 4096;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `addr` ending in `/p2p/<me>`, the form to hand to another person. A relay's circuit listen
/// address already ends in it; it is not added twice.
pub fn with_peer(addr: &Multiaddr, me: PeerId) -> String {
    match addr.iter().last() {
        Some(meishi_node::multiaddr::Protocol::P2p(p)) if p == me => addr.to_string(),
        _ => format!("{addr}/p2p/{me}"),
    }
}

/// How to run the node.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: Vec<Multiaddr>,
    pub policy: Policy,
    pub scope: Scope,
    pub mdns: bool,
    pub relays: Vec<Multiaddr>,
    pub event_codes: Vec<String>,
    /// How often to poll the events' boards (`None`: the node's default).
    pub poll: Option<Duration>,
    /// How received cards are recorded.
    pub via: Via,
    /// What my envelopes call the event ("RustConf 2026"); never an event code.
    pub label: Option<String>,
}

impl Options {
    /// Listen on `listen` with `policy`, within `scope`; no mDNS, relay or event.
    pub fn new(listen: Vec<Multiaddr>, policy: Policy, scope: Scope) -> Self {
        Self {
            listen,
            policy,
            scope,
            mdns: false,
            relays: Vec::new(),
            event_codes: Vec::new(),
            poll: None,
            via: Via::Swap,
            label: None,
        }
    }
}

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the contact book has no own card")]
    NoOwnCard,
    #[error(transparent)]
    Spawn(#[from] meishi_node::SpawnError),
}

/// The teaser the owner chose to publish (`None`: off).
pub fn teaser_of(card: &meishi_card::Card, choice: TeaserChoice) -> Option<Teaser> {
    match choice {
        TeaserChoice::Off => None,
        TeaserChoice::Name => Some(Teaser {
            name: card.name.clone(),
            headline: None,
        }),
        TeaserChoice::Headline => Some(Teaser {
            name: card.name.clone(),
            headline: card.note.clone().or_else(|| card.title.clone()),
        }),
    }
}

/// What the book says about other people, for the node's consent rule.
fn peers(store: &Store, me: &PublicKey) -> Result<Peers, StoreError> {
    let p = store.consent_peers(me)?;
    Ok(Peers {
        holders: p.holders,
        contacts: p.contacts,
        revoked: p.revoked,
        pending: p.pending,
    })
}

/// A running node wired into the contact book. Front ends (the CLI, the web app) drive it and
/// render its [`Report`]s.
pub struct App {
    node: Node,
    events: mpsc::Receiver<Event>,
    store: Store,
    me: PeerId,
    me_key: PublicKey,
    via: Via,
    /// My card as given now (replaced when an edit reaches the book).
    own: SignedCard,
    last_version: Option<u64>,
    /// Accepted inbox items given back recently, not tried again before [`GIVE_BACK_RETRY`].
    tried: HashMap<i64, Instant>,
    /// Peers my card was just given back to from the inbox: the node's own "given" event for
    /// that give is not reported a second time.
    quiet_gives: Vec<PeerId>,
    /// Accepted items whose failed give-back was reported: later failures are retried quietly.
    reported: std::collections::HashSet<i64>,
    /// Peers just found nearby or on an event's board: an accepted give-back to them is tried
    /// at the next [`App::sync`], whatever [`GIVE_BACK_RETRY`] says.
    found: Vec<PeerId>,
    names: HashMap<PeerId, String>,
    /// Attendees seen on the boards of joined events, and the relays whose board was read.
    attendees: std::collections::HashSet<PeerId>,
    boards_read: Vec<PeerId>,
    /// When slots and drop boxes were last read (`None`: not yet in this run).
    caught_up: Option<Instant>,
    /// Contacts whose card was compared on a direct connection, and when.
    compared: HashMap<PeerId, Instant>,
    /// My key, for what the application signs itself (introduction steps).
    identity: Identity,
    /// When publishing to my slot last failed on every relay: tried again after
    /// [`PUBLISH_RETRY`].
    publish_failed: Option<Instant>,
    /// The relays of the links my gives carry now (`None`: no links yet), to hand the node new
    /// ones when I choose my first relays, or others, while it runs.
    links_relays: Option<Vec<String>>,
}

/// How often a contact found nearby or at an event is asked for a newer card.
pub const COMPARE_EVERY: Duration = Duration::from_secs(3600);
/// How long one such ask may take.
const COMPARE_TIMEOUT: Duration = Duration::from_secs(3);
/// Contacts asked in one round of [`App::sync`].
const MAX_COMPARES: usize = 4;

/// How long after a failed publish it is tried again.
pub const PUBLISH_RETRY: Duration = Duration::from_secs(60);

/// How often a running node reads its contacts' slots and its drop boxes again.
pub const CATCH_UP_EVERY: Duration = Duration::from_secs(5 * 60);

impl App {
    /// Starts the node for `identity` with my card and what the book says about other people.
    pub fn start(identity: Identity, store: Store, options: Options) -> Result<App, StartError> {
        let card = store.own_card()?.ok_or(StartError::NoOwnCard)?;
        let me_key = identity.public();
        let own_identity = Identity::from_seed(&identity.seed());
        let mut config = Config::new(identity, card.clone());
        config.listen = options.listen;
        config.policy = options.policy;
        config.scope = options.scope;
        config.mdns = options.mdns;
        // Under `never` nothing leaves, the teaser included (the node enforces it too).
        config.teaser = match options.policy {
            Policy::Never => None,
            _ => teaser_of(card.card(), store.teaser()?),
        };
        config.peers = peers(&store, &me_key)?;
        // My slot and drop boxes live on the first relays I use (until I choose others).
        let own_links = match crate::updates::ensure_own_links(&store, &options.relays) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "could not make my card slot");
                None
            }
        };
        config.links = own_links.as_ref().and_then(crate::updates::give_links);
        let links_relays = own_links.map(|o| o.relays);
        config.relays = options.relays;
        config.event_codes = options.event_codes;
        config.label = options.label;
        if let Some(p) = options.poll {
            config.limits.event_poll = p;
        }
        let (node, events) = Node::spawn(config)?;
        Ok(App {
            me: node.peer_id(),
            node,
            events,
            store,
            me_key,
            via: options.via,
            own: card,
            last_version: None,
            tried: HashMap::new(),
            reported: std::collections::HashSet::new(),
            quiet_gives: Vec::new(),
            found: Vec::new(),
            names: HashMap::new(),
            attendees: std::collections::HashSet::new(),
            boards_read: Vec::new(),
            caught_up: None,
            compared: HashMap::new(),
            publish_failed: None,
            links_relays,
            identity: own_identity,
        })
    }

    pub fn node(&self) -> &Node {
        &self.node
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn peer_id(&self) -> PeerId {
        self.me
    }

    /// The next node event (`None`: the node stopped). Apply it with [`App::apply`].
    /// Cancel-safe.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// A peer's name from its teaser, made safe to print; its peer id when unknown.
    pub fn name_of(&self, peer: &PeerId) -> String {
        self.names
            .get(peer)
            .map(|n| meishi_card::display_safe(n))
            .unwrap_or_else(|| peer.to_string())
    }

    fn remember_name(&mut self, peer: PeerId, name: &str) {
        if self.names.len() < MAX_NAMES || self.names.contains_key(&peer) {
            self.names.insert(peer, name.to_owned());
        }
    }

    fn found_peer(&mut self, peer: PeerId) {
        if self.found.len() < MAX_NAMES && !self.found.contains(&peer) {
            self.found.push(peer);
        }
    }

    /// Turns a node event into stored facts and the reports to show: the one code path for
    /// every command that runs a node.
    pub fn apply(&mut self, ev: &Event) -> Vec<Report> {
        let me = self.me;
        let report = match ev {
            Event::Listening { addr } => Report::Listening {
                addr: with_peer(addr, me),
            },
            Event::PeerDiscovered { peer, teaser, .. } => {
                self.found_peer(*peer);
                if let Some(t) = teaser {
                    self.remember_name(*peer, t.name());
                }
                Report::PeerDiscovered {
                    peer_id: peer.to_string(),
                    teaser: teaser.as_ref().map(|t| TeaserReport {
                        name: t.name().to_owned(),
                        headline: t.headline().map(str::to_owned),
                    }),
                }
            }
            Event::PeerExpired { peer } => Report::PeerExpired {
                peer_id: peer.to_string(),
            },
            Event::CardReceived {
                from,
                envelope,
                addrs,
                unsolicited,
            } => {
                let name = envelope.card().card().name.clone();
                self.remember_name(*from, &name);
                let addrs: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                if let Err(e) = self.store.set_addrs(&envelope.giver(), &addrs) {
                    tracing::warn!(error = %e, "could not remember a peer's addresses");
                }
                match self.receive(envelope, *unsolicited) {
                    Ok((result, lookalikes)) => Report::CardReceived {
                        peer_id: from.to_string(),
                        name,
                        result: result.to_string(),
                        label: envelope.event().map(str::to_owned),
                        lookalikes,
                    },
                    Err(e) => Report::Error {
                        peer_id: Some(from.to_string()),
                        inbox_id: None,
                        error: format!(
                            "could not store the card of {}: {e}",
                            meishi_card::display_safe(&name)
                        ),
                    },
                }
            }
            Event::CardGiven { to, envelope } => {
                if let Err(e) = self.store.record_given(envelope, self.via_for(to)) {
                    tracing::warn!(error = %e, "could not record a give");
                }
                // An accepted item waiting for its give-back is answered now.
                if let Err(e) = self.store.inbox_given_to(&envelope.recipient()) {
                    tracing::warn!(error = %e, "could not close an accepted inbox item");
                }
                if let Some(i) = self.quiet_gives.iter().position(|p| p == to) {
                    self.quiet_gives.swap_remove(i);
                    return Vec::new();
                }
                Report::CardGiven {
                    peer_id: to.to_string(),
                    inbox_id: None,
                    name: self.names.get(to).cloned(),
                }
            }
            Event::InboxItem {
                from,
                envelope,
                addrs,
            } => {
                let name = envelope.card().card().name.clone();
                let addrs: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                match self
                    .store
                    .hold(envelope, self.via_for(from), unix_now(), &addrs)
                {
                    Ok(inbox_id) => Report::Inbox {
                        inbox_id,
                        peer_id: from.to_string(),
                        name,
                    },
                    Err(e) => Report::Error {
                        peer_id: Some(from.to_string()),
                        inbox_id: None,
                        error: format!(
                            "could not keep the card of {} in the inbox: {e}",
                            meishi_card::display_safe(&name)
                        ),
                    },
                }
            }
            Event::Refused { from, reason } => Report::Refused {
                peer_id: from.to_string(),
                reason: reason.to_string(),
            },
            Event::AttendeeDiscovered {
                peer,
                teaser,
                addrs,
                ..
            } => {
                self.found_peer(*peer);
                self.remember_name(*peer, teaser.name());
                if self.attendees.len() < MAX_NAMES {
                    self.attendees.insert(*peer);
                }
                Report::Attendee {
                    peer_id: peer.to_string(),
                    name: teaser.name().to_owned(),
                    headline: teaser.headline().map(str::to_owned),
                    addrs: addrs.iter().map(ToString::to_string).collect(),
                }
            }
            Event::Reserved { relay, addr } => Report::Reserved {
                relay: relay.to_string(),
                addr: with_peer(addr, me),
            },
            Event::RelayDisconnected { relay } => Report::RelayDisconnected {
                relay: relay.to_string(),
            },
            Event::RelayUnreachable { relay, error, .. } => Report::RelayUnreachable {
                relay: relay.to_string(),
                error: error.clone(),
            },
            Event::BoardRead { relay } => {
                if self.boards_read.contains(relay) {
                    return Vec::new();
                }
                self.boards_read.push(*relay);
                Report::Joined {
                    relay: relay.to_string(),
                    attendees: self.attendees.len(),
                }
            }
            Event::DirectConnection { peer } => Report::Direct {
                peer_id: peer.to_string(),
                name: self.names.get(peer).cloned(),
            },
            Event::HolePunchFailed { peer } => Report::HolePunchFailed {
                peer_id: peer.to_string(),
                name: self.names.get(peer).cloned(),
            },
            _ => return Vec::new(),
        };
        vec![report]
    }

    /// How a card to or from `peer` is recorded: as met at an event when `peer` is on the
    /// board of an event this node joined (also one joined while it runs), else as started.
    fn via_for(&self, peer: &PeerId) -> Via {
        if self.attendees.contains(peer) {
            Via::Event
        } else {
            self.via
        }
    }

    /// Stores a received card; the outcome and the ids of look-alike contacts. An unsolicited
    /// card counts against [`MAX_UNKEPT`]: the oldest contacts nobody kept make room.
    fn receive(
        &mut self,
        envelope: &meishi_card::envelope::Envelope,
        unsolicited: bool,
    ) -> Result<(PutOutcome, Vec<i64>), StoreError> {
        let via = meishi_node::peer_id_of(&envelope.giver()).map_or(self.via, |p| self.via_for(&p));
        let outcome = if unsolicited {
            let r = self.store.receive_unsolicited(envelope, via, MAX_UNKEPT)?;
            if r.evicted > 0 {
                tracing::info!(
                    evicted = r.evicted,
                    "forgot the oldest cards received unasked and never kept"
                );
            }
            r.outcome
        } else {
            self.store.receive(envelope, via)?
        };
        let card = envelope.card();
        let lookalikes = self
            .store
            .lookalikes(&card.card().name, Some(card.key()))?
            .into_iter()
            .map(|c| c.id)
            .collect();
        Ok((outcome, lookalikes))
    }

    /// Stores the card of a swap I started (`Node::give` answered with theirs).
    pub fn record_swap(
        &mut self,
        envelope: &meishi_card::envelope::Envelope,
    ) -> Result<(PutOutcome, Vec<i64>), StoreError> {
        self.receive(envelope, false)
    }

    /// Brings the node up to date with the book when another process changed it (or on the
    /// first call): what the consent rule needs, accepted inbox items to answer (also those
    /// accepted while the node was stopped), my edited card. Call it every few hundred
    /// milliseconds; it costs one query when nothing changed.
    pub async fn sync(&mut self) -> Result<Vec<Report>, StoreError> {
        let mut out = Vec::new();
        if self.caught_up.is_none_or(|t| t.elapsed() >= CATCH_UP_EVERY) {
            self.caught_up = Some(Instant::now());
            out.extend(self.catch_up().await);
        }
        out.extend(self.sync_book().await?);
        Ok(out)
    }

    /// What happened while I was away: letters in my drop boxes (a contact's new slot, steps of
    /// introductions), my contacts' newer cards from their slots, and my card put in my slot if
    /// it changed or nears its expiry (also after a revoke, in a new slot).
    pub async fn catch_up(&mut self) -> Vec<Report> {
        // Letters first: one may move a contact to a new slot, read right after.
        let read = crate::drops::read(&self.node, &self.store, &self.me_key).await;
        let mut out = read.reports;
        for (from, bytes) in read.intros {
            out.extend(
                crate::intro::receive(&self.node, &self.store, &self.identity, &from, &bytes).await,
            );
        }
        out.extend(crate::updates::read_slots(&self.node, &self.store).await);
        out.extend(self.publish_if_due().await);
        out
    }

    /// `meishi introduce`: asks `b` whether they want to meet `a`.
    pub async fn introduce(
        &self,
        a: &meishi_store::ContactRef,
        b: &meishi_store::ContactRef,
        note: Option<&str>,
    ) -> Result<Report, crate::intro::IntroError> {
        crate::intro::introduce(&self.node, &self.store, &self.identity, a, b, note).await
    }

    /// `meishi intros accept|decline ID`.
    pub async fn answer_intro(
        &self,
        id: i64,
        accept: bool,
    ) -> Result<Report, crate::intro::IntroError> {
        crate::intro::answer(&self.node, &self.store, &self.identity, id, accept).await
    }

    /// Publishes my card to my slot when it is due (a one-shot `card edit`).
    pub async fn publish_now(&mut self) -> Vec<Report> {
        self.publish_failed = None;
        self.publish_if_due().await
    }

    /// Publishes my card to my slot when it is due; a revoke first moves me to a new slot.
    async fn publish_if_due(&mut self) -> Vec<Report> {
        let mut out = Vec::new();
        let rotated = match crate::updates::rotate(&self.store) {
            Ok(Some(own)) => {
                let _ = self.node.set_links(crate::updates::give_links(&own)).await;
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, "could not move to a new card slot");
                false
            }
        };
        let Ok(Some(own)) = self.store.own_links() else {
            return out;
        };
        // My first relays, chosen while the node runs (`card relays`, the web app), or new
        // ones before anything was published (no rotation then): gives carry them from now on.
        if rotated || self.links_relays.as_ref() != Some(&own.relays) {
            if !rotated {
                let _ = self.node.set_links(crate::updates::give_links(&own)).await;
            }
            self.links_relays = Some(own.relays.clone());
        }
        let waited = self
            .publish_failed
            .is_none_or(|t| t.elapsed() >= PUBLISH_RETRY);
        if waited && crate::updates::publish_due(&own, &self.own, unix_now()) {
            let reports = crate::updates::publish(&self.node, &self.store, &self.own).await;
            let published = reports
                .iter()
                .any(|r| matches!(r, Report::Published { .. }));
            self.publish_failed = (!published).then(Instant::now);
            out.extend(reports);
        }
        if rotated {
            // The people who still hold my card follow me to the new slot; the revoked one
            // is not a holder and keeps reading the old slot, which gets nothing more.
            out.push(crate::drops::announce(&self.node, &self.store, &self.me_key).await);
        }
        out
    }

    /// Contacts just found nearby or on an event's board: their card may be newer than mine of
    /// them. Asks each for it (at most once per [`COMPARE_EVERY`]); a newer one replaces mine
    /// through the book's seq rules. They answer only if I hold their card (FETCH).
    async fn compare_seq(&mut self, found: &[PeerId]) -> Vec<Report> {
        let mut out = Vec::new();
        // A few a round: the loop does not wait long on peers that have gone.
        for peer in found.iter().take(MAX_COMPARES) {
            let Some(key) = meishi_node::key_of(peer) else {
                continue;
            };
            let Ok(Some(stored)) = self.store.get(&meishi_store::ContactRef::Key(key)) else {
                continue;
            };
            if !stored.summary.verified
                || self
                    .compared
                    .get(peer)
                    .is_some_and(|t| t.elapsed() < COMPARE_EVERY)
            {
                continue;
            }
            if self.compared.len() >= MAX_NAMES {
                self.compared.retain(|_, t| t.elapsed() < COMPARE_EVERY);
            }
            self.compared.insert(*peer, Instant::now());
            let Ok(Ok(card)) =
                tokio::time::timeout(COMPARE_TIMEOUT, self.node.fetch(*peer, Vec::new())).await
            else {
                continue;
            };
            if let Ok(PutOutcome::Updated { .. }) =
                self.store.put_signed(&card, Via::Fetch.as_str())
            {
                out.push(Report::ContactUpdated {
                    name: card.card().name.clone(),
                    seq: card.seq(),
                });
            }
        }
        out
    }

    async fn sync_book(&mut self) -> Result<Vec<Report>, StoreError> {
        let v = self.store.data_version()?;
        let retry_due = self.tried.values().any(|t| t.elapsed() >= GIVE_BACK_RETRY);
        let found = std::mem::take(&mut self.found);
        if Some(v) == self.last_version && !retry_due && found.is_empty() {
            return Ok(Vec::new());
        }
        self.last_version = Some(v);
        let mut out = self.compare_seq(&found).await;
        if self
            .node
            .set_peers(peers(&self.store, &self.me_key)?)
            .await
            .is_err()
        {
            return Ok(out);
        }
        for item in self.store.inbox_accepted()? {
            // Someone I accepted while they were away came back (nearby, or on an event's
            // board): give my card back now, through the address just learned.
            let back =
                meishi_node::peer_id_of(&item.card.key()).is_some_and(|p| found.contains(&p));
            if !back
                && self
                    .tried
                    .get(&item.id)
                    .is_some_and(|t| t.elapsed() < GIVE_BACK_RETRY)
            {
                continue;
            }
            self.tried.insert(item.id, Instant::now());
            let report = self.give_back(&item).await;
            let failed = matches!(report, Report::Error { .. });
            if !failed || self.reported.insert(item.id) {
                out.push(report);
            }
        }
        let store = &self.store;
        self.tried.retain(|id, _| {
            store
                .inbox_get(*id)
                .ok()
                .flatten()
                .is_some_and(|i| i.status == InboxStatus::Accepted)
        });
        let tried = &self.tried;
        self.reported.retain(|id| tried.contains_key(id));
        if let Some(own) = self.store.own_card()? {
            if own.seq() > self.own.seq() {
                let seq = own.seq();
                let _ = self.node.set_card(own.clone()).await;
                self.own = own;
                out.push(Report::CardUpdated { seq });
            }
        }
        // An edit, a revoke or new relays: my slot follows.
        out.extend(self.publish_if_due().await);
        Ok(out)
    }

    /// Gives my card back for an inbox item the user accepted, reaching the giver where it
    /// was when it gave (nearby, directly or through the event's relay).
    async fn give_back(&mut self, item: &InboxItem) -> Report {
        let key = item.card.key();
        let name = Some(item.card.card().name.clone());
        let Some(peer) = meishi_node::peer_id_of(&key) else {
            return Report::Error {
                peer_id: None,
                inbox_id: Some(item.id),
                error: "the giver's key is not a peer id".into(),
            };
        };
        let addrs: Vec<Multiaddr> = item.addrs.iter().filter_map(|a| a.parse().ok()).collect();
        let error = match tokio::time::timeout(GIVE_BACK_TIMEOUT, self.node.give_back(peer, addrs))
            .await
        {
            Ok(Ok(_)) => {
                let _ = self.store.inbox_mark_given_back(item.id);
                if self.quiet_gives.len() < MAX_NAMES {
                    self.quiet_gives.push(peer);
                }
                self.remember_name(peer, &item.card.card().name);
                return Report::CardGiven {
                    peer_id: peer.to_string(),
                    inbox_id: Some(item.id),
                    name,
                };
            }
            Ok(Err(e)) => format!(
                "could not give my card back to {} yet ({e}): it goes out when they are nearby or at your event, or when they swap with you again",
                meishi_card::display_safe(&item.card.card().name)
            ),
            Err(_) => format!(
                "could not reach {} to give my card back yet: it goes out when they are nearby or at your event, or when they swap with you again",
                meishi_card::display_safe(&item.card.card().name)
            ),
        };
        Report::Error {
            peer_id: Some(peer.to_string()),
            inbox_id: Some(item.id),
            error,
        }
    }

    /// Stops the node.
    pub async fn shutdown(self) -> Store {
        let _ = self.node.shutdown().await;
        self.store
    }

    /// My card as the node gives it now.
    pub fn own(&self) -> &SignedCard {
        &self.own
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    #[test]
    fn the_peer_suffix_is_added_once() {
        let me = meishi_node::peer_id_of(&Identity::from_seed(&[3; 32]).public()).unwrap();
        let relay = meishi_node::peer_id_of(&Identity::from_seed(&[4; 32]).public()).unwrap();
        let tcp: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
        assert_eq!(
            with_peer(&tcp, me),
            format!("/ip4/127.0.0.1/tcp/4001/p2p/{me}")
        );
        let circuit: Multiaddr =
            format!("/ip4/127.0.0.1/tcp/4001/p2p/{relay}/p2p-circuit/p2p/{me}")
                .parse()
                .unwrap();
        assert_eq!(with_peer(&circuit, me), circuit.to_string());
        let bare_circuit: Multiaddr = format!("/ip4/127.0.0.1/tcp/4001/p2p/{relay}/p2p-circuit")
            .parse()
            .unwrap();
        assert_eq!(
            with_peer(&bare_circuit, me),
            format!("{bare_circuit}/p2p/{me}")
        );
    }
}

//! The exchange protocol, both sides: requests I start (give, fetch, teaser) and their
//! answers, and the requests peers send me (give, give-back, fetch, teaser). Every answer that
//! could let my card or teaser leave goes through [`crate::consent::decide`]; this module only
//! gathers what the node knows of the peer ([`Standing`]) and carries the decision out. Every
//! envelope received, in a request or in a give-back, passes the one check `verify`.
//! Kept apart from the event loop so that "a give arrives" reads top to bottom in one file:
//! `on_exchange_event` → `on_request` → `answer` → `receive` → `settle`.
//! proto-spec/exchange.md

use std::collections::HashSet;
use std::time::{Duration, Instant};

use libp2p::request_response::{self, OutboundFailure, OutboundRequestId, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId};
use meishi_card::envelope::{CheckError, Envelope, EnvelopeError, SignedTeaser, NONCE_LEN};
use meishi_card::{PublicKey, SignedCard};

use crate::config::{Peers, Policy};
use crate::consent::{self, Ask, Decision, Scope, Standing};
use crate::event::{Event, Refusal};
use crate::event_loop::EventLoop;
use crate::node::{key_of, FetchError, GiveError, GiveOutcome, Reply, RequestError};
use crate::protocol::{Request, Response};

/// Keys of card holders, contacts or revoked peers kept in memory (32 bytes each, per set).
const MAX_HOLDERS: usize = 100_000;
/// Peers this node gave its card to first in this run, remembered for the consent scope.
const MAX_DIALLED: usize = 4096;
/// How long a give from a peer not seen yet waits for a fresh read of the event boards before
/// it is held for the user (the giver's request times out after 10 s).
const DEFER_FOR: Duration = Duration::from_secs(4);
/// Gives waiting for a board read at once; beyond that they are held at once.
const MAX_DEFERRED: usize = 64;

/// A give (or give-back) from a peer not seen yet, waiting for the boards to be read again.
pub(crate) struct Deferred {
    until: Instant,
    peer: PeerId,
    ask: Ask,
    envelope: Envelope,
    channel: ResponseChannel<Response>,
    /// The boards were read a second time for it (a read under way when it came may have
    /// missed it).
    repolled: bool,
}

/// A give of mine waiting for the peer's answer.
pub(crate) struct PendingGive {
    peer: PeerId,
    mine: Envelope,
    reply: Reply<Result<GiveOutcome, GiveError>>,
}

/// A caller waiting for a contact's current card.
pub(crate) type CardFetch = (PeerId, Reply<Result<SignedCard, FetchError>>);
/// A caller waiting for a peer's teaser.
pub(crate) type TeaserFetch = (PeerId, Reply<Result<Option<SignedTeaser>, FetchError>>);

/// The answer to an inbound request: now, or after the event boards were read again.
enum Answer {
    Now(Response),
    Later(Ask, Box<Envelope>),
}

fn refuse(peer: PeerId, reason: Refusal, events: &mut Vec<Event>) -> Response {
    let code = reason.code();
    events.push(Event::Refused { from: peer, reason });
    Response::Refused(code)
}

impl EventLoop {
    pub(crate) fn on_exchange_event(&mut self, event: request_response::Event<Request, Response>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.on_request(peer, request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => self.on_response(request_id, Ok(response)),
            },
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                let error = match error {
                    OutboundFailure::DialFailure => RequestError::Unreachable,
                    OutboundFailure::Timeout => RequestError::Timeout,
                    OutboundFailure::ConnectionClosed => RequestError::ConnectionClosed,
                    OutboundFailure::UnsupportedProtocols => RequestError::UnsupportedProtocol,
                    OutboundFailure::Io(e) => RequestError::Io(e.kind()),
                };
                self.on_response(request_id, Err(error))
            }
            request_response::Event::ResponseSent { .. } => {
                self.unsent = self.unsent.saturating_sub(1);
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                self.unsent = self.unsent.saturating_sub(1);
                // A stream that broke after its request was read (unreadable requests are
                // answered as refusals): nothing to pass on.
                tracing::debug!(%peer, %error, "inbound exchange stream failed");
            }
        }
    }

    // ---- received envelopes ----

    /// The one check of an envelope received from `peer`, in a GIVE or RETURN request or in a
    /// GIVE_BACK answer: canonical decoding and signature, then the card's key against the
    /// connection's peer, the recipient against me, and the signing time against my clock.
    fn verify<E>(&self, peer: &PeerId, bytes: &[u8]) -> Result<Envelope, E>
    where
        E: From<EnvelopeError> + From<CheckError>,
    {
        let envelope = Envelope::decode(bytes)?;
        // A peer id that is not ed25519 can never match a card key. (A give of mine never
        // reaches such a peer: `sign_for` refuses it first.)
        let sender = key_of(peer).unwrap_or(PublicKey([0; 32]));
        envelope.check(
            &sender,
            &self.me,
            crate::event_loop::clock(&self.limits),
            self.limits.max_skew.as_secs(),
        )?;
        Ok(envelope)
    }

    /// Verifies an envelope sent to me unasked (a GIVE or RETURN request) and refuses one seen
    /// before. The replay cache is for inbound requests only, as it always was: a give-back
    /// arrives only as the answer to a give I started, on that give's own stream.
    fn receive(&mut self, peer: &PeerId, bytes: &[u8]) -> Result<Envelope, Refusal> {
        let envelope = self.verify::<Refusal>(peer, bytes)?;
        if !self
            .replays
            .insert((envelope.giver(), envelope.nonce()), Instant::now())
        {
            return Err(Refusal::Replay);
        }
        Ok(envelope)
    }

    // ---- inbound requests ----

    fn on_request(&mut self, peer: PeerId, request: Request, channel: ResponseChannel<Response>) {
        let mut events = Vec::new();
        let answer = self.answer(peer, request, &mut events);
        let response = match answer {
            Ok(Answer::Now(r)) => r,
            Ok(Answer::Later(ask, envelope)) => {
                // A peer not seen yet, at an event: read the boards again and decide when the
                // answer comes (or after DEFER_FOR), so an attendee who just joined is answered.
                self.deferred.push(Deferred {
                    until: Instant::now() + DEFER_FOR,
                    peer,
                    ask,
                    envelope: *envelope,
                    channel,
                    repolled: false,
                });
                self.attend.poll_now(&mut self.swarm);
                return;
            }
            Err(reason) => refuse(peer, reason, &mut events),
        };
        self.respond(channel, response, events);
    }

    /// Decides the answer to one inbound request; the events to emit once it is sent are
    /// pushed to `events`.
    fn answer(
        &mut self,
        peer: PeerId,
        request: Request,
        events: &mut Vec<Event>,
    ) -> Result<Answer, Refusal> {
        if !self.rate.allow(&peer, Instant::now()) {
            return Err(Refusal::RateLimited);
        }
        let (ask, bytes) = match request {
            Request::Give(bytes) => (Ask::Give, bytes),
            Request::Return(bytes) => (Ask::Return, bytes),
            other => return self.answer_query(peer, other).map(Answer::Now),
        };
        let envelope = self.receive(&peer, &bytes)?;
        let who = self.standing(&peer);
        if self.scope == Scope::Known
            && self.decide(&peer, ask) == Decision::Hold
            && self.policy != Policy::Ask
            && !who.revoked
            && self.attend.can_poll()
            && self.deferred.len() < MAX_DEFERRED
            && !self.deferred.iter().any(|d| d.peer == peer)
        {
            return Ok(Answer::Later(ask, Box::new(envelope)));
        }
        self.settle(peer, ask, envelope, events).map(Answer::Now)
    }

    /// Answers a fetch or teaser request (and unreadable requests).
    fn answer_query(&mut self, peer: PeerId, request: Request) -> Result<Response, Refusal> {
        match request {
            Request::Unreadable(e) => Err(Refusal::Unreadable(e)),
            Request::Teaser => Ok(match (self.decide(&peer, Ask::Teaser), &self.teaser) {
                (Decision::SendTeaser, Some(t)) => Response::Teaser(t.as_bytes().to_vec()),
                _ => Response::NoTeaser,
            }),
            Request::Fetch => match self.decide(&peer, Ask::Fetch) {
                Decision::SendCard => Ok(Response::Card(self.card.as_bytes().to_vec())),
                // Not a holder, revoked, or `never`: the same answer, so nobody learns which.
                _ => Err(Refusal::NotAHolder),
            },
            Request::Give(_) | Request::Return(_) => {
                Err(Refusal::Unreadable(crate::protocol::FrameError::Invalid))
            }
        }
    }

    /// Applies the consent rule to a verified give or give-back, within the node's bounds: an
    /// unsolicited card (from a peer that is neither a contact nor one I gave my card to) is
    /// refused as busy beyond `Limits::unsolicited_burst`, and any card while the application
    /// is too far behind ([`EventLoop::backlogged`]). proto-spec/exchange.md#bounds
    fn settle(
        &mut self,
        peer: PeerId,
        ask: Ask,
        envelope: Envelope,
        events: &mut Vec<Event>,
    ) -> Result<Response, Refusal> {
        let decision = self.decide(&peer, ask);
        let who = self.standing(&peer);
        let unsolicited = !(who.contact || who.dialled || who.holder);
        if self.backlogged(unsolicited || decision == Decision::Hold) {
            return Err(Refusal::Backlog);
        }
        let keep = matches!(decision, Decision::GiveBack | Decision::Keep);
        // Fellow attendees draw on a budget of their own: a flood of strangers' gives cannot
        // keep one attendee from swapping with another (found by the soak campaign).
        let budget = if who.attendee {
            &mut self.attendee_gives
        } else {
            &mut self.unsolicited
        };
        if keep && unsolicited && !budget.allow(&(), Instant::now()) {
            return Err(Refusal::TooManyUnsolicited);
        }
        // A card answered with mine is a swap the policy chose: the book keeps it like any
        // other. Only a card kept without mine going back is stored as unkept (and capped).
        let unkept = unsolicited && decision != Decision::GiveBack;
        let received = |this: &Self, envelope| Event::CardReceived {
            from: peer,
            envelope,
            addrs: this.known_addrs(&peer, Vec::new()),
            unsolicited: unkept,
        };
        match decision {
            Decision::GiveBack => match self.sign_for(&peer) {
                Ok(mine) => {
                    let response = Response::GiveBack(mine.as_bytes().to_vec());
                    self.add_holder(envelope.giver());
                    events.push(received(self, envelope));
                    events.push(Event::CardGiven {
                        to: peer,
                        envelope: mine,
                    });
                    Ok(response)
                }
                Err(e) => {
                    // Only a failing random source gets here: keep theirs anyway.
                    tracing::warn!(error = %e, "could not sign a give-back");
                    events.push(received(self, envelope));
                    Ok(Response::Kept)
                }
            },
            Decision::Hold => self.hold(peer, envelope, events),
            _ => {
                events.push(received(self, envelope));
                Ok(Response::Kept)
            }
        }
    }

    fn hold(
        &mut self,
        peer: PeerId,
        envelope: Envelope,
        events: &mut Vec<Event>,
    ) -> Result<Response, Refusal> {
        // One slot per giver: a second give from the same person replaces the first in the
        // application's inbox, so repeating a give cannot crowd out anyone else.
        let giver = envelope.giver();
        if !self.pending.contains(&giver) {
            if self.pending.len() >= self.limits.max_inbox {
                return Err(Refusal::InboxFull);
            }
            self.pending.insert(giver);
        }
        let addrs = self.known_addrs(&peer, Vec::new());
        events.push(Event::InboxItem {
            from: peer,
            envelope,
            addrs,
        });
        Ok(Response::Pending)
    }

    /// Answers first, then tells the application: the peer's round trip does not wait for the
    /// application to read its events. The peer may have gone away; then nobody is answered.
    fn respond(
        &mut self,
        channel: ResponseChannel<Response>,
        response: Response,
        events: Vec<Event>,
    ) {
        if self
            .swarm
            .behaviour_mut()
            .exchange
            .send_response(channel, response)
            .is_ok()
        {
            self.unsent += 1;
        }
        for event in events {
            self.emit(event);
        }
    }

    // ---- gives deferred for a board read ----

    /// Decides the deferred gives whose peer is now seen on a board, or whose wait is over
    /// (`all`: every one, as the node stops waiting).
    pub(crate) fn settle_deferred(&mut self, all: bool) {
        let now = Instant::now();
        let mut i = 0;
        while i < self.deferred.len() {
            let d = &self.deferred[i];
            let ready = all || now >= d.until || self.attend.is_attendee(&d.peer);
            if !ready {
                i += 1;
                continue;
            }
            let d = self.deferred.swap_remove(i);
            let mut events = Vec::new();
            let response = match self.settle(d.peer, d.ask, d.envelope, &mut events) {
                Ok(r) => r,
                Err(reason) => refuse(d.peer, reason, &mut events),
            };
            self.respond(d.channel, response, events);
        }
    }

    /// The event boards were read: settles the deferred gives whose peer is now an attendee,
    /// and reads once more for the others.
    pub(crate) fn after_board_read(&mut self) {
        if !self.deferred.is_empty() {
            self.settle_deferred(false);
            if self.deferred.iter().any(|d| !d.repolled) {
                // Maybe the read was already under way when they joined: once more.
                for d in &mut self.deferred {
                    d.repolled = true;
                }
                self.attend.poll_now(&mut self.swarm);
            }
        }
    }

    // ---- my requests ----

    /// Gives my card: the application asked for it (`meishi swap`, an attendee swapped with,
    /// an inbox item the user accepted), which is the owner's consent. The peer is within the
    /// `dialled` scope from now on and no longer revoked.
    pub(crate) fn start_give(
        &mut self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        back: bool,
        reply: Reply<Result<GiveOutcome, GiveError>>,
    ) {
        if peer == self.local {
            let _ = reply.send(Err(GiveError::Myself));
            return;
        }
        let mine = match self.sign_for(&peer) {
            Ok(e) => e,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        if self.dialled.len() < MAX_DIALLED {
            self.dialled.insert(peer);
        }
        if let Some(k) = key_of(&peer) {
            self.revoked.remove(&k);
            self.pending.remove(&k);
        }
        let bytes = mine.as_bytes().to_vec();
        let request = if back {
            Request::Return(bytes)
        } else {
            Request::Give(bytes)
        };
        match self.send_to(peer, request, addrs) {
            Ok(id) => {
                self.gives.insert(id, PendingGive { peer, mine, reply });
            }
            Err(e) => {
                let _ = reply.send(Err(e.into()));
            }
        }
    }

    /// Asks a contact for its current card.
    pub(crate) fn start_fetch(
        &mut self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        reply: Reply<Result<SignedCard, FetchError>>,
    ) {
        match self.send_to(peer, Request::Fetch, addrs) {
            Ok(id) => {
                self.fetches.insert(id, (peer, reply));
            }
            Err(e) => {
                let _ = reply.send(Err(e.into()));
            }
        }
    }

    /// Asks a peer for its teaser, for the application.
    pub(crate) fn start_teaser_fetch(
        &mut self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        reply: Reply<Result<Option<SignedTeaser>, FetchError>>,
    ) {
        match self.send_to(peer, Request::Teaser, addrs) {
            Ok(id) => {
                self.teaser_fetches.insert(id, (peer, reply));
            }
            Err(e) => {
                let _ = reply.send(Err(e.into()));
            }
        }
    }

    /// Sends a request of the user's to `peer`, dialing it first when not connected: at most
    /// [`crate::event_loop::MAX_DIAL_ADDRS`] addresses, `addrs` first (see [`EventLoop::known_addrs`]). The node
    /// dials them itself, without the addresses other behaviours learned (identify, rendezvous
    /// records): the request-response behaviour would add every one of those, and they are
    /// the peer's to choose. Its own dial then finds this one under way and waits for it.
    fn send_to(
        &mut self,
        peer: PeerId,
        request: Request,
        addrs: Vec<Multiaddr>,
    ) -> Result<OutboundRequestId, RequestError> {
        if !self.swarm.is_connected(&peer) {
            let addrs = self.known_addrs(&peer, addrs);
            if addrs.is_empty() {
                return Err(RequestError::Unreachable);
            }
            let opts = DialOpts::peer_id(peer)
                .addresses(addrs)
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            match self.swarm.dial(opts) {
                Ok(()) | Err(libp2p::swarm::DialError::DialPeerConditionFalse(_)) => {}
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "cannot dial");
                    return Err(RequestError::Unreachable);
                }
            }
        }
        Ok(self
            .swarm
            .behaviour_mut()
            .exchange
            .send_request(&peer, request))
    }

    /// Signs a give envelope of my card for `peer`, with a fresh nonce.
    fn sign_for(&self, peer: &PeerId) -> Result<Envelope, GiveError> {
        let recipient = key_of(peer).ok_or(GiveError::NotMeishiPeer(*peer))?;
        self.sign_for_key(recipient)
    }

    /// Signs a give envelope of my card for `recipient`, with its links and a fresh nonce.
    pub(crate) fn sign_for_key(&self, recipient: PublicKey) -> Result<Envelope, GiveError> {
        if recipient == self.me {
            return Err(GiveError::Myself);
        }
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| GiveError::Random)?;
        let links = self
            .links
            .as_ref()
            .map(|l| l.for_recipient(&recipient))
            .unwrap_or_default();
        Ok(Envelope::sign_with_links(
            &self.identity,
            &self.card,
            recipient,
            crate::event_loop::clock(&self.limits),
            self.label.as_deref(),
            nonce,
            &links,
        )?)
    }

    // ---- responses to my requests ----

    fn on_response(&mut self, id: OutboundRequestId, response: Result<Response, RequestError>) {
        if let Some(pending) = self.gives.remove(&id) {
            let result = self.finish_give(&pending, response);
            let _ = pending.reply.send(result);
        } else if let Some((peer, reply)) = self.fetches.remove(&id) {
            let result = match response {
                Ok(Response::Card(bytes)) => match SignedCard::decode(&bytes) {
                    Ok(card) if Some(card.key()) == key_of(&peer) => Ok(card),
                    Ok(_) => Err(FetchError::WrongKey),
                    Err(e) => Err(FetchError::BadCard(e)),
                },
                Ok(Response::Refused(code)) => Err(FetchError::Refused(code)),
                Ok(_) => Err(FetchError::UnexpectedResponse),
                Err(e) => Err(FetchError::Request(e)),
            };
            let _ = reply.send(result);
        } else if let Some((peer, reply)) = self.teaser_fetches.remove(&id) {
            let result = match response {
                Ok(Response::Teaser(bytes)) => match SignedTeaser::decode(&bytes) {
                    Ok(t) if Some(t.key()) == key_of(&peer) => Ok(Some(t)),
                    Ok(_) => Err(FetchError::WrongKey),
                    Err(e) => Err(FetchError::BadTeaser(e)),
                },
                Ok(Response::NoTeaser) => Ok(None),
                Ok(Response::Refused(code)) => Err(FetchError::Refused(code)),
                Ok(_) => Err(FetchError::UnexpectedResponse),
                Err(e) => Err(FetchError::Request(e)),
            };
            let _ = reply.send(result);
        } else if let Some(peer) = self.teaser_requests.remove(&id) {
            self.on_nearby_teaser(peer, response);
        }
    }

    /// The peer's answer to my give: a give-back is verified like any received envelope.
    fn finish_give(
        &mut self,
        pending: &PendingGive,
        response: Result<Response, RequestError>,
    ) -> Result<GiveOutcome, GiveError> {
        let peer = pending.peer;
        let outcome = match response? {
            Response::GiveBack(bytes) => GiveOutcome::Mutual {
                envelope: self.verify::<GiveError>(&peer, &bytes)?,
            },
            Response::Kept => GiveOutcome::ReceivedOnly,
            Response::Pending => GiveOutcome::Pending,
            Response::Refused(code) => return Err(GiveError::Refused(code)),
            _ => return Err(GiveError::UnexpectedResponse),
        };
        if let Some(k) = key_of(&peer) {
            self.add_holder(k);
        }
        self.emit(Event::CardGiven {
            to: peer,
            envelope: pending.mine.clone(),
        });
        if let GiveOutcome::Mutual { envelope } = &outcome {
            let addrs = self.known_addrs(&peer, Vec::new());
            self.emit(Event::CardReceived {
                from: peer,
                envelope: envelope.clone(),
                addrs,
                unsolicited: false,
            });
        }
        Ok(outcome)
    }

    // ---- what the node knows of peers, for the consent rule ----

    /// Replaces what the application's records say (holders, contacts, revoked keys, pending
    /// givers), bounded.
    pub(crate) fn set_peers(&mut self, peers: Peers) {
        let bounded = |v: Vec<PublicKey>| v.into_iter().take(MAX_HOLDERS).collect();
        self.holders = bounded(peers.holders);
        self.contacts = bounded(peers.contacts);
        self.revoked = bounded(peers.revoked);
        self.pending = peers
            .pending
            .into_iter()
            .take(self.limits.max_inbox)
            .collect();
    }

    /// What the node knows of `peer`, for the consent rule.
    fn standing(&self, peer: &PeerId) -> Standing {
        let key = key_of(peer);
        let has = |set: &HashSet<PublicKey>| key.is_some_and(|k| set.contains(&k));
        Standing {
            contact: has(&self.contacts),
            attendee: self.attend.is_attendee(peer),
            nearby: self.nearby.contains_key(peer),
            dialled: self.dialled.contains(peer),
            holder: has(&self.holders),
            revoked: has(&self.revoked),
        }
    }

    fn decide(&self, peer: &PeerId, ask: Ask) -> Decision {
        consent::decide(
            self.policy,
            self.scope,
            ask,
            self.standing(peer),
            self.teaser.is_some(),
        )
    }

    /// Remembers that `key` holds my card, up to [`MAX_HOLDERS`] keys learned while running
    /// (beyond that a peer must give again before it may fetch).
    fn add_holder(&mut self, key: PublicKey) {
        if self.holders.len() < MAX_HOLDERS {
            self.holders.insert(key);
        }
    }
}

//! The client side of relays' slot service: putting my card slot records on a relay and getting
//! contacts' records from one. proto-spec/slot.md#relay-protocol
//!
//! The node only asks (`ProtocolSupport::Outbound`); relays serve. The node keeps no records and
//! no slot keys: the application seals records with [`meishi_event::SlotRecord`] and hands the
//! bytes here, and opens the records it gets. Records that come back are checked only as far as
//! the protocol asks of every reader: one that does not verify, or is of a slot not asked for,
//! is dropped (proto-spec/slot.md#relay-protocol, Get).

use std::collections::HashMap;
use std::io;

use libp2p::request_response::{self, OutboundFailure, OutboundRequestId};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm};
use meishi_event::{
    SlotId, SlotRecord, SlotRefusal, SlotRequest, SlotResponse, MAX_SLOT_GET, MAX_SLOT_RECORD,
};

use crate::behaviour::Anon;
use crate::node::{Reply, Shutdown};

/// The relays' slot service. proto-spec/slot.md#relay-protocol
pub const SLOT_PROTOCOL: StreamProtocol = StreamProtocol::new(meishi_event::SLOT_PROTOCOL);
/// Slot requests (puts and gets together) waiting for an answer at once.
pub const MAX_SLOT_REQUESTS: usize = 16;

/// What a relay did with a record I put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotPutOutcome {
    /// The relay keeps the record (or already kept these exact bytes); `seq` is its sequence
    /// number.
    Kept { seq: u64 },
    /// The relay refused the record, for this reason.
    Refused(SlotRefusal),
}

/// Why a slot request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SlotClientError {
    #[error(transparent)]
    Shutdown(#[from] Shutdown),
    #[error("the relay address {0} does not end in /p2p/<relay id>")]
    RelayWithoutPeerId(Multiaddr),
    #[error("{0} slot ids in one get; 1 to {MAX_SLOT_GET} are allowed")]
    TooManyIds(usize),
    #[error("a record of {0} bytes; 1 to {MAX_SLOT_RECORD} are allowed")]
    RecordSize(usize),
    #[error("{MAX_SLOT_REQUESTS} slot requests are already waiting for an answer")]
    Busy,
    #[error("could not connect to the relay")]
    Unreachable,
    #[error("the relay did not answer in time")]
    Timeout,
    #[error("the connection closed before the relay answered")]
    ConnectionClosed,
    #[error("the relay does not serve card slots")]
    UnsupportedProtocol,
    #[error("the slot request failed: {0}")]
    Io(io::ErrorKind),
    #[error("the relay refused the request: {}", describe(*.0))]
    Refused(SlotRefusal),
    #[error("the relay answered with an unexpected message")]
    UnexpectedResponse,
}

/// A refusal in words, for error messages.
pub(crate) fn describe(r: SlotRefusal) -> String {
    match r {
        SlotRefusal::Malformed => "malformed".to_owned(),
        SlotRefusal::Older => "it keeps a record of this slot with a higher seq".to_owned(),
        SlotRefusal::Equivocation => {
            "it keeps another record of this slot with the same seq".to_owned()
        }
        SlotRefusal::Expired => "the record has expired".to_owned(),
        SlotRefusal::TooFarAhead => "the record expires too far ahead".to_owned(),
        SlotRefusal::Full => "the relay is full".to_owned(),
        SlotRefusal::RateLimited => "too many requests".to_owned(),
        other => format!("reason code {}", other.to_byte()),
    }
}

impl From<OutboundFailure> for SlotClientError {
    fn from(e: OutboundFailure) -> Self {
        match e {
            OutboundFailure::DialFailure => Self::Unreachable,
            OutboundFailure::Timeout => Self::Timeout,
            OutboundFailure::ConnectionClosed => Self::ConnectionClosed,
            OutboundFailure::UnsupportedProtocols => Self::UnsupportedProtocol,
            OutboundFailure::Io(e) => Self::Io(e.kind()),
        }
    }
}

/// Checks a get before anything is sent: 1 to [`MAX_SLOT_GET`] ids. Ids asked twice are asked
/// once (the relay refuses a get with an id twice).
pub(crate) fn check_get(ids: Vec<[u8; 32]>) -> Result<Vec<SlotId>, SlotClientError> {
    let mut slots: Vec<SlotId> = Vec::with_capacity(ids.len().min(MAX_SLOT_GET));
    for id in ids.iter().map(|b| SlotId(*b)) {
        if !slots.contains(&id) {
            if slots.len() == MAX_SLOT_GET {
                return Err(SlotClientError::TooManyIds(ids.len()));
            }
            slots.push(id);
        }
    }
    Ok(slots)
}

/// The client codec of this service.
pub(crate) type SlotCodec = crate::client_codec::ClientCodec<SlotRequest, SlotResponse>;

/// A slot request waiting for its answer.
#[derive(Debug)]
pub(crate) enum Pending {
    Put(Reply<Result<SlotPutOutcome, SlotClientError>>),
    Get {
        asked: Vec<SlotId>,
        reply: Reply<Result<Vec<Vec<u8>>, SlotClientError>>,
    },
}

impl Pending {
    fn fail(self, e: SlotClientError) {
        match self {
            Pending::Put(reply) => {
                let _ = reply.send(Err(e));
            }
            Pending::Get { reply, .. } => {
                let _ = reply.send(Err(e));
            }
        }
    }
}

/// The slot requests in flight, owned by the event loop.
#[derive(Debug, Default)]
pub(crate) struct SlotClient {
    pending: HashMap<OutboundRequestId, Pending>,
}

impl SlotClient {
    /// Sends `request` to the relay at `relay` (ending in `/p2p/<id>`), dialing it if not
    /// connected, and remembers `pending` to answer it.
    pub(crate) fn send(
        &mut self,
        swarm: &mut Swarm<Anon>,
        relay: Multiaddr,
        request: SlotRequest,
        pending: Pending,
    ) {
        if self.pending.len() >= MAX_SLOT_REQUESTS {
            return pending.fail(SlotClientError::Busy);
        }
        let Some((peer, base)) = crate::node::split_p2p(&relay) else {
            return pending.fail(SlotClientError::RelayWithoutPeerId(relay));
        };
        if let Err(e) = dial(swarm, peer, base) {
            return pending.fail(e);
        }
        let id = swarm.behaviour_mut().slots.send_request(&peer, request);
        self.pending.insert(id, pending);
    }

    /// A response to (or the failure of) a slot request.
    pub(crate) fn on_event(&mut self, event: request_response::Event<SlotRequest, SlotResponse>) {
        let (id, result) = match event {
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => (request_id, Ok(response)),
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                tracing::debug!(%error, "slot request failed");
                (request_id, Err(SlotClientError::from(error)))
            }
            _ => return,
        };
        let Some(pending) = self.pending.remove(&id) else {
            return;
        };
        match (pending, result) {
            (pending, Err(e)) => pending.fail(e),
            (Pending::Put(reply), Ok(response)) => {
                let out = match response {
                    SlotResponse::PutOk { seq } => Ok(SlotPutOutcome::Kept { seq }),
                    SlotResponse::Refused(r) => Ok(SlotPutOutcome::Refused(r)),
                    SlotResponse::Records { .. } => Err(SlotClientError::UnexpectedResponse),
                };
                let _ = reply.send(out);
            }
            (Pending::Get { asked, reply }, Ok(response)) => {
                let out = match response {
                    SlotResponse::Records { records } => Ok(kept_records(&asked, records)),
                    SlotResponse::Refused(r) => Err(SlotClientError::Refused(r)),
                    SlotResponse::PutOk { .. } => Err(SlotClientError::UnexpectedResponse),
                };
                let _ = reply.send(out);
            }
        }
    }
}

/// The records of a get that verify and are of slots asked for; the rest are dropped.
fn kept_records(asked: &[SlotId], records: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    records
        .into_iter()
        .filter(|bytes| match SlotRecord::decode(bytes) {
            Ok(r) if asked.contains(&r.slot()) => true,
            Ok(r) => {
                tracing::debug!(slot = %r.slot(), "relay served a slot not asked for");
                false
            }
            Err(e) => {
                tracing::debug!(error = %e, "relay served a record that does not verify");
                false
            }
        })
        .collect()
}

/// Dials the relay at `base` unless connected (or dialing) already; the request-response
/// behaviour then waits for that connection. The drop client dials relays the same way.
pub(crate) fn dial(
    swarm: &mut Swarm<Anon>,
    peer: PeerId,
    base: Multiaddr,
) -> Result<(), SlotClientError> {
    if swarm.is_connected(&peer) {
        return Ok(());
    }
    let opts = DialOpts::peer_id(peer)
        .addresses(vec![base])
        .condition(PeerCondition::DisconnectedAndNotDialing)
        .build();
    match swarm.dial(opts) {
        Ok(()) | Err(libp2p::swarm::DialError::DialPeerConditionFalse(_)) => Ok(()),
        Err(e) => {
            tracing::debug!(%peer, error = %e, "cannot dial the relay");
            Err(SlotClientError::Unreachable)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    #[test]
    fn a_get_is_checked_before_it_is_sent() {
        assert_eq!(check_get(vec![[1; 32], [2; 32], [1; 32]]).unwrap().len(), 2);
        let many: Vec<[u8; 32]> = (0..=64u8).map(|i| [i; 32]).collect();
        assert_eq!(check_get(many), Err(SlotClientError::TooManyIds(65)));
        assert!(check_get(vec![[9; 32]; 100]).is_ok());
    }
}

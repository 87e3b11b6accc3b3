//! The client side of relays' drop service: leaving sealed messages in a contact's drop box on a
//! relay, and getting and acknowledging the messages waiting in my boxes.
//! proto-spec/drop.md#relay-protocol
//!
//! The node only asks (`ProtocolSupport::Outbound`); relays serve. The node keeps no messages
//! and no drop secret: the application seals with [`meishi_event::seal_drop`] and hands the
//! bytes here, and opens what it gets with [`meishi_event::open_drop`]. Messages that come back
//! are checked only as far as a relay can check them: one whose framing fails
//! ([`meishi_event::check_drop`]), or of a box not asked for, is dropped.

use std::collections::HashMap;
use std::io;

use libp2p::request_response::{self, OutboundFailure, OutboundRequestId};
use libp2p::{Multiaddr, StreamProtocol, Swarm};
use meishi_event::{
    check_drop, DropId, DropRefusal, DropRequest, DropResponse, MAX_DROP_GET, MAX_DROP_SEALED,
};

use crate::behaviour::Anon;
use crate::node::{Reply, Shutdown};

/// The relays' drop service. proto-spec/drop.md#relay-protocol
pub const DROP_PROTOCOL: StreamProtocol = StreamProtocol::new(meishi_event::DROP_PROTOCOL);
/// Drop requests (puts, gets and acks together) waiting for an answer at once.
pub const MAX_DROP_REQUESTS: usize = 16;

/// Why a drop request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DropClientError {
    #[error(transparent)]
    Shutdown(#[from] Shutdown),
    #[error("the relay address {0} does not end in /p2p/<relay id>")]
    RelayWithoutPeerId(Multiaddr),
    #[error("{0} box ids in one get; 1 to {MAX_DROP_GET} are allowed")]
    TooManyIds(usize),
    #[error("{0} digests in one acknowledgement; 1 to {MAX_DROP_GET} are allowed")]
    TooManyDigests(usize),
    #[error("a sealed message of {0} bytes; 1 to {MAX_DROP_SEALED} are allowed")]
    SealedSize(usize),
    #[error("{MAX_DROP_REQUESTS} drop requests are already waiting for an answer")]
    Busy,
    #[error("could not connect to the relay")]
    Unreachable,
    #[error("the relay did not answer in time")]
    Timeout,
    #[error("the connection closed before the relay answered")]
    ConnectionClosed,
    #[error("the relay does not serve drop boxes")]
    UnsupportedProtocol,
    #[error("the drop request failed: {0}")]
    Io(io::ErrorKind),
    #[error("the relay refused the request: {}", describe(*.0))]
    Refused(DropRefusal),
    #[error("the relay answered with an unexpected message")]
    UnexpectedResponse,
}

/// A refusal in words, for error messages.
fn describe(r: DropRefusal) -> String {
    match r {
        DropRefusal::Malformed => "the sealed message is malformed".to_owned(),
        DropRefusal::TooLarge => "the sealed message is too large".to_owned(),
        DropRefusal::BoxFull => "the box is full until its owner collects it".to_owned(),
        DropRefusal::HostFull => "this network has too many messages waiting".to_owned(),
        DropRefusal::Full => "the relay is full".to_owned(),
        DropRefusal::RateLimited => "too many requests".to_owned(),
        other => format!("reason code {}", other.to_byte()),
    }
}

impl From<OutboundFailure> for DropClientError {
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

/// Up to [`MAX_DROP_GET`] distinct values, in the order given; a value given twice is sent
/// once (the relay refuses a request with one twice). More distinct ones is `too_many`.
pub(crate) fn distinct<T: PartialEq + Copy>(
    values: &[T],
    too_many: fn(usize) -> DropClientError,
) -> Result<Vec<T>, DropClientError> {
    let mut out: Vec<T> = Vec::with_capacity(values.len().min(MAX_DROP_GET));
    for v in values {
        if !out.contains(v) {
            if out.len() == MAX_DROP_GET {
                return Err(too_many(values.len()));
            }
            out.push(*v);
        }
    }
    Ok(out)
}

/// The client codec of this service.
pub(crate) type DropCodec = crate::client_codec::ClientCodec<DropRequest, DropResponse>;

/// What a get answers: the messages, each with its box id, and whether more wait.
pub(crate) type Listed = (Vec<(DropId, Vec<u8>)>, bool);

/// A drop request waiting for its answer.
#[derive(Debug)]
pub(crate) enum Pending {
    Put(Reply<Result<(), DropClientError>>),
    Get {
        asked: Vec<DropId>,
        reply: Reply<Result<Listed, DropClientError>>,
    },
    Ack(Reply<Result<u32, DropClientError>>),
}

impl Pending {
    fn fail(self, e: DropClientError) {
        match self {
            Pending::Put(reply) => {
                let _ = reply.send(Err(e));
            }
            Pending::Get { reply, .. } => {
                let _ = reply.send(Err(e));
            }
            Pending::Ack(reply) => {
                let _ = reply.send(Err(e));
            }
        }
    }
}

/// The drop requests in flight, owned by the event loop.
#[derive(Debug, Default)]
pub(crate) struct DropClient {
    pending: HashMap<OutboundRequestId, Pending>,
}

impl DropClient {
    /// Sends `request` to the relay at `relay` (ending in `/p2p/<id>`), dialing it if not
    /// connected, and remembers `pending` to answer it.
    pub(crate) fn send(
        &mut self,
        swarm: &mut Swarm<Anon>,
        relay: Multiaddr,
        request: DropRequest,
        pending: Pending,
    ) {
        if self.pending.len() >= MAX_DROP_REQUESTS {
            return pending.fail(DropClientError::Busy);
        }
        let Some((peer, base)) = crate::node::split_p2p(&relay) else {
            return pending.fail(DropClientError::RelayWithoutPeerId(relay));
        };
        // The slot client's dial: the same relay, the same rule (dial unless connected).
        if crate::slots::dial(swarm, peer, base).is_err() {
            return pending.fail(DropClientError::Unreachable);
        }
        let id = swarm.behaviour_mut().drops.send_request(&peer, request);
        self.pending.insert(id, pending);
    }

    /// A response to (or the failure of) a drop request.
    pub(crate) fn on_event(&mut self, event: request_response::Event<DropRequest, DropResponse>) {
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
                tracing::debug!(%error, "drop request failed");
                (request_id, Err(DropClientError::from(error)))
            }
            _ => return,
        };
        let Some(pending) = self.pending.remove(&id) else {
            return;
        };
        let response = match result {
            Ok(r) => r,
            Err(e) => return pending.fail(e),
        };
        if let DropResponse::Refused(r) = response {
            return pending.fail(DropClientError::Refused(r));
        }
        match (pending, response) {
            (Pending::Put(reply), DropResponse::PutOk) => {
                let _ = reply.send(Ok(()));
            }
            (Pending::Get { asked, reply }, DropResponse::Messages { messages, more }) => {
                let _ = reply.send(Ok((kept_messages(&asked, messages), more)));
            }
            (Pending::Ack(reply), DropResponse::AckOk { deleted }) => {
                let _ = reply.send(Ok(deleted));
            }
            (pending, _) => pending.fail(DropClientError::UnexpectedResponse),
        }
    }
}

/// The messages of a get that pass the framing checks and are of boxes asked for; the rest
/// are dropped.
fn kept_messages(asked: &[DropId], messages: Vec<(DropId, Vec<u8>)>) -> Vec<(DropId, Vec<u8>)> {
    messages
        .into_iter()
        .filter(|(id, sealed)| {
            if !asked.contains(id) {
                tracing::debug!(%id, "relay served a box not asked for");
                return false;
            }
            match check_drop(sealed) {
                Ok(()) => true,
                Err(e) => {
                    tracing::debug!(error = %e, "relay served a malformed drop");
                    false
                }
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    #[test]
    fn lists_are_checked_before_they_are_sent() {
        let ids = |v: &[u8]| v.iter().map(|b| DropId([*b; 32])).collect::<Vec<_>>();
        assert_eq!(
            distinct(&ids(&[1, 2, 1]), DropClientError::TooManyIds).unwrap(),
            ids(&[1, 2])
        );
        let many: Vec<u8> = (0..=64u8).collect();
        assert_eq!(
            distinct(&ids(&many), DropClientError::TooManyIds),
            Err(DropClientError::TooManyIds(65))
        );
        assert_eq!(
            distinct(&[[3u8; 32]; 100], DropClientError::TooManyDigests)
                .unwrap()
                .len(),
            1
        );
        let digests: Vec<[u8; 32]> = (0..=64u8).map(|i| [i; 32]).collect();
        assert_eq!(
            distinct(&digests, DropClientError::TooManyDigests),
            Err(DropClientError::TooManyDigests(65))
        );
    }

    #[test]
    fn only_well_framed_messages_of_boxes_asked_are_kept() {
        use meishi_event::{seal_drop, DropSecret};
        let ada = DropSecret::from_bytes([1; 32]);
        let a = ada.address_for(&[2; 32]);
        let good = seal_drop(&a, b"hi").unwrap();
        let mut bad = good.clone();
        bad[0] = 9;
        let other = DropId([7; 32]);
        let kept = kept_messages(
            &[a.id],
            vec![(a.id, good.clone()), (a.id, bad), (other, good.clone())],
        );
        assert_eq!(kept, vec![(a.id, good)]);
    }
}

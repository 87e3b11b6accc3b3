//! The rendezvous server, speaking libp2p's `/rendezvous/1.0.0` wire protocol, so the stock
//! rust-libp2p rendezvous client talks to it unchanged. proto-spec/relay.md#rendezvous
//!
//! It is our own server rather than `libp2p::rendezvous::server` because the stock one answers
//! a DISCOVER without a namespace with every registration on the relay (the attendee list of
//! every event), bounds nothing per namespace, refuses a refresh from a peer at its cap and
//! sends unbounded pages. Here: a namespace is required and must have the shape of a derived
//! event namespace; pages are capped; registrations are capped per peer, per namespace and in
//! total ([`crate::registry`]); a refresh replaces the old registration.

use std::io;
use std::net::IpAddr;
use std::time::Instant;

use futures::{AsyncRead, AsyncWrite};
use libp2p::core::{PeerRecord, SignedEnvelope};
use libp2p::{request_response, PeerId, StreamProtocol};

use crate::frame;
use crate::registry::{Refusal, Registry};

/// The rendezvous protocol id. proto-spec/relay.md#rendezvous
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/rendezvous/1.0.0");
/// Largest request read: a namespace, a signed peer record with a few addresses, a TTL.
pub const MAX_REQUEST: usize = 8 * 1024;
/// TTL a registration gets when it names none (the protocol's default, two hours).
pub const DEFAULT_TTL: u64 = 2 * 60 * 60;

// Message types and response statuses of the rendezvous protobuf schema.
const T_REGISTER: u64 = 0;
const T_REGISTER_RESPONSE: u64 = 1;
const T_UNREGISTER: u64 = 2;
const T_DISCOVER: u64 = 3;
const T_DISCOVER_RESPONSE: u64 = 4;

/// Response status codes of the rendezvous protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Status {
    Ok = 0,
    InvalidNamespace = 100,
    InvalidSignedPeerRecord = 101,
    InvalidTtl = 102,
    InvalidCookie = 103,
    NotAuthorized = 200,
    Unavailable = 400,
}

/// A decoded request.
#[derive(Debug, Clone)]
pub enum Request {
    Register {
        namespace: String,
        /// The signed envelope bytes, stored and served verbatim.
        record: Vec<u8>,
        /// The peer the record is signed by.
        signer: PeerId,
        ttl: Option<u64>,
    },
    Unregister {
        namespace: String,
    },
    Discover {
        namespace: Option<String>,
        limit: Option<u64>,
        cookie: Option<Vec<u8>>,
    },
}

/// Why request bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("malformed protobuf")]
    Protobuf,
    #[error("message type missing or not a request")]
    Type,
    #[error("required field missing")]
    Missing,
    #[error("namespace is not UTF-8 or longer than 255 bytes")]
    Namespace,
    #[error("signed peer record does not verify")]
    Record,
}

// ---- minimal protobuf (proto2) reader and writer for the rendezvous schema ----

enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn varint(b: &mut &[u8]) -> Result<u64, DecodeError> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let (&byte, rest) = b.split_first().ok_or(DecodeError::Protobuf)?;
        *b = rest;
        if i == 9 && byte > 1 {
            return Err(DecodeError::Protobuf);
        }
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(DecodeError::Protobuf)
}

/// Parses the fields of one message; fixed-width fields are skipped, groups refused.
fn fields(mut b: &[u8]) -> Result<Vec<(u64, Value<'_>)>, DecodeError> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b)?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => out.push((field, Value::Varint(varint(&mut b)?))),
            2 => {
                let len = usize::try_from(varint(&mut b)?).map_err(|_| DecodeError::Protobuf)?;
                if len > b.len() {
                    return Err(DecodeError::Protobuf);
                }
                let (v, rest) = b.split_at(len);
                b = rest;
                out.push((field, Value::Bytes(v)));
            }
            1 | 5 => {
                let n = if wire == 1 { 8 } else { 4 };
                if n > b.len() {
                    return Err(DecodeError::Protobuf);
                }
                b = &b[n..];
            }
            _ => return Err(DecodeError::Protobuf),
        }
    }
    Ok(out)
}

fn last_bytes<'a>(f: &[(u64, Value<'a>)], n: u64) -> Option<&'a [u8]> {
    f.iter().rev().find_map(|(k, v)| match v {
        Value::Bytes(b) if *k == n => Some(*b),
        _ => None,
    })
}

fn last_varint(f: &[(u64, Value<'_>)], n: u64) -> Option<u64> {
    f.iter().rev().find_map(|(k, v)| match v {
        Value::Varint(x) if *k == n => Some(*x),
        _ => None,
    })
}

fn namespace_of(b: Option<&[u8]>) -> Result<Option<String>, DecodeError> {
    match b {
        None => Ok(None),
        Some(b) if b.len() > 255 => Err(DecodeError::Namespace),
        Some(b) => std::str::from_utf8(b)
            .map(|s| Some(s.to_owned()))
            .map_err(|_| DecodeError::Namespace),
    }
}

impl Request {
    /// Decodes a request message, verifying a registration's signed peer record.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let msg = fields(bytes)?;
        let t = last_varint(&msg, 1).ok_or(DecodeError::Type)?;
        match t {
            T_REGISTER => {
                let f = fields(last_bytes(&msg, 2).ok_or(DecodeError::Missing)?)?;
                let namespace = namespace_of(last_bytes(&f, 1))?.ok_or(DecodeError::Missing)?;
                let record = last_bytes(&f, 2).ok_or(DecodeError::Missing)?;
                let env = SignedEnvelope::from_protobuf_encoding(record)
                    .map_err(|_| DecodeError::Record)?;
                let rec = PeerRecord::from_signed_envelope(env).map_err(|_| DecodeError::Record)?;
                Ok(Self::Register {
                    namespace,
                    record: record.to_vec(),
                    signer: rec.peer_id(),
                    ttl: last_varint(&f, 3),
                })
            }
            T_UNREGISTER => {
                let f = fields(last_bytes(&msg, 4).ok_or(DecodeError::Missing)?)?;
                let namespace = namespace_of(last_bytes(&f, 1))?.ok_or(DecodeError::Missing)?;
                Ok(Self::Unregister { namespace })
            }
            T_DISCOVER => {
                let f = fields(last_bytes(&msg, 5).ok_or(DecodeError::Missing)?)?;
                Ok(Self::Discover {
                    namespace: namespace_of(last_bytes(&f, 1))?,
                    limit: last_varint(&f, 2),
                    cookie: last_bytes(&f, 3).map(<[u8]>::to_vec),
                })
            }
            _ => Err(DecodeError::Type),
        }
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn put_uint(out: &mut Vec<u8>, field: u64, v: u64) {
    put_varint(out, field << 3);
    put_varint(out, v);
}

fn put_bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
    put_varint(out, (field << 3) | 2);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn message(t: u64, field: u64, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 8);
    put_uint(&mut out, 1, t);
    put_bytes(&mut out, field, body);
    out
}

/// Encodes a REGISTER_RESPONSE.
pub fn register_response(status: Status, ttl: Option<u64>) -> Vec<u8> {
    let mut b = Vec::new();
    put_uint(&mut b, 1, status as u64);
    if let Some(ttl) = ttl {
        put_uint(&mut b, 3, ttl);
    }
    message(T_REGISTER_RESPONSE, 3, &b)
}

/// Encodes a DISCOVER_RESPONSE: `(namespace, record, ttl)` registrations and a cookie.
pub fn discover_response(
    status: Status,
    registrations: &[(&str, &[u8], u64)],
    cookie: Option<&[u8]>,
) -> Vec<u8> {
    let mut b = Vec::new();
    for (ns, record, ttl) in registrations {
        let mut r = Vec::with_capacity(ns.len() + record.len() + 16);
        put_bytes(&mut r, 1, ns.as_bytes());
        put_bytes(&mut r, 2, record);
        put_uint(&mut r, 3, *ttl);
        put_bytes(&mut b, 1, &r);
    }
    if let Some(c) = cookie {
        put_bytes(&mut b, 2, c);
    }
    put_uint(&mut b, 3, status as u64);
    message(T_DISCOVER_RESPONSE, 6, &b)
}

// ---- the server state ----

/// Rendezvous limits besides the registry caps.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most registrations in one DISCOVER response, whatever the client asks.
    pub max_discover: u64,
}

/// Outcome of one request, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Registered,
    Unregistered,
    Discovered(usize),
    Refused(Status),
    /// Refused with [`Status::Unavailable`] by this cap.
    Full(Refusal),
}

/// The rendezvous server's state: registrations, keyed by namespace and peer.
pub struct Server {
    registry: Registry<Vec<u8>>,
    limits: Limits,
}

fn cookie(cursor: u64, ns: &str) -> Vec<u8> {
    let mut c = cursor.to_be_bytes().to_vec();
    c.extend_from_slice(ns.as_bytes());
    c
}

impl Server {
    pub fn new(registry: Registry<Vec<u8>>, limits: Limits) -> Self {
        Self { registry, limits }
    }

    pub fn registry(&self) -> &Registry<Vec<u8>> {
        &self.registry
    }

    pub fn expire(&mut self, now: Instant) -> usize {
        self.registry.expire(now)
    }

    /// Drops every entry of `peer`, which has had no connection for the grace period.
    pub fn forget(&mut self, peer: &PeerId) -> usize {
        self.registry.remove_peer(peer)
    }

    /// Handles a request from `peer`; returns the response to send (none for UNREGISTER).
    pub fn handle(
        &mut self,
        peer: PeerId,
        ip: Option<IpAddr>,
        req: Request,
        now: Instant,
    ) -> (Outcome, Option<Vec<u8>>) {
        match req {
            Request::Register {
                namespace,
                record,
                signer,
                ttl,
            } => {
                let refuse = |s| (Outcome::Refused(s), Some(register_response(s, None)));
                if signer != peer {
                    return refuse(Status::NotAuthorized);
                }
                if !meishi_event::is_namespace(&namespace) {
                    return refuse(Status::InvalidNamespace);
                }
                let ttl = ttl.unwrap_or(DEFAULT_TTL);
                match self
                    .registry
                    .put_from(&namespace, peer, ip, record, ttl, now)
                {
                    Ok(_) => (
                        Outcome::Registered,
                        Some(register_response(Status::Ok, Some(ttl))),
                    ),
                    Err(Refusal::Ttl { .. }) => refuse(Status::InvalidTtl),
                    Err(r) => (
                        Outcome::Full(r),
                        Some(register_response(Status::Unavailable, None)),
                    ),
                }
            }
            Request::Unregister { namespace } => {
                self.registry.remove(&namespace, &peer);
                (Outcome::Unregistered, None)
            }
            Request::Discover {
                namespace,
                limit,
                cookie: given,
            } => {
                let refuse = |s| (Outcome::Refused(s), Some(discover_response(s, &[], None)));
                // Without a namespace nothing is listed: the relay never enumerates events.
                let Some(ns) = namespace else {
                    return refuse(Status::InvalidNamespace);
                };
                if !meishi_event::is_namespace(&ns) {
                    return refuse(Status::InvalidNamespace);
                }
                let cursor = match given {
                    None => 0,
                    Some(c) if c.len() == 8 + ns.len() && &c[8..] == ns.as_bytes() => {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(&c[..8]);
                        u64::from_be_bytes(a)
                    }
                    Some(_) => return refuse(Status::InvalidCookie),
                };
                let max = self.limits.max_discover;
                let limit = limit.unwrap_or(max).clamp(1, max);
                let limit = usize::try_from(limit).unwrap_or(usize::MAX);
                let (page, next, _more) = self.registry.page(&ns, cursor, limit, now);
                let regs: Vec<(&str, &[u8], u64)> = page
                    .iter()
                    .map(|l| (ns.as_str(), l.value.as_slice(), l.ttl_left))
                    .collect();
                let n = regs.len();
                let resp = discover_response(Status::Ok, &regs, Some(&cookie(next, &ns)));
                (Outcome::Discovered(n), Some(resp))
            }
        }
    }
}

/// The request-response codec: varint-framed protobuf, requests decoded and verified here.
/// request-response drops a stream whose request fails to read without telling the behaviour,
/// so the codec counts malformed and oversized requests itself.
#[derive(Debug, Clone, Default)]
pub struct Codec {
    malformed: prometheus_client::metrics::counter::Counter,
}

impl Codec {
    /// A codec that counts refused requests on `malformed` (clones share the count).
    pub fn with_counter(malformed: prometheus_client::metrics::counter::Counter) -> Self {
        Self { malformed }
    }
}

impl request_response::Codec for Codec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        let read = meishi_event::frame::read_decoded(io, MAX_REQUEST, Request::decode).await;
        frame::counted(read, &self.malformed)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, _: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the relay only serves rendezvous",
        ))
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the relay only serves rendezvous",
        ))
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        meishi_event::frame::write(io, &res).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;
    use crate::registry::Caps;

    /// The namespace of the code "event", derived once: a derivation takes a quarter second
    /// (Argon2id), and the property tests below would otherwise pay it in every case.
    fn event_ns() -> String {
        static NS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        NS.get_or_init(|| meishi_event::namespace("event").unwrap())
            .clone()
    }

    fn server() -> Server {
        Server::new(
            Registry::new(Caps {
                total: 100,
                per_namespace: 100,
                per_peer: 2,
                per_host: 100,
                site_share_namespace: 100,
                site_share: 100,
                min_ttl: 60,
                max_ttl: 3600,
            }),
            Limits { max_discover: 2 },
        )
    }

    fn register_bytes(key: &libp2p::identity::Keypair, ns: &str, ttl: Option<u64>) -> Vec<u8> {
        let rec = PeerRecord::new(key, vec!["/ip4/192.0.2.1/tcp/1".parse().unwrap()]).unwrap();
        let mut r = Vec::new();
        put_bytes(&mut r, 1, ns.as_bytes());
        put_bytes(
            &mut r,
            2,
            &rec.into_signed_envelope().into_protobuf_encoding(),
        );
        if let Some(t) = ttl {
            put_uint(&mut r, 3, t);
        }
        message(T_REGISTER, 2, &r)
    }

    fn discover_bytes(ns: Option<&str>, limit: Option<u64>, cookie: Option<&[u8]>) -> Vec<u8> {
        let mut d = Vec::new();
        if let Some(ns) = ns {
            put_bytes(&mut d, 1, ns.as_bytes());
        }
        if let Some(l) = limit {
            put_uint(&mut d, 2, l);
        }
        if let Some(c) = cookie {
            put_bytes(&mut d, 3, c);
        }
        message(T_DISCOVER, 5, &d)
    }

    fn registrations(resp: &[u8]) -> (u64, usize, Option<Vec<u8>>) {
        let m = fields(resp).unwrap();
        assert_eq!(last_varint(&m, 1), Some(T_DISCOVER_RESPONSE));
        let d = fields(last_bytes(&m, 6).unwrap()).unwrap();
        let n = d.iter().filter(|(k, _)| *k == 1).count();
        (
            last_varint(&d, 3).unwrap(),
            n,
            last_bytes(&d, 2).map(<[u8]>::to_vec),
        )
    }

    #[test]
    fn register_discover_page_and_refuse() {
        let now = Instant::now();
        let mut s = server();
        let ns = event_ns();
        let keys: Vec<_> = (0..3)
            .map(|_| libp2p::identity::Keypair::generate_ed25519())
            .collect();
        for k in &keys {
            let req = Request::decode(&register_bytes(k, &ns, Some(120))).unwrap();
            let (o, _) = s.handle(k.public().to_peer_id(), None, req, now);
            assert_eq!(o, Outcome::Registered);
        }
        // Someone else's record is refused.
        let req = Request::decode(&register_bytes(&keys[0], &ns, Some(120))).unwrap();
        assert_eq!(
            s.handle(PeerId::random(), None, req, now).0,
            Outcome::Refused(Status::NotAuthorized)
        );
        // TTL bounds; raw (non-derived) namespaces.
        let k = &keys[0];
        let me = k.public().to_peer_id();
        let req = Request::decode(&register_bytes(k, &ns, Some(59))).unwrap();
        assert_eq!(
            s.handle(me, None, req, now).0,
            Outcome::Refused(Status::InvalidTtl)
        );
        let req = Request::decode(&register_bytes(k, "rustmeetup", Some(120))).unwrap();
        assert_eq!(
            s.handle(me, None, req, now).0,
            Outcome::Refused(Status::InvalidNamespace)
        );
        // Pages of at most 2, continued by cookie.
        let req = Request::decode(&discover_bytes(Some(&ns), Some(100), None)).unwrap();
        let (_, resp) = s.handle(me, None, req, now);
        let (st, n, c) = registrations(&resp.unwrap());
        assert_eq!((st, n), (0, 2));
        let req = Request::decode(&discover_bytes(Some(&ns), None, c.as_deref())).unwrap();
        let (st, n, _) = registrations(&s.handle(me, None, req, now).1.unwrap());
        assert_eq!((st, n), (0, 1));
        // No namespace: nothing, with an error status.
        let req = Request::decode(&discover_bytes(None, None, None)).unwrap();
        let (o, resp) = s.handle(me, None, req, now);
        assert_eq!(o, Outcome::Refused(Status::InvalidNamespace));
        assert_eq!(registrations(&resp.unwrap()).1, 0);
        // A cookie for another namespace.
        let other = meishi_event::namespace("other").unwrap();
        let req = Request::decode(&discover_bytes(Some(&other), None, c.as_deref())).unwrap();
        assert_eq!(
            s.handle(me, None, req, now).0,
            Outcome::Refused(Status::InvalidCookie)
        );
    }

    #[test]
    fn malformed_requests_are_refused() {
        assert!(Request::decode(&[]).is_err());
        assert!(Request::decode(&[0xff; 12]).is_err());
        assert_eq!(
            Request::decode(&message(T_REGISTER, 2, &[])).unwrap_err(),
            DecodeError::Missing
        );
        assert_eq!(
            Request::decode(&message(T_REGISTER_RESPONSE, 3, &[])).unwrap_err(),
            DecodeError::Type
        );
        // A register whose record bytes are garbage.
        let mut r = Vec::new();
        put_bytes(&mut r, 1, b"ns");
        put_bytes(&mut r, 2, b"garbage");
        assert_eq!(
            Request::decode(&message(T_REGISTER, 2, &r)).unwrap_err(),
            DecodeError::Record
        );
        // Length running past the end.
        assert_eq!(
            Request::decode(&[0x12, 0x05, 0x00]).unwrap_err(),
            DecodeError::Protobuf
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(512))]

        /// Bytes from peers never panic the relay's protobuf reader.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = Request::decode(&bytes);
        }

        /// Valid requests with bytes changed, cut or appended never panic it either, and a
        /// register that still decodes is still signed by the record's key.
        #[test]
        fn mutated_requests_never_panic(
            which in 0usize..3,
            edits in proptest::collection::vec((proptest::num::usize::ANY, proptest::num::u8::ANY), 1..6),
            cut in proptest::option::of(proptest::num::usize::ANY),
            tail in proptest::collection::vec(proptest::num::u8::ANY, 0..8),
        ) {
            let ns = event_ns();
            let key = libp2p::identity::Keypair::ed25519_from_bytes([7; 32]).unwrap();
            let mut bytes = match which {
                0 => register_bytes(&key, &ns, Some(120)),
                1 => discover_bytes(Some(&ns), Some(10), Some(&[1, 2, 3])),
                _ => {
                    let mut r = Vec::new();
                    put_bytes(&mut r, 1, ns.as_bytes());
                    message(T_UNREGISTER, 4, &r)
                }
            };
            for (at, v) in edits {
                let i = at % bytes.len();
                bytes[i] ^= v;
            }
            if let Some(c) = cut {
                bytes.truncate(c % (bytes.len() + 1));
            }
            bytes.extend_from_slice(&tail);
            if let Ok(Request::Register { signer, .. }) = Request::decode(&bytes) {
                proptest::prop_assert_eq!(signer, key.public().to_peer_id());
            }
        }
    }
}

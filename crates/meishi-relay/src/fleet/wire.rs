//! The bytes relays of one fleet exchange: a replicated board entry ([`Replica`]) or a
//! withdrawn one ([`Removal`]), each the data of one gossipsub message ([`Gossiped`]), and the
//! catch-up protocol's request and response ([`PullRequest`], [`PullResponse`]), framed by
//! [`meishi_event::frame`] like the board. proto-spec/relay.md#fleets
//!
//! Decoders are canonical or reject, and bound every length before allocating. Only relays
//! speak these: nodes never see them.

use libp2p::PeerId;
use meishi_event::frame;
use meishi_event::{is_namespace, MAX_PEER_ID, MAX_SEALED, NAMESPACE_LEN};

/// Protocol id of the catch-up protocol. proto-spec/relay.md#catch-up
pub const PULL_PROTOCOL: &str = "/meishi/fleet/1";
/// Prefix of the gossipsub topic of one event namespace: the topic is this prefix and the
/// namespace. proto-spec/relay.md#replication
pub const TOPIC_PREFIX: &str = "meishi/board/1/";
/// The topic every fleet relay subscribes to, whatever it serves: it keeps fleet connections
/// in a mesh (gossipsub keeps a connection alive only while it is) and carries no messages.
/// proto-spec/relay.md#replication
pub const FLEET_TOPIC: &str = "meishi/fleet/1";
/// Version byte of a [`Replica`].
pub const REPLICA_V1: u8 = 0x01;
/// Type byte of a [`Removal`]. proto-spec/relay.md#removals
pub const REMOVAL_V1: u8 = 0x02;
/// Largest encoded [`Replica`].
pub const MAX_REPLICA: usize = 1 + 1 + NAMESPACE_LEN + MAX_ENTRY;
/// Largest encoded [`Removal`]: type, namespace, peer, stamp, time kept.
pub const MAX_REMOVAL: usize = 1 + 1 + NAMESPACE_LEN + 1 + MAX_PEER_ID + 8 + 4;
/// Most entries in one [`PullResponse::Entries`]. A pull is between relays, a few per minute:
/// it keeps the board's page of before 2026-11-30, not the node's larger one.
pub const MAX_PULL_PAGE: u16 = 256;
/// Largest encoded pull request.
pub const MAX_PULL_REQUEST: usize = 1 + 1 + NAMESPACE_LEN + 8 + 2;
/// Largest encoded pull response.
pub const MAX_PULL_RESPONSE: usize = 1 + 2 + MAX_PULL_PAGE as usize * MAX_ENTRY + 8 + 1;
/// Largest encoded entry (in a replica or a pull response): peer, stamp, ttl, left, sealed.
const MAX_ENTRY: usize = 1 + MAX_PEER_ID + 8 + 4 + 4 + 2 + MAX_SEALED;

const REQ_PULL: u8 = 0x01;
const RESP_ENTRIES: u8 = 0x81;
const RESP_ERROR: u8 = 0xff;

/// The topic of `namespace`'s board entries.
pub fn topic_of(namespace: &str) -> String {
    format!("{TOPIC_PREFIX}{namespace}")
}

/// The namespace a board topic is about, if `topic` is one (the prefix and a namespace of the
/// derived shape).
pub fn namespace_of(topic: &str) -> Option<&str> {
    topic
        .strip_prefix(TOPIC_PREFIX)
        .filter(|ns| is_namespace(ns))
}

/// One board entry as relays hold and replicate it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Who posted it: the authenticated peer of the client's connection to the origin relay.
    pub peer: PeerId,
    /// When the origin relay stored this version, in Unix microseconds; versions of one
    /// (namespace, peer) are ordered by it.
    pub stamp: u64,
    /// The TTL the client asked for, in seconds.
    pub ttl: u32,
    /// Seconds it had left when it was sent (1 to `ttl`).
    pub left: u32,
    /// The sealed teaser, opaque to relays.
    pub sealed: Vec<u8>,
}

/// A replicated entry: the data of one gossipsub message on the namespace's topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub namespace: String,
    pub entry: Entry,
}

/// A withdrawn entry: the data of one gossipsub message on the namespace's topic. Versions of
/// `peer`'s entry in `namespace` stamped at or before `stamp` are gone.
/// proto-spec/relay.md#removals
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub namespace: String,
    /// Whose entry: the authenticated peer that sent the board Remove to the origin relay.
    pub peer: PeerId,
    /// The removal's stamp, ordered with the entry's versions: the origin's clock when it
    /// took the Remove, in Unix microseconds, and above the stamp of the version it held.
    pub stamp: u64,
    /// Seconds a relay remembers the removal (at least 1), so that an older copy still on its
    /// way (by gossip or catch-up) is not stored again: the time the removed version had left.
    pub left: u32,
}

/// The data of one gossipsub message on a board topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gossiped {
    /// An entry a client wrote (new or refreshed), to store if newer.
    Entry(Replica),
    /// An entry a client withdrew, to drop if not newer than the removal.
    Removal(Removal),
}

/// A catch-up request: entries of `namespace` the peer stored after `cursor` (its own board
/// sequence numbers; 0 from the start), at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub namespace: String,
    pub cursor: u64,
    pub limit: u16,
}

/// Why a pull was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PullErrorCode {
    /// The request was malformed.
    BadRequest,
    /// A code this version does not know.
    Other(u8),
}

/// A catch-up response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullResponse {
    /// A page of entries in the answering relay's order; `cursor` is where to ask from next,
    /// `more` whether entries remain after this page.
    Entries {
        entries: Vec<Entry>,
        cursor: u64,
        more: bool,
    },
    /// The request was refused.
    Error(PullErrorCode),
}

/// Why fleet bytes were rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    #[error("fleet message of {len} bytes exceeds {max}")]
    TooLarge { len: usize, max: usize },
    #[error("fleet message truncated")]
    Truncated,
    #[error("unknown fleet message type {0:#04x}")]
    UnknownType(u8),
    #[error("namespace is not a derived event namespace")]
    BadNamespace,
    #[error("peer id does not parse")]
    BadPeer,
    #[error("fleet message field exceeds its limit")]
    FieldTooLarge,
    #[error("entry has {left} s left of a TTL of {ttl} s")]
    BadLeft { ttl: u32, left: u32 },
    #[error("removal kept for 0 s")]
    ZeroLeft,
    #[error("fleet message has {0} trailing bytes")]
    Trailing(usize),
    #[error("fleet message is not canonical")]
    NonCanonical,
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.b.len() < n {
            return Err(WireError::Truncated);
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, WireError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
    fn namespace(&mut self) -> Result<String, WireError> {
        let n = usize::from(self.u8()?);
        let s = std::str::from_utf8(self.take(n)?).map_err(|_| WireError::BadNamespace)?;
        if !is_namespace(s) {
            return Err(WireError::BadNamespace);
        }
        Ok(s.to_owned())
    }
    fn peer(&mut self) -> Result<PeerId, WireError> {
        let plen = usize::from(self.u8()?);
        if plen == 0 || plen > MAX_PEER_ID {
            return Err(WireError::FieldTooLarge);
        }
        PeerId::from_bytes(self.take(plen)?).map_err(|_| WireError::BadPeer)
    }
    fn entry(&mut self) -> Result<Entry, WireError> {
        let peer = self.peer()?;
        let stamp = self.u64()?;
        let ttl = self.u32()?;
        let left = self.u32()?;
        if left == 0 || left > ttl {
            return Err(WireError::BadLeft { ttl, left });
        }
        let n = usize::from(self.u16()?);
        if n > MAX_SEALED {
            return Err(WireError::FieldTooLarge);
        }
        let sealed = self.take(n)?.to_vec();
        Ok(Entry {
            peer,
            stamp,
            ttl,
            left,
            sealed,
        })
    }
    fn end(self) -> Result<(), WireError> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(WireError::Trailing(self.b.len()))
        }
    }
}

fn too_large(bytes: &[u8], max: usize) -> Result<(), WireError> {
    if bytes.len() > max {
        return Err(WireError::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    Ok(())
}

fn put_namespace(out: &mut Vec<u8>, ns: &str) {
    // Checked on decode; an overlong one is cut so that encoding cannot panic.
    let b = &ns.as_bytes()[..ns.len().min(255)];
    out.push(b.len() as u8);
    out.extend_from_slice(b);
}

fn put_peer(out: &mut Vec<u8>, peer: &PeerId) {
    let p = peer.to_bytes();
    let p = &p[..p.len().min(MAX_PEER_ID)];
    out.push(p.len() as u8);
    out.extend_from_slice(p);
}

fn put_entry(out: &mut Vec<u8>, e: &Entry) {
    put_peer(out, &e.peer);
    out.extend_from_slice(&e.stamp.to_be_bytes());
    out.extend_from_slice(&e.ttl.to_be_bytes());
    out.extend_from_slice(&e.left.to_be_bytes());
    let s = &e.sealed[..e.sealed.len().min(usize::from(u16::MAX))];
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

impl Replica {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![REPLICA_V1];
        put_namespace(&mut out, &self.namespace);
        put_entry(&mut out, &self.entry);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        too_large(bytes, MAX_REPLICA)?;
        let mut r = Reader { b: bytes };
        match r.u8()? {
            REPLICA_V1 => {}
            t => return Err(WireError::UnknownType(t)),
        }
        let namespace = r.namespace()?;
        let entry = r.entry()?;
        r.end()?;
        Ok(Self { namespace, entry })
    }
}

impl Removal {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![REMOVAL_V1];
        put_namespace(&mut out, &self.namespace);
        put_peer(&mut out, &self.peer);
        out.extend_from_slice(&self.stamp.to_be_bytes());
        out.extend_from_slice(&self.left.to_be_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        too_large(bytes, MAX_REMOVAL)?;
        let mut r = Reader { b: bytes };
        match r.u8()? {
            REMOVAL_V1 => {}
            t => return Err(WireError::UnknownType(t)),
        }
        let namespace = r.namespace()?;
        let peer = r.peer()?;
        let stamp = r.u64()?;
        let left = r.u32()?;
        if left == 0 {
            return Err(WireError::ZeroLeft);
        }
        r.end()?;
        Ok(Self {
            namespace,
            peer,
            stamp,
            left,
        })
    }
}

impl Gossiped {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Entry(r) => r.encode(),
            Self::Removal(r) => r.encode(),
        }
    }

    /// Decodes by the first byte: a [`Replica`] or a [`Removal`].
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        match bytes.first() {
            Some(&REMOVAL_V1) => Removal::decode(bytes).map(Self::Removal),
            _ => Replica::decode(bytes).map(Self::Entry),
        }
    }

    /// The namespace it is about.
    pub fn namespace(&self) -> &str {
        match self {
            Self::Entry(r) => &r.namespace,
            Self::Removal(r) => &r.namespace,
        }
    }
}

impl PullErrorCode {
    fn to_byte(self) -> u8 {
        match self {
            Self::BadRequest => 1,
            Self::Other(b) => b,
        }
    }
    fn from_byte(b: u8) -> Self {
        match b {
            1 => Self::BadRequest,
            b => Self::Other(b),
        }
    }
}

impl frame::Message for PullRequest {
    const MAX: usize = MAX_PULL_REQUEST;
    type Error = WireError;

    fn encode(&self) -> Vec<u8> {
        let mut out = vec![REQ_PULL];
        put_namespace(&mut out, &self.namespace);
        out.extend_from_slice(&self.cursor.to_be_bytes());
        out.extend_from_slice(&self.limit.to_be_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        too_large(bytes, MAX_PULL_REQUEST)?;
        let mut r = Reader { b: bytes };
        match r.u8()? {
            REQ_PULL => {}
            t => return Err(WireError::UnknownType(t)),
        }
        let namespace = r.namespace()?;
        let cursor = r.u64()?;
        let limit = r.u16()?;
        if limit == 0 || limit > MAX_PULL_PAGE {
            return Err(WireError::FieldTooLarge);
        }
        r.end()?;
        Ok(Self {
            namespace,
            cursor,
            limit,
        })
    }
}

impl frame::Message for PullResponse {
    const MAX: usize = MAX_PULL_RESPONSE;
    type Error = WireError;

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Self::Entries {
                entries,
                cursor,
                more,
            } => {
                out.push(RESP_ENTRIES);
                let n = entries.len().min(usize::from(MAX_PULL_PAGE));
                out.extend_from_slice(&(n as u16).to_be_bytes());
                for e in &entries[..n] {
                    put_entry(&mut out, e);
                }
                out.extend_from_slice(&cursor.to_be_bytes());
                out.push(u8::from(*more));
            }
            Self::Error(code) => {
                out.push(RESP_ERROR);
                out.push(code.to_byte());
            }
        }
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        too_large(bytes, MAX_PULL_RESPONSE)?;
        let mut r = Reader { b: bytes };
        let resp = match r.u8()? {
            RESP_ENTRIES => {
                let n = r.u16()?;
                if n > MAX_PULL_PAGE {
                    return Err(WireError::FieldTooLarge);
                }
                let mut entries = Vec::with_capacity(usize::from(n));
                for _ in 0..n {
                    entries.push(r.entry()?);
                }
                let cursor = r.u64()?;
                let more = match r.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(WireError::NonCanonical),
                };
                Self::Entries {
                    entries,
                    cursor,
                    more,
                }
            }
            RESP_ERROR => Self::Error(PullErrorCode::from_byte(r.u8()?)),
            t => return Err(WireError::UnknownType(t)),
        };
        r.end()?;
        Ok(resp)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;
    use frame::Message;

    const NS: &str = "meishi-ev2-815816ad7b39e73b408b1ae9d44faa332cd650ca1b8ac12ef7a5d09468b8f0dd";

    fn peer() -> PeerId {
        // The ed25519 key of 32 bytes 0x01: a fixed peer id for byte snapshots.
        let k = libp2p::identity::Keypair::ed25519_from_bytes([1u8; 32]).unwrap();
        k.public().to_peer_id()
    }

    fn replica() -> Replica {
        Replica {
            namespace: NS.into(),
            entry: Entry {
                peer: peer(),
                stamp: 0x0102_0304_0506_0708,
                ttl: 300,
                left: 299,
                sealed: vec![0xaa; 3],
            },
        }
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn replica_bytes() {
        let b = replica().encode();
        let p = peer().to_bytes();
        assert_eq!(p.len(), 38);
        let want = [
            "01",                // version
            "4b",                // namespace length: 75
            &hex(NS.as_bytes()), // namespace
            "26",                // peer id length: 38
            &hex(&p),            // peer id (identity multihash of the ed25519 key)
            "0102030405060708",  // stamp: origin's store time, Unix microseconds
            "0000012c",          // ttl: 300 s
            "0000012b",          // left: 299 s
            "0003",              // sealed length
            "aaaaaa",            // sealed teaser
        ]
        .concat();
        assert_eq!(hex(&b), want);
        assert_eq!(Replica::decode(&b).unwrap(), replica());
    }

    #[test]
    fn replica_rejections() {
        let good = replica().encode();
        // Every truncation fails; a trailing byte fails.
        for n in 0..good.len() {
            assert!(Replica::decode(&good[..n]).is_err(), "cut at {n}");
        }
        let mut long = good.clone();
        long.push(0);
        assert_eq!(Replica::decode(&long), Err(WireError::Trailing(1)));
        // Unknown version.
        let mut v = good.clone();
        v[0] = 2;
        assert_eq!(Replica::decode(&v), Err(WireError::UnknownType(2)));
        // A namespace of another shape.
        let mut ns = good.clone();
        ns[2] = b'X';
        assert_eq!(Replica::decode(&ns), Err(WireError::BadNamespace));
        // left of 0, or over ttl.
        for left in [0u32, 301] {
            let mut r = replica();
            r.entry.left = left;
            assert_eq!(
                Replica::decode(&r.encode()),
                Err(WireError::BadLeft { ttl: 300, left })
            );
        }
        // A sealed teaser over the cap.
        let mut r = replica();
        r.entry.sealed = vec![0; MAX_SEALED + 1];
        assert!(matches!(
            Replica::decode(&r.encode()),
            Err(WireError::FieldTooLarge | WireError::TooLarge { .. })
        ));
        // The largest replica fits its cap.
        r.entry.sealed = vec![0; MAX_SEALED];
        assert!(r.encode().len() <= MAX_REPLICA);
        assert_eq!(Replica::decode(&r.encode()).unwrap(), r);
        // A peer id that does not parse.
        let mut p = good.clone();
        let at = 2 + NS.len() + 1;
        p[at] = 0xff;
        assert_eq!(Replica::decode(&p), Err(WireError::BadPeer));
    }

    fn removal() -> Removal {
        Removal {
            namespace: NS.into(),
            peer: peer(),
            stamp: 0x0102_0304_0506_0708,
            left: 299,
        }
    }

    #[test]
    fn removal_bytes() {
        let b = removal().encode();
        let want = [
            "02",                     // type: removal
            "4b",                     // namespace length: 75
            &hex(NS.as_bytes()),      // namespace
            "26",                     // peer id length: 38
            &hex(&peer().to_bytes()), // peer id
            "0102030405060708",       // stamp: the origin's clock at the Remove, Unix microseconds
            "0000012b",               // left: remembered for 299 s
        ]
        .concat();
        assert_eq!(hex(&b), want);
        assert_eq!(b.len(), MAX_REMOVAL - (MAX_PEER_ID - 38));
        assert_eq!(Removal::decode(&b).unwrap(), removal());
        assert_eq!(Gossiped::decode(&b).unwrap(), Gossiped::Removal(removal()));
        assert_eq!(
            Gossiped::decode(&replica().encode()).unwrap(),
            Gossiped::Entry(replica())
        );
    }

    #[test]
    fn removal_rejections() {
        let good = removal().encode();
        for n in 0..good.len() {
            assert!(Gossiped::decode(&good[..n]).is_err(), "cut at {n}");
        }
        let mut long = good.clone();
        long.push(0);
        assert_eq!(Gossiped::decode(&long), Err(WireError::Trailing(1)));
        let mut ns = good.clone();
        ns[2] = b'X';
        assert_eq!(Gossiped::decode(&ns), Err(WireError::BadNamespace));
        let zero = Removal {
            left: 0,
            ..removal()
        };
        assert_eq!(Gossiped::decode(&zero.encode()), Err(WireError::ZeroLeft));
        let mut p = good.clone();
        p[2 + NS.len() + 1] = 0xff;
        assert_eq!(Gossiped::decode(&p), Err(WireError::BadPeer));
        // Neither type: unknown.
        let mut t = good;
        t[0] = 3;
        assert_eq!(Gossiped::decode(&t), Err(WireError::UnknownType(3)));
    }

    #[test]
    fn pull_round_trips_and_limits() {
        let req = PullRequest {
            namespace: NS.into(),
            cursor: 7,
            limit: 256,
        };
        let b = req.encode();
        assert_eq!(b.len(), MAX_PULL_REQUEST);
        assert_eq!(PullRequest::decode(&b).unwrap(), req);
        for limit in [0u16, 257] {
            let r = PullRequest {
                limit,
                ..req.clone()
            };
            assert_eq!(
                PullRequest::decode(&r.encode()),
                Err(WireError::FieldTooLarge)
            );
        }
        let full = PullResponse::Entries {
            entries: vec![
                Entry {
                    sealed: vec![0; MAX_SEALED],
                    peer: PeerId::random(),
                    ..replica().entry
                };
                usize::from(MAX_PULL_PAGE)
            ],
            cursor: 9,
            more: true,
        };
        let b = full.encode();
        assert!(b.len() <= MAX_PULL_RESPONSE, "{}", b.len());
        assert_eq!(PullResponse::decode(&b).unwrap(), full);
        let mut bad_more = b.clone();
        *bad_more.last_mut().unwrap() = 2;
        assert_eq!(
            PullResponse::decode(&bad_more),
            Err(WireError::NonCanonical)
        );
        let err = PullResponse::Error(PullErrorCode::BadRequest);
        assert_eq!(hex(&err.encode()), "ff01");
        assert_eq!(PullResponse::decode(&err.encode()).unwrap(), err);
    }

    proptest::proptest! {
        #[test]
        fn replicas_round_trip_and_decode_only_canonical_bytes(
            stamp: u64,
            ttl in 1u32..,
            left_frac in 0.0f64..1.0,
            sealed in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..=MAX_SEALED),
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1_300),
        ) {
            let left = ((f64::from(ttl) * left_frac) as u32).clamp(1, ttl);
            let r = Replica {
                namespace: NS.into(),
                entry: Entry { peer: peer(), stamp, ttl, left, sealed },
            };
            let b = r.encode();
            proptest::prop_assert_eq!(Replica::decode(&b), Ok(r));
            // Whatever decodes encodes to the same bytes; nothing panics.
            if let Ok(d) = Replica::decode(&noise) {
                proptest::prop_assert_eq!(d.encode(), noise.clone());
            }
            if let Ok(d) = Gossiped::decode(&noise) {
                proptest::prop_assert_eq!(d.encode(), noise.clone());
            }
            if let Ok(d) = PullResponse::decode(&noise) {
                proptest::prop_assert_eq!(d.encode(), noise);
            }
        }
    }

    #[test]
    fn caps_as_the_spec_states_them() {
        // proto-spec/relay.md#fleet-limits
        assert_eq!(MAX_REPLICA, 1_213);
        assert_eq!(MAX_REMOVAL, 154);
        assert_eq!(MAX_PULL_REQUEST, 87);
        assert_eq!(MAX_PULL_RESPONSE, 290_828);
    }

    #[test]
    fn topics() {
        assert_eq!(topic_of(NS), format!("meishi/board/1/{NS}"));
        assert_eq!(namespace_of(&topic_of(NS)), Some(NS));
        assert_eq!(namespace_of("meishi/board/1/nope"), None);
        assert_eq!(namespace_of(FLEET_TOPIC), None);
        assert_eq!(namespace_of(NS), None);
    }
}

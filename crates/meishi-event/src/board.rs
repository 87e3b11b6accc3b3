//! The teaser board's messages and their byte codec, shared by the relay (which serves them)
//! and the node (which asks). proto-spec/relay.md#teaser-board
//!
//! A message is one [frame](crate::frame) on its own stream: the node writes a
//! [`BoardRequest`], the relay answers with a [`BoardResponse`]. Decoders are canonical or
//! reject, and bound every length before allocating. Both are [`frame::Message`]s:
//! [`frame::read_message`] reads and decodes one under its size cap, [`frame::write_message`]
//! encodes and frames one.

use bytes::Bytes;

use crate::frame;
use crate::key::{is_namespace, MAX_SEALED, NAMESPACE_LEN};

/// Protocol id of the relay's teaser board. proto-spec/relay.md#teaser-board
pub const BOARD_PROTOCOL: &str = "/meishi/teaser-board/1";
/// Largest encoded request a relay reads.
pub const MAX_BOARD_REQUEST: usize = 1 + 1 + NAMESPACE_LEN + 4 + 2 + MAX_SEALED;
/// Most entries in one `Entries` response.
pub const MAX_BOARD_PAGE: u16 = 1024;
/// Largest peer id in bytes (an identity-multihash ed25519 peer id is 38).
pub const MAX_PEER_ID: usize = 64;
/// Largest encoded response a node reads.
pub const MAX_BOARD_RESPONSE: usize =
    1 + 2 + MAX_BOARD_PAGE as usize * (1 + MAX_PEER_ID + 2 + MAX_SEALED) + 8 + 1;

/// The bytes one entry takes in an `Entries` response.
fn entry_len(peer: &[u8], sealed: &[u8]) -> usize {
    1 + peer.len().min(MAX_PEER_ID) + 2 + sealed.len()
}

const REQ_PUT: u8 = 0x01;
const REQ_GET: u8 = 0x02;
const REQ_REMOVE: u8 = 0x03;
const RESP_STORED: u8 = 0x81;
const RESP_ENTRIES: u8 = 0x82;
const RESP_REMOVED: u8 = 0x83;
const RESP_ERROR: u8 = 0xff;

/// A request to the teaser board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoardRequest {
    /// Post (or replace) my sealed teaser under `namespace` for `ttl` seconds.
    Put {
        namespace: String,
        ttl: u32,
        sealed: Vec<u8>,
    },
    /// Entries under `namespace` posted after `cursor` (0: from the start), at most `limit`.
    Get {
        namespace: String,
        cursor: u64,
        limit: u16,
    },
    /// Withdraw my teaser from `namespace`.
    Remove { namespace: String },
}

/// One board entry: who posted it (the authenticated peer id, as bytes) and the sealed blob.
///
/// Held as the bytes an `Entries` response lists it with (`plen peer len:u16 sealed`), in one
/// shared buffer: a relay encodes an entry once, when it is written, and answers every reader
/// of the board with those same bytes, neither copied nor encoded again per answer.
#[derive(Clone, PartialEq, Eq)]
pub struct BoardEntry {
    wire: Bytes,
}

impl BoardEntry {
    /// The entry of `peer` (cut to [`MAX_PEER_ID`] bytes) with `sealed` (cut to 65,535 bytes);
    /// a peer that refuses the cut bytes is what a writer of overlong fields gets.
    pub fn new(peer: &[u8], sealed: &[u8]) -> Self {
        let p = &peer[..peer.len().min(MAX_PEER_ID)];
        let mut wire = Vec::with_capacity(entry_len(p, sealed));
        wire.push(p.len() as u8);
        wire.extend_from_slice(p);
        put_blob(&mut wire, sealed);
        Self { wire: wire.into() }
    }

    /// The writer's peer id, as bytes.
    pub fn peer(&self) -> &[u8] {
        &self.wire[1..self.sealed_at() - 2]
    }

    /// The sealed teaser.
    pub fn sealed(&self) -> &[u8] {
        &self.wire[self.sealed_at()..]
    }

    /// The bytes this entry takes in an `Entries` response.
    pub fn wire(&self) -> &Bytes {
        &self.wire
    }

    fn sealed_at(&self) -> usize {
        1 + usize::from(self.wire[0]) + 2
    }

    /// `entries` copied into one buffer, each returned as its slice of it: a page kept to be
    /// answered again is read from one run of memory and shares one reference count, instead
    /// of one allocation and one count per entry.
    pub fn gathered(entries: &[BoardEntry]) -> Vec<BoardEntry> {
        let len = entries.iter().map(|e| e.wire.len()).sum();
        let mut buf = Vec::with_capacity(len);
        for e in entries {
            buf.extend_from_slice(&e.wire);
        }
        let buf = Bytes::from(buf);
        let mut at = 0;
        entries
            .iter()
            .map(|e| {
                let end = at + e.wire.len();
                let wire = buf.slice(at..end);
                at = end;
                Self { wire }
            })
            .collect()
    }
}

impl std::fmt::Debug for BoardEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoardEntry")
            .field(
                "peer",
                &self
                    .peer()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>(),
            )
            .field("sealed_len", &self.sealed().len())
            .finish()
    }
}

/// Why the board refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BoardErrorCode {
    /// Malformed request or namespace not of the derived shape.
    BadRequest,
    /// TTL outside the relay's bounds.
    BadTtl,
    /// A per-peer, per-namespace or total cap is reached; retry later.
    Full,
    /// Too many requests from this peer; retry later.
    RateLimited,
    /// A code this version does not know.
    Other(u8),
}

impl BoardErrorCode {
    fn to_byte(self) -> u8 {
        match self {
            Self::BadRequest => 1,
            Self::BadTtl => 2,
            Self::Full => 3,
            Self::RateLimited => 4,
            Self::Other(b) => b,
        }
    }
    fn from_byte(b: u8) -> Self {
        match b {
            1 => Self::BadRequest,
            2 => Self::BadTtl,
            3 => Self::Full,
            4 => Self::RateLimited,
            b => Self::Other(b),
        }
    }
}

/// A teaser board response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BoardResponse {
    /// The teaser is stored for `ttl` seconds.
    Stored { ttl: u32 },
    /// A page of entries in posting order; `cursor` is the position to ask from next, `more`
    /// tells whether entries remain after this page.
    Entries {
        entries: Vec<BoardEntry>,
        cursor: u64,
        more: bool,
    },
    /// The teaser was withdrawn (or there was none).
    Removed,
    /// The request was refused.
    Error(BoardErrorCode),
}

/// Why board bytes were rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BoardDecodeError {
    #[error("board message of {len} bytes exceeds {max}")]
    TooLarge { len: usize, max: usize },
    #[error("board message truncated")]
    Truncated,
    #[error("unknown board message type {0:#04x}")]
    UnknownType(u8),
    #[error("board namespace is not a derived event namespace")]
    BadNamespace,
    #[error("board field exceeds its limit")]
    FieldTooLarge,
    #[error("board message has {0} trailing bytes")]
    Trailing(usize),
    #[error("board message is not canonical")]
    NonCanonical,
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BoardDecodeError> {
        if self.b.len() < n {
            return Err(BoardDecodeError::Truncated);
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8, BoardDecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, BoardDecodeError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, BoardDecodeError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64, BoardDecodeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
    fn namespace(&mut self) -> Result<String, BoardDecodeError> {
        let n = usize::from(self.u8()?);
        let s = std::str::from_utf8(self.take(n)?).map_err(|_| BoardDecodeError::BadNamespace)?;
        if !is_namespace(s) {
            return Err(BoardDecodeError::BadNamespace);
        }
        Ok(s.to_owned())
    }
    fn sealed(&mut self) -> Result<&'a [u8], BoardDecodeError> {
        let n = usize::from(self.u16()?);
        if n > MAX_SEALED {
            return Err(BoardDecodeError::FieldTooLarge);
        }
        self.take(n)
    }
    fn end(self) -> Result<(), BoardDecodeError> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(BoardDecodeError::Trailing(self.b.len()))
        }
    }
}

fn put_namespace(out: &mut Vec<u8>, ns: &str) {
    // Namespaces are checked on decode; an overlong one is cut here so encoding cannot panic
    // and the peer refuses it.
    let b = &ns.as_bytes()[..ns.len().min(255)];
    out.push(b.len() as u8);
    out.extend_from_slice(b);
}

fn put_blob(out: &mut Vec<u8>, blob: &[u8]) {
    let b = &blob[..blob.len().min(usize::from(u16::MAX))];
    out.extend_from_slice(&(b.len() as u16).to_be_bytes());
    out.extend_from_slice(b);
}

impl BoardRequest {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Self::Put {
                namespace,
                ttl,
                sealed,
            } => {
                out.push(REQ_PUT);
                put_namespace(&mut out, namespace);
                out.extend_from_slice(&ttl.to_be_bytes());
                put_blob(&mut out, sealed);
            }
            Self::Get {
                namespace,
                cursor,
                limit,
            } => {
                out.push(REQ_GET);
                put_namespace(&mut out, namespace);
                out.extend_from_slice(&cursor.to_be_bytes());
                out.extend_from_slice(&limit.to_be_bytes());
            }
            Self::Remove { namespace } => {
                out.push(REQ_REMOVE);
                put_namespace(&mut out, namespace);
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, BoardDecodeError> {
        if bytes.len() > MAX_BOARD_REQUEST {
            return Err(BoardDecodeError::TooLarge {
                len: bytes.len(),
                max: MAX_BOARD_REQUEST,
            });
        }
        let mut r = Reader { b: bytes };
        let req = match r.u8()? {
            REQ_PUT => Self::Put {
                namespace: r.namespace()?,
                ttl: r.u32()?,
                sealed: r.sealed()?.to_vec(),
            },
            REQ_GET => {
                let namespace = r.namespace()?;
                let cursor = r.u64()?;
                let limit = r.u16()?;
                if limit == 0 || limit > MAX_BOARD_PAGE {
                    return Err(BoardDecodeError::FieldTooLarge);
                }
                Self::Get {
                    namespace,
                    cursor,
                    limit,
                }
            }
            REQ_REMOVE => Self::Remove {
                namespace: r.namespace()?,
            },
            t => return Err(BoardDecodeError::UnknownType(t)),
        };
        r.end()?;
        Ok(req)
    }
}

impl BoardResponse {
    pub fn encode(&self) -> Vec<u8> {
        frame::Message::split(self).concat()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, BoardDecodeError> {
        if bytes.len() > MAX_BOARD_RESPONSE {
            return Err(BoardDecodeError::TooLarge {
                len: bytes.len(),
                max: MAX_BOARD_RESPONSE,
            });
        }
        let mut r = Reader { b: bytes };
        let resp = match r.u8()? {
            RESP_STORED => Self::Stored { ttl: r.u32()? },
            RESP_ENTRIES => {
                let n = r.u16()?;
                if n > MAX_BOARD_PAGE {
                    return Err(BoardDecodeError::FieldTooLarge);
                }
                let mut entries = Vec::with_capacity(usize::from(n));
                for _ in 0..n {
                    let plen = usize::from(r.u8()?);
                    if plen == 0 || plen > MAX_PEER_ID {
                        return Err(BoardDecodeError::FieldTooLarge);
                    }
                    let peer = r.take(plen)?;
                    entries.push(BoardEntry::new(peer, r.sealed()?));
                }
                let cursor = r.u64()?;
                let more = match r.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(BoardDecodeError::NonCanonical),
                };
                Self::Entries {
                    entries,
                    cursor,
                    more,
                }
            }
            RESP_REMOVED => Self::Removed,
            RESP_ERROR => Self::Error(BoardErrorCode::from_byte(r.u8()?)),
            t => return Err(BoardDecodeError::UnknownType(t)),
        };
        r.end()?;
        Ok(resp)
    }
}

impl frame::Message for BoardRequest {
    const MAX: usize = MAX_BOARD_REQUEST;
    type Error = BoardDecodeError;
    fn encode(&self) -> Vec<u8> {
        BoardRequest::encode(self)
    }
    fn decode(bytes: &[u8]) -> Result<Self, BoardDecodeError> {
        BoardRequest::decode(bytes)
    }
}

impl frame::Message for BoardResponse {
    const MAX: usize = MAX_BOARD_RESPONSE;
    type Error = BoardDecodeError;
    fn encode(&self) -> Vec<u8> {
        BoardResponse::encode(self)
    }
    /// A page is its header, the bytes each entry already holds, and its trailer: written out
    /// as they are, never gathered in one buffer.
    fn split(&self) -> frame::Split<'_> {
        let mut head = Vec::new();
        match self {
            Self::Stored { ttl } => {
                head.push(RESP_STORED);
                head.extend_from_slice(&ttl.to_be_bytes());
            }
            Self::Entries {
                entries,
                cursor,
                more,
            } => {
                let n = entries.len().min(usize::from(MAX_BOARD_PAGE));
                head.push(RESP_ENTRIES);
                head.extend_from_slice(&(n as u16).to_be_bytes());
                let mut tail = Vec::with_capacity(9);
                tail.extend_from_slice(&cursor.to_be_bytes());
                tail.push(u8::from(*more));
                return frame::Split {
                    head,
                    body: entries[..n].iter().map(|e| &e.wire[..]).collect(),
                    tail,
                };
            }
            Self::Removed => head.push(RESP_REMOVED),
            Self::Error(code) => {
                head.push(RESP_ERROR);
                head.push(code.to_byte());
            }
        }
        frame::Split::whole(head)
    }
    fn decode(bytes: &[u8]) -> Result<Self, BoardDecodeError> {
        BoardResponse::decode(bytes)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;
    use crate::key::namespace;

    /// One namespace for the board tests, derived once (a derivation takes a quarter second).
    fn ns() -> String {
        static NS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        NS.get_or_init(|| namespace("board").unwrap()).clone()
    }

    #[test]
    fn gathered_entries_are_the_same_entries_in_one_buffer() {
        let entries: Vec<BoardEntry> = (0..5u8)
            .map(|n| BoardEntry::new(&[n; 38], &vec![n; 10 + usize::from(n)]))
            .collect();
        let gathered = BoardEntry::gathered(&entries);
        assert_eq!(gathered, entries);
        for w in gathered.windows(2) {
            let end = w[0].wire().as_ptr() as usize + w[0].wire().len();
            assert_eq!(end, w[1].wire().as_ptr() as usize, "one after the other");
        }
        let page = |entries: Vec<BoardEntry>| BoardResponse::Entries {
            entries,
            cursor: 9,
            more: true,
        };
        assert_eq!(page(gathered).encode(), page(entries).encode());
        assert!(BoardEntry::gathered(&[]).is_empty());
    }

    #[test]
    fn board_messages_round_trip() {
        let reqs = [
            BoardRequest::Put {
                namespace: ns(),
                ttl: 600,
                sealed: vec![1; MAX_SEALED],
            },
            BoardRequest::Get {
                namespace: ns(),
                cursor: 42,
                limit: MAX_BOARD_PAGE,
            },
            BoardRequest::Remove { namespace: ns() },
        ];
        for r in reqs {
            let b = r.encode();
            assert!(b.len() <= MAX_BOARD_REQUEST);
            assert_eq!(BoardRequest::decode(&b).unwrap(), r);
            for cut in 0..b.len() {
                assert!(BoardRequest::decode(&b[..cut]).is_err());
            }
            let mut t = b.clone();
            t.push(0);
            let want = if t.len() > MAX_BOARD_REQUEST {
                BoardDecodeError::TooLarge {
                    len: t.len(),
                    max: MAX_BOARD_REQUEST,
                }
            } else {
                BoardDecodeError::Trailing(1)
            };
            assert_eq!(BoardRequest::decode(&t), Err(want));
        }
        let full = BoardResponse::Entries {
            entries: (0..MAX_BOARD_PAGE)
                .map(|i| BoardEntry::new(&[i as u8; MAX_PEER_ID], &[7u8; MAX_SEALED]))
                .collect(),
            cursor: 9,
            more: true,
        };
        let resps = [
            BoardResponse::Stored { ttl: 60 },
            BoardResponse::Removed,
            BoardResponse::Error(BoardErrorCode::Full),
            BoardResponse::Entries {
                entries: vec![],
                cursor: 0,
                more: false,
            },
            full,
        ];
        for r in resps {
            let b = r.encode();
            assert!(b.len() <= MAX_BOARD_RESPONSE, "{} bytes", b.len());
            assert_eq!(BoardResponse::decode(&b).unwrap(), r);
            for cut in 0..b.len().min(300) {
                assert!(BoardResponse::decode(&b[..cut]).is_err());
            }
        }
    }

    #[test]
    fn framed_messages_round_trip_under_their_caps() {
        use futures::executor::block_on;
        use futures::io::Cursor;
        let req = BoardRequest::Remove { namespace: ns() };
        let mut wire = Cursor::new(Vec::new());
        block_on(frame::write_message(&mut wire, &req)).unwrap();
        // varint(77) || 03 || 4b || namespace
        assert_eq!(&wire.get_ref()[..3], &[77, REQ_REMOVE, 75]);
        wire.set_position(0);
        assert_eq!(
            block_on(frame::read_message::<BoardRequest, _>(&mut wire)).unwrap(),
            req
        );
        // A response-sized frame is refused as a request before it is read.
        let big = BoardResponse::Entries {
            entries: vec![BoardEntry::new(&[1; 38], &[2u8; MAX_SEALED]); 2],
            cursor: 1,
            more: false,
        };
        let mut wire = Cursor::new(Vec::new());
        block_on(frame::write_message(&mut wire, &big)).unwrap();
        wire.set_position(0);
        assert_eq!(
            block_on(frame::read_message::<BoardResponse, _>(&mut wire)).unwrap(),
            big
        );
        wire.set_position(0);
        let e = block_on(frame::read_message::<BoardRequest, _>(&mut wire)).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        // A frame that is not a message is refused with the decoder's reason.
        let mut wire = Cursor::new(vec![1, 0x09]);
        let e = block_on(frame::read_message::<BoardRequest, _>(&mut wire)).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert_eq!(e.to_string(), BoardDecodeError::UnknownType(9).to_string());
    }

    #[test]
    fn limits_match_the_spec() {
        // proto-spec/relay.md#teaser-board states these numbers.
        assert_eq!(NAMESPACE_LEN, 75);
        assert_eq!(MAX_SEALED, 1053);
        assert_eq!(MAX_BOARD_REQUEST, 1136);
        assert_eq!(MAX_BOARD_RESPONSE, 1_146_892);
    }

    #[test]
    fn board_rejects_malformed() {
        // Raw namespace (not derived) is refused: the board is not general storage.
        let mut b = vec![REQ_REMOVE, 5];
        b.extend_from_slice(b"hello");
        assert_eq!(
            BoardRequest::decode(&b),
            Err(BoardDecodeError::BadNamespace)
        );
        assert_eq!(
            BoardRequest::decode(&[0x09]),
            Err(BoardDecodeError::UnknownType(9))
        );
        assert_eq!(BoardRequest::decode(&[]), Err(BoardDecodeError::Truncated));
        // limit 0 and over the page cap.
        for limit in [0, MAX_BOARD_PAGE + 1] {
            let mut g = BoardRequest::Get {
                namespace: ns(),
                cursor: 0,
                limit: 1,
            }
            .encode();
            let n = g.len();
            g[n - 2..].copy_from_slice(&limit.to_be_bytes());
            assert_eq!(
                BoardRequest::decode(&g),
                Err(BoardDecodeError::FieldTooLarge)
            );
        }
        // Oversized blob length.
        let mut p = BoardRequest::Put {
            namespace: ns(),
            ttl: 1,
            sealed: vec![],
        }
        .encode();
        let n = p.len();
        p[n - 2..].copy_from_slice(&((MAX_SEALED + 1) as u16).to_be_bytes());
        assert_eq!(
            BoardRequest::decode(&p),
            Err(BoardDecodeError::FieldTooLarge)
        );
        assert!(matches!(
            BoardRequest::decode(&vec![REQ_PUT; MAX_BOARD_REQUEST + 1]),
            Err(BoardDecodeError::TooLarge { .. })
        ));
        // `more` must be 0 or 1; a zero-length peer id is refused.
        let mut e = BoardResponse::Entries {
            entries: vec![],
            cursor: 0,
            more: false,
        }
        .encode();
        let n = e.len();
        e[n - 1] = 2;
        assert_eq!(
            BoardResponse::decode(&e),
            Err(BoardDecodeError::NonCanonical)
        );
        let z = [RESP_ENTRIES, 0, 1, 0, 0, 0];
        assert_eq!(
            BoardResponse::decode(&z),
            Err(BoardDecodeError::FieldTooLarge)
        );
        // Unknown error codes survive a round trip.
        assert_eq!(
            BoardResponse::decode(&[RESP_ERROR, 77]).unwrap(),
            BoardResponse::Error(BoardErrorCode::Other(77))
        );
    }
}

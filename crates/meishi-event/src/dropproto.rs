//! The relay's drop protocol: the messages a sender and a recipient exchange with a relay that
//! keeps sealed [drop](crate::drop) messages, and their byte codec, shared by the relay (which
//! serves them) and the node (which asks). proto-spec/drop.md#relay-protocol
//!
//! A message is one [frame] on its own stream, as for card slots: the client
//! writes a [`DropRequest`], the relay answers with a [`DropResponse`]. Decoders are canonical
//! or reject, and bound every length and count before allocating. The codec checks only the
//! message layout: sealed messages inside are opaque bytes here, and the relay checks their
//! framing with [`check_drop`](crate::check_drop) (one that fails is refused with
//! [`DropRefusal::Malformed`], not dropped with the stream).
//!
//! ```
//! use meishi_event::{DropId, DropRequest, DropResponse};
//!
//! let get = DropRequest::Get { ids: vec![DropId([7; 32])] };
//! let bytes = get.encode();
//! assert_eq!(&bytes[..2], &[0x02, 0x01]); // Get, one box id
//! assert_eq!(DropRequest::decode(&bytes).unwrap(), get);
//! assert_eq!(DropResponse::decode(&[0x83, 0, 0, 0, 2]).unwrap(),
//!            DropResponse::AckOk { deleted: 2 });
//! ```

use crate::drop::{DropId, MAX_DROP_SEALED};
use crate::frame;

/// Protocol id of the relay's drop service. proto-spec/drop.md#relay-protocol
pub const DROP_PROTOCOL: &str = "/meishi/drop/1";
/// Most box ids in one Get, and most digests in one Ack. proto-spec/drop.md#limits
pub const MAX_DROP_GET: usize = 64;
/// Most messages in one `Messages` response. proto-spec/drop.md#limits
pub const MAX_DROP_PAGE: usize = 64;
/// Largest encoded request a relay reads: a Put of the largest sealed message (8,300 bytes; a
/// full Get is 2,050, a full Ack 2,082). proto-spec/drop.md#limits
pub const MAX_DROP_REQUEST: usize = 1 + 32 + 2 + MAX_DROP_SEALED;
/// Largest encoded response a client reads (256 KiB): at least 31 of the largest messages. A
/// relay answers a Get with the oldest messages that fit and says whether more wait.
/// proto-spec/drop.md#limits
pub const MAX_DROP_RESPONSE: usize = 256 * 1024;
/// Bytes of a `Messages` response before its first message: type, `more`, count.
pub const DROP_MESSAGES_HEAD: usize = 3;
/// Bytes one message takes in a `Messages` response besides its sealed bytes: id and length.
pub const DROP_MESSAGE_OVERHEAD: usize = 32 + 2;

const REQ_PUT: u8 = 0x01;
const REQ_GET: u8 = 0x02;
const REQ_ACK: u8 = 0x03;
const RESP_PUT_OK: u8 = 0x81;
const RESP_MESSAGES: u8 = 0x82;
const RESP_ACK_OK: u8 = 0x83;
const RESP_REFUSED: u8 = 0xff;

/// A request to a relay's drop service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropRequest {
    /// Keep this sealed message (1 to [`MAX_DROP_SEALED`] bytes) in box `id`: a sender leaves
    /// a message.
    Put { id: DropId, sealed: Vec<u8> },
    /// The messages waiting in these boxes: 1 to [`MAX_DROP_GET`] distinct ids. The recipient
    /// lists its boxes.
    Get { ids: Vec<DropId> },
    /// Delete these messages of box `id`, named by the SHA-256 of their sealed bytes
    /// ([`drop_digest`](crate::drop_digest)): 1 to [`MAX_DROP_GET`] distinct digests. The
    /// recipient acknowledges what it stored.
    Ack { id: DropId, digests: Vec<[u8; 32]> },
}

/// A relay's answer to a [`DropRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropResponse {
    /// The message is kept (or already was, byte for byte, in that box).
    PutOk,
    /// The unexpired messages of the boxes asked, oldest first, each with its box id and
    /// exactly the bytes the sender put; at most [`MAX_DROP_PAGE`] and what fits in
    /// [`MAX_DROP_RESPONSE`]. `more`: other messages wait in those boxes (acknowledge these,
    /// then get again).
    Messages {
        messages: Vec<(DropId, Vec<u8>)>,
        more: bool,
    },
    /// An Ack was done: `deleted` of its digests named a message the box held.
    AckOk { deleted: u32 },
    /// The request was refused.
    Refused(DropRefusal),
}

/// Why a relay refused a drop request. proto-spec/drop.md#relay-protocol
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropRefusal {
    /// The sealed message does not pass the framing checks of proto-spec/drop.md#opening
    /// (version, length, ephemeral key encoding).
    Malformed,
    /// The sealed message is longer than [`MAX_DROP_SEALED`].
    TooLarge,
    /// The box holds as many messages as the relay keeps per box; the recipient has to
    /// collect them first.
    BoxFull,
    /// The sending host (an IPv4 address or an IPv6 /64) has as many messages waiting as the
    /// relay keeps per host; retry later.
    HostFull,
    /// The relay is full (its total, or the site's share); retry later or elsewhere.
    Full,
    /// Too many requests from this peer or host; retry later.
    RateLimited,
    /// A code this version does not know.
    Other(u8),
}

impl DropRefusal {
    /// The code on the wire.
    pub fn to_byte(self) -> u8 {
        match self {
            Self::Malformed => 1,
            Self::TooLarge => 2,
            Self::BoxFull => 3,
            Self::HostFull => 4,
            Self::Full => 5,
            Self::RateLimited => 6,
            Self::Other(b) => b,
        }
    }

    /// The refusal a code names; unknown codes are kept as [`DropRefusal::Other`].
    pub fn from_byte(b: u8) -> Self {
        match b {
            1 => Self::Malformed,
            2 => Self::TooLarge,
            3 => Self::BoxFull,
            4 => Self::HostFull,
            5 => Self::Full,
            6 => Self::RateLimited,
            b => Self::Other(b),
        }
    }
}

/// Why drop message bytes were rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DropMessageError {
    #[error("drop message of {len} bytes exceeds {max}")]
    TooLarge { len: usize, max: usize },
    #[error("drop message truncated")]
    Truncated,
    #[error("unknown drop message type {0:#04x}")]
    UnknownType(u8),
    #[error("a sealed message of {0} bytes in a drop message; 1 to {MAX_DROP_SEALED} are allowed")]
    SealedSize(usize),
    #[error("{0} box ids or digests in one request; 1 to {MAX_DROP_GET} are allowed")]
    Count(usize),
    #[error("{0} messages in one response; at most {MAX_DROP_PAGE} are allowed")]
    PageSize(usize),
    #[error("a box id is asked twice in one Get")]
    DuplicateId,
    #[error("a digest is given twice in one Ack")]
    DuplicateDigest,
    #[error("the `more` flag is {0:#04x}; it must be 0 or 1")]
    BadFlag(u8),
    #[error("a response says more messages wait but carries none")]
    MoreWithoutMessages,
    #[error("drop message has {0} trailing bytes")]
    Trailing(usize),
}

impl DropMessageError {
    /// The error's name in proto-spec/drop.md#relay-protocol and in the `expect:` line of the
    /// message vectors (proto-spec/vectors/drop/request-…, response-…).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too-large",
            Self::Truncated => "truncated",
            Self::UnknownType(_) => "unknown-type",
            Self::SealedSize(_) => "sealed-size",
            Self::Count(_) => "bad-count",
            Self::PageSize(_) => "page-size",
            Self::DuplicateId => "duplicate-id",
            Self::DuplicateDigest => "duplicate-digest",
            Self::BadFlag(_) => "bad-flag",
            Self::MoreWithoutMessages => "more-without-messages",
            Self::Trailing(_) => "trailing-bytes",
        }
    }
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DropMessageError> {
        if self.b.len() < n {
            return Err(DropMessageError::Truncated);
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8, DropMessageError> {
        Ok(self.take(1)?[0])
    }
    fn bytes32(&mut self) -> Result<[u8; 32], DropMessageError> {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.take(32)?);
        Ok(out)
    }
    fn sealed(&mut self) -> Result<Vec<u8>, DropMessageError> {
        let s = self.take(2)?;
        let n = usize::from(u16::from_be_bytes([s[0], s[1]]));
        if n == 0 || n > MAX_DROP_SEALED {
            return Err(DropMessageError::SealedSize(n));
        }
        Ok(self.take(n)?.to_vec())
    }
    /// `n:u8` then `n` distinct 32-byte values, 1 to [`MAX_DROP_GET`] of them.
    fn distinct(&mut self, duplicate: DropMessageError) -> Result<Vec<[u8; 32]>, DropMessageError> {
        let n = usize::from(self.u8()?);
        if n == 0 || n > MAX_DROP_GET {
            return Err(DropMessageError::Count(n));
        }
        let mut out: Vec<[u8; 32]> = Vec::with_capacity(n);
        for _ in 0..n {
            let v = self.bytes32()?;
            // At most 64 values: a linear scan is cheaper than a set.
            if out.contains(&v) {
                return Err(duplicate);
            }
            out.push(v);
        }
        Ok(out)
    }
    fn end(self) -> Result<(), DropMessageError> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(DropMessageError::Trailing(self.b.len()))
        }
    }
}

/// Writes `len:u16 sealed`. An oversized message is written with its true length when it fits
/// in a u16 (the peer refuses it); past that it is cut, so encoding cannot panic.
fn put_sealed(out: &mut Vec<u8>, sealed: &[u8]) {
    let s = &sealed[..sealed.len().min(usize::from(u16::MAX))];
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

/// Writes `n:u8` and the first `n` values. Counts are checked on decode; an overlong list is
/// cut so encoding cannot panic, and the peer refuses it only if it is over the cap after that.
fn put_list<'a>(out: &mut Vec<u8>, values: impl ExactSizeIterator<Item = &'a [u8; 32]>) {
    let n = values.len().min(usize::from(u8::MAX));
    out.push(n as u8);
    for v in values.take(n) {
        out.extend_from_slice(v);
    }
}

impl DropRequest {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Self::Put { id, sealed } => {
                out.push(REQ_PUT);
                out.extend_from_slice(&id.0);
                put_sealed(&mut out, sealed);
            }
            Self::Get { ids } => {
                out.push(REQ_GET);
                put_list(&mut out, ids.iter().map(|id| &id.0));
            }
            Self::Ack { id, digests } => {
                out.push(REQ_ACK);
                out.extend_from_slice(&id.0);
                put_list(&mut out, digests.iter());
            }
        }
        out
    }

    /// Decodes a request. Rejects unknown types, a sealed message of 0 or over
    /// [`MAX_DROP_SEALED`] bytes, a Get or Ack of 0 or over [`MAX_DROP_GET`] ids or digests or
    /// with one twice, and trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, DropMessageError> {
        if bytes.len() > MAX_DROP_REQUEST {
            return Err(DropMessageError::TooLarge {
                len: bytes.len(),
                max: MAX_DROP_REQUEST,
            });
        }
        let mut r = Reader { b: bytes };
        let req = match r.u8()? {
            REQ_PUT => Self::Put {
                id: DropId(r.bytes32()?),
                sealed: r.sealed()?,
            },
            REQ_GET => Self::Get {
                ids: r
                    .distinct(DropMessageError::DuplicateId)?
                    .into_iter()
                    .map(DropId)
                    .collect(),
            },
            REQ_ACK => Self::Ack {
                id: DropId(r.bytes32()?),
                digests: r.distinct(DropMessageError::DuplicateDigest)?,
            },
            t => return Err(DropMessageError::UnknownType(t)),
        };
        r.end()?;
        Ok(req)
    }
}

impl DropResponse {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Self::PutOk => out.push(RESP_PUT_OK),
            Self::Messages { messages, more } => {
                out.push(RESP_MESSAGES);
                out.push(u8::from(*more));
                let n = messages.len().min(MAX_DROP_PAGE);
                out.push(n as u8);
                for (id, sealed) in &messages[..n] {
                    out.extend_from_slice(&id.0);
                    put_sealed(&mut out, sealed);
                }
            }
            Self::AckOk { deleted } => {
                out.push(RESP_ACK_OK);
                out.extend_from_slice(&deleted.to_be_bytes());
            }
            Self::Refused(reason) => {
                out.push(RESP_REFUSED);
                out.push(reason.to_byte());
            }
        }
        out
    }

    /// Decodes a response. Rejects unknown types, a `more` flag other than 0 or 1 (or 1 with no
    /// message), more than [`MAX_DROP_PAGE`] messages, a sealed message of 0 or over
    /// [`MAX_DROP_SEALED`] bytes and trailing bytes. Sealed messages are not checked here: the
    /// recipient opens each.
    pub fn decode(bytes: &[u8]) -> Result<Self, DropMessageError> {
        if bytes.len() > MAX_DROP_RESPONSE {
            return Err(DropMessageError::TooLarge {
                len: bytes.len(),
                max: MAX_DROP_RESPONSE,
            });
        }
        let mut r = Reader { b: bytes };
        let resp = match r.u8()? {
            RESP_PUT_OK => Self::PutOk,
            RESP_MESSAGES => {
                let more = match r.u8()? {
                    0 => false,
                    1 => true,
                    b => return Err(DropMessageError::BadFlag(b)),
                };
                let n = usize::from(r.u8()?);
                if n > MAX_DROP_PAGE {
                    return Err(DropMessageError::PageSize(n));
                }
                if more && n == 0 {
                    return Err(DropMessageError::MoreWithoutMessages);
                }
                let mut messages = Vec::with_capacity(n);
                for _ in 0..n {
                    let id = DropId(r.bytes32()?);
                    messages.push((id, r.sealed()?));
                }
                Self::Messages { messages, more }
            }
            RESP_ACK_OK => {
                let mut d = [0u8; 4];
                d.copy_from_slice(r.take(4)?);
                Self::AckOk {
                    deleted: u32::from_be_bytes(d),
                }
            }
            RESP_REFUSED => Self::Refused(DropRefusal::from_byte(r.u8()?)),
            t => return Err(DropMessageError::UnknownType(t)),
        };
        r.end()?;
        Ok(resp)
    }
}

impl frame::Message for DropRequest {
    const MAX: usize = MAX_DROP_REQUEST;
    type Error = DropMessageError;
    fn encode(&self) -> Vec<u8> {
        DropRequest::encode(self)
    }
    fn decode(bytes: &[u8]) -> Result<Self, DropMessageError> {
        DropRequest::decode(bytes)
    }
}

impl frame::Message for DropResponse {
    const MAX: usize = MAX_DROP_RESPONSE;
    type Error = DropMessageError;
    fn encode(&self) -> Vec<u8> {
        DropResponse::encode(self)
    }
    fn decode(bytes: &[u8]) -> Result<Self, DropMessageError> {
        DropResponse::decode(bytes)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use futures::io::Cursor;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        data_encoding::HEXLOWER.decode(s.as_bytes()).unwrap()
    }

    fn check_request(req: DropRequest, want: &str) {
        let bytes = req.encode();
        assert_eq!(
            data_encoding::HEXLOWER.encode(&bytes),
            want.replace(' ', "")
        );
        assert_eq!(DropRequest::decode(&bytes).unwrap(), req);
    }

    fn check_response(resp: DropResponse, want: &str) {
        let bytes = resp.encode();
        assert_eq!(
            data_encoding::HEXLOWER.encode(&bytes),
            want.replace(' ', "")
        );
        assert_eq!(DropResponse::decode(&bytes).unwrap(), resp);
    }

    #[test]
    fn exact_bytes() {
        let (a, b) = ("aa".repeat(32), "bb".repeat(32));
        // Put: 01, box id (32 bytes), sealed length 3 (big-endian u16), the sealed bytes.
        check_request(
            DropRequest::Put {
                id: DropId([0xaa; 32]),
                sealed: vec![0x01, 0x02, 0x03],
            },
            &format!("01 {a} 0003 010203"),
        );
        // Get: 02, two ids.
        check_request(
            DropRequest::Get {
                ids: vec![DropId([0xaa; 32]), DropId([0xbb; 32])],
            },
            &format!("02 02 {a} {b}"),
        );
        // Ack: 03, box id, one digest.
        check_request(
            DropRequest::Ack {
                id: DropId([0xaa; 32]),
                digests: vec![[0xbb; 32]],
            },
            &format!("03 {a} 01 {b}"),
        );
        // PutOk: 81 alone.
        check_response(DropResponse::PutOk, "81");
        // Messages: 82, more (0 or 1), count, then (id, length, sealed) for each.
        check_response(
            DropResponse::Messages {
                messages: vec![
                    (DropId([0xaa; 32]), vec![0x01]),
                    (DropId([0xbb; 32]), vec![2, 3]),
                ],
                more: true,
            },
            &format!("82 01 02 {a} 0001 01 {b} 0002 0203"),
        );
        check_response(
            DropResponse::Messages {
                messages: vec![],
                more: false,
            },
            "82 00 00",
        );
        // AckOk: 83, deleted as a big-endian u32.
        check_response(DropResponse::AckOk { deleted: 258 }, "83 00000102");
        // Refused: ff, reason code.
        for (reason, code) in [
            (DropRefusal::Malformed, "01"),
            (DropRefusal::TooLarge, "02"),
            (DropRefusal::BoxFull, "03"),
            (DropRefusal::HostFull, "04"),
            (DropRefusal::Full, "05"),
            (DropRefusal::RateLimited, "06"),
            (DropRefusal::Other(0x42), "42"),
        ] {
            check_response(DropResponse::Refused(reason), &format!("ff {code}"));
        }
    }

    /// Every relay protocol vector of proto-spec/vectors/drop (request-…, response-…).
    #[test]
    fn committed_vectors() {
        use meishi_testkit::{unhex, vectors};
        let mut read = 0;
        for (name, text) in vectors::read("drop") {
            let h = vectors::parse(&text);
            let kind = |r: Result<Vec<u8>, DropMessageError>, bytes: &[u8]| match r {
                Ok(encoded) => {
                    assert_eq!(encoded, bytes, "{name}: re-encodes to its bytes");
                    "success"
                }
                Err(e) => e.kind(),
            };
            let got = if let Some(bytes) = h.get("request") {
                let bytes = unhex(bytes);
                kind(DropRequest::decode(&bytes).map(|r| r.encode()), &bytes)
            } else if let Some(bytes) = h.get("response") {
                let bytes = unhex(bytes);
                kind(DropResponse::decode(&bytes).map(|r| r.encode()), &bytes)
            } else {
                continue;
            };
            assert_eq!(got, h["expect"], "{name}");
            read += 1;
        }
        assert!(read > 40, "{read} drop message vectors");
    }

    #[test]
    fn limits_match_the_spec() {
        assert_eq!(MAX_DROP_GET, 64);
        assert_eq!(MAX_DROP_PAGE, 64);
        assert_eq!(MAX_DROP_REQUEST, 8_300);
        assert_eq!(MAX_DROP_RESPONSE, 262_144);
        // The largest Get and Ack fit in the request cap; the largest Put reaches it.
        let get = DropRequest::Get {
            ids: (0..64u8).map(|i| DropId([i; 32])).collect(),
        };
        assert_eq!(get.encode().len(), 2 + 64 * 32);
        let ack = DropRequest::Ack {
            id: DropId([0; 32]),
            digests: (0..64u8).map(|i| [i; 32]).collect(),
        };
        assert_eq!(ack.encode().len(), 1 + 32 + 1 + 64 * 32);
        assert!(ack.encode().len() <= MAX_DROP_REQUEST);
        let put = DropRequest::Put {
            id: DropId([0; 32]),
            sealed: vec![1; MAX_DROP_SEALED],
        };
        assert_eq!(put.encode().len(), MAX_DROP_REQUEST);
        // 31 of the largest messages fit in a response, 32 do not.
        let page = |n: usize| DropResponse::Messages {
            messages: vec![(DropId([1; 32]), vec![1; MAX_DROP_SEALED]); n],
            more: false,
        };
        let fits = page(31).encode();
        assert_eq!(
            fits.len(),
            DROP_MESSAGES_HEAD + 31 * (DROP_MESSAGE_OVERHEAD + MAX_DROP_SEALED)
        );
        assert_eq!(DropResponse::decode(&fits).unwrap(), page(31));
        assert!(matches!(
            DropResponse::decode(&page(32).encode()),
            Err(DropMessageError::TooLarge { .. })
        ));
    }

    #[test]
    fn malformed_messages_are_rejected() {
        use DropMessageError as E;
        let id = "11".repeat(32);
        let req_cases: Vec<(Vec<u8>, E)> = vec![
            (vec![], E::Truncated),
            (hex("04"), E::UnknownType(4)),
            (hex("81"), E::UnknownType(0x81)),
            (hex("01"), E::Truncated),
            (hex(&format!("01 {id}")), E::Truncated),
            (hex(&format!("01 {id} 00")), E::Truncated),
            (hex(&format!("01 {id} 0000")), E::SealedSize(0)),
            (hex(&format!("01 {id} 204a")), E::SealedSize(8_266)),
            (hex(&format!("01 {id} 0002 01")), E::Truncated),
            (hex(&format!("01 {id} 0001 01 00")), E::Trailing(1)),
            (hex("02"), E::Truncated),
            (hex("02 00"), E::Count(0)),
            (hex("02 41"), E::Count(65)),
            (hex(&format!("02 02 {id}")), E::Truncated),
            (hex(&format!("02 02 {id} {id}")), E::DuplicateId),
            (hex(&format!("02 01 {id} 00")), E::Trailing(1)),
            (hex(&format!("03 {id}")), E::Truncated),
            (hex(&format!("03 {id} 00")), E::Count(0)),
            (hex(&format!("03 {id} 41")), E::Count(65)),
            (hex(&format!("03 {id} 02 {id} {id}")), E::DuplicateDigest),
            (hex(&format!("03 {id} 01 {id} 00")), E::Trailing(1)),
            (
                vec![1; MAX_DROP_REQUEST + 1],
                E::TooLarge {
                    len: MAX_DROP_REQUEST + 1,
                    max: MAX_DROP_REQUEST,
                },
            ),
        ];
        for (bytes, want) in req_cases {
            assert_eq!(DropRequest::decode(&bytes), Err(want), "{bytes:02x?}");
        }
        let resp_cases: Vec<(Vec<u8>, E)> = vec![
            (vec![], E::Truncated),
            (hex("01"), E::UnknownType(1)),
            (hex("81 00"), E::Trailing(1)),
            (hex("82"), E::Truncated),
            (hex("82 00"), E::Truncated),
            (hex("82 02 00"), E::BadFlag(2)),
            (hex("82 01 00"), E::MoreWithoutMessages),
            (hex("82 00 41"), E::PageSize(65)),
            (hex(&format!("82 00 01 {id}")), E::Truncated),
            (hex(&format!("82 00 01 {id} 0000")), E::SealedSize(0)),
            (hex(&format!("82 00 01 {id} 204a")), E::SealedSize(8_266)),
            (hex(&format!("82 00 02 {id} 0001 01")), E::Truncated),
            (hex(&format!("82 00 01 {id} 0001 01 00")), E::Trailing(1)),
            (hex("83 000001"), E::Truncated),
            (hex("83 00000001 00"), E::Trailing(1)),
            (hex("ff"), E::Truncated),
            (hex("ff 01 00"), E::Trailing(1)),
            (
                vec![0x82; MAX_DROP_RESPONSE + 1],
                E::TooLarge {
                    len: MAX_DROP_RESPONSE + 1,
                    max: MAX_DROP_RESPONSE,
                },
            ),
        ];
        for (bytes, want) in resp_cases {
            let shown = &bytes[..bytes.len().min(80)];
            assert_eq!(DropResponse::decode(&bytes), Err(want), "{shown:02x?}");
        }
    }

    #[test]
    fn every_truncation_is_rejected() {
        let reqs = [
            DropRequest::Put {
                id: DropId([3; 32]),
                sealed: vec![7; 300],
            },
            DropRequest::Get {
                ids: vec![DropId([1; 32]), DropId([2; 32])],
            },
            DropRequest::Ack {
                id: DropId([3; 32]),
                digests: vec![[1; 32], [2; 32]],
            },
        ];
        for m in reqs.iter().map(DropRequest::encode) {
            for cut in 0..m.len() {
                assert!(DropRequest::decode(&m[..cut]).is_err(), "cut at {cut}");
            }
        }
        let resps = [
            DropResponse::Messages {
                messages: vec![
                    (DropId([1; 32]), vec![1; 10]),
                    (DropId([2; 32]), vec![2; 300]),
                ],
                more: false,
            },
            DropResponse::AckOk { deleted: 7 },
            DropResponse::Refused(DropRefusal::BoxFull),
        ];
        for m in resps.iter().map(DropResponse::encode) {
            for cut in 0..m.len() {
                assert!(DropResponse::decode(&m[..cut]).is_err(), "cut at {cut}");
            }
        }
    }

    #[test]
    fn framed_messages_round_trip_under_their_caps() {
        let req = DropRequest::Put {
            id: DropId([5; 32]),
            sealed: vec![9; MAX_DROP_SEALED],
        };
        let mut wire = Cursor::new(Vec::new());
        block_on(frame::write_message(&mut wire, &req)).unwrap();
        wire.set_position(0);
        assert_eq!(
            block_on(frame::read_message::<DropRequest, _>(&mut wire)).unwrap(),
            req
        );
        // A frame one byte over the request cap is refused before it is read.
        let mut over = Cursor::new(Vec::new());
        block_on(frame::write(&mut over, &vec![1; MAX_DROP_REQUEST + 1])).unwrap();
        over.set_position(0);
        let e = block_on(frame::read_message::<DropRequest, _>(&mut over)).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        let resp = DropResponse::Messages {
            messages: vec![(DropId([4; 32]), vec![3; 100]); 3],
            more: true,
        };
        let mut wire = Cursor::new(Vec::new());
        block_on(frame::write_message(&mut wire, &resp)).unwrap();
        wire.set_position(0);
        assert_eq!(
            block_on(frame::read_message::<DropResponse, _>(&mut wire)).unwrap(),
            resp
        );
    }

    #[test]
    fn oversized_values_encode_to_messages_the_peer_refuses() {
        let put = DropRequest::Put {
            id: DropId([1; 32]),
            sealed: vec![1; MAX_DROP_SEALED + 1],
        }
        .encode();
        assert!(DropRequest::decode(&put).is_err());
        let get = DropRequest::Get {
            ids: (0..=255u8).map(|i| DropId([i; 32])).collect(),
        }
        .encode();
        assert_eq!(get[1], 255, "the count is cut to a u8");
        assert!(DropRequest::decode(&get).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_accepted_messages_round_trip(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)
        ) {
            if let Ok(req) = DropRequest::decode(&bytes) {
                proptest::prop_assert_eq!(req.encode(), bytes.clone());
            }
            if let Ok(resp) = DropResponse::decode(&bytes) {
                proptest::prop_assert_eq!(resp.encode(), bytes);
            }
        }
    }
}

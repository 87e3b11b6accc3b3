//! The relay's slot protocol: the messages an owner and its contacts exchange with a relay that
//! keeps [`SlotRecord`](crate::SlotRecord)s, and their byte codec, shared by the relay (which
//! serves them) and the node (which asks). proto-spec/slot.md#relay-protocol
//!
//! A message is one [frame](crate::frame) on its own stream, as on the teaser board: the client
//! writes a [`SlotRequest`], the relay answers with a [`SlotResponse`]. Decoders are canonical
//! or reject, and bound every length and count before allocating. The codec checks only the
//! message layout: records inside are opaque bytes here, and the relay checks them with
//! [`SlotRecord::decode`](crate::SlotRecord::decode) (a record that fails is refused with
//! [`SlotRefusal::Malformed`], not dropped with the stream).
//!
//! ```
//! use meishi_event::{SlotId, SlotRequest, SlotResponse};
//!
//! let get = SlotRequest::Get { slots: vec![SlotId([7; 32])] };
//! let bytes = get.encode();
//! assert_eq!(&bytes[..2], &[0x02, 0x01]); // Get, one slot id
//! assert_eq!(SlotRequest::decode(&bytes).unwrap(), get);
//! assert_eq!(SlotResponse::decode(&[0x81, 0, 0, 0, 0, 0, 0, 0, 9]).unwrap(),
//!            SlotResponse::PutOk { seq: 9 });
//! ```

use crate::frame;
use crate::slot::{SlotId, MAX_SLOT_RECORD};

/// Protocol id of the relay's slot service. proto-spec/slot.md#relay-protocol
pub const SLOT_PROTOCOL: &str = "/meishi/slot/1";
/// Most slot ids in one Get, and so most records in one `Records` response.
/// proto-spec/slot.md#limits
pub const MAX_SLOT_GET: usize = 64;
/// Largest encoded request a relay reads: a Put of the largest record (4,257 bytes; a full
/// Get is 2,050). proto-spec/slot.md#limits
pub const MAX_SLOT_REQUEST: usize = 1 + 2 + MAX_SLOT_RECORD;
/// Largest encoded response a client reads: 64 of the largest records (272,386 bytes).
/// proto-spec/slot.md#limits
pub const MAX_SLOT_RESPONSE: usize = 1 + 1 + MAX_SLOT_GET * (2 + MAX_SLOT_RECORD);

const REQ_PUT: u8 = 0x01;
const REQ_GET: u8 = 0x02;
const RESP_PUT_OK: u8 = 0x81;
const RESP_RECORDS: u8 = 0x82;
const RESP_REFUSED: u8 = 0xff;

/// A request to a relay's slot service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotRequest {
    /// Keep this record (its exact bytes, 1 to [`MAX_SLOT_RECORD`]): the relay verifies it and
    /// keeps it if it is the highest `seq` of its slot.
    Put { record: Vec<u8> },
    /// The records kept for these slots: 1 to [`MAX_SLOT_GET`] distinct ids.
    Get { slots: Vec<SlotId> },
}

/// A relay's answer to a [`SlotRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotResponse {
    /// The record is kept (or was already, byte for byte); `seq` is its sequence number.
    PutOk { seq: u64 },
    /// The unexpired records the relay keeps for the slots asked, in the order asked; slots it
    /// keeps nothing for are left out. Each is exactly the bytes the owner put.
    Records { records: Vec<Vec<u8>> },
    /// The request was refused.
    Refused(SlotRefusal),
}

/// Why a relay refused a slot request. proto-spec/slot.md#relay-protocol
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlotRefusal {
    /// The record does not pass proto-spec/slot.md#verification (size, canonical form, key,
    /// signature).
    Malformed,
    /// The relay keeps (or kept) a record of this slot with a higher `seq`: a replay.
    Older,
    /// The relay keeps another record of this slot with the same `seq`; it keeps the first.
    Equivocation,
    /// The record has expired by the relay's clock.
    Expired,
    /// The record expires further ahead than the relay keeps records.
    TooFarAhead,
    /// A cap of the relay (per host, the site's share, the total) is reached; retry later.
    Full,
    /// Too many requests from this peer or host; retry later.
    RateLimited,
    /// A code this version does not know.
    Other(u8),
}

impl SlotRefusal {
    /// The code on the wire.
    pub fn to_byte(self) -> u8 {
        match self {
            Self::Malformed => 1,
            Self::Older => 2,
            Self::Equivocation => 3,
            Self::Expired => 4,
            Self::TooFarAhead => 5,
            Self::Full => 6,
            Self::RateLimited => 7,
            Self::Other(b) => b,
        }
    }

    /// The refusal a code names; unknown codes are kept as [`SlotRefusal::Other`].
    pub fn from_byte(b: u8) -> Self {
        match b {
            1 => Self::Malformed,
            2 => Self::Older,
            3 => Self::Equivocation,
            4 => Self::Expired,
            5 => Self::TooFarAhead,
            6 => Self::Full,
            7 => Self::RateLimited,
            b => Self::Other(b),
        }
    }
}

/// Why slot message bytes were rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SlotMessageError {
    #[error("slot message of {len} bytes exceeds {max}")]
    TooLarge { len: usize, max: usize },
    #[error("slot message truncated")]
    Truncated,
    #[error("unknown slot message type {0:#04x}")]
    UnknownType(u8),
    #[error("a record of {0} bytes in a slot message; 1 to {MAX_SLOT_RECORD} are allowed")]
    RecordSize(usize),
    #[error("{0} slot ids or records in one message; 1 to {MAX_SLOT_GET} are allowed")]
    Count(usize),
    #[error("a slot id is asked twice in one Get")]
    DuplicateSlot,
    #[error("slot message has {0} trailing bytes")]
    Trailing(usize),
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SlotMessageError> {
        if self.b.len() < n {
            return Err(SlotMessageError::Truncated);
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8, SlotMessageError> {
        Ok(self.take(1)?[0])
    }
    fn record(&mut self) -> Result<Vec<u8>, SlotMessageError> {
        let s = self.take(2)?;
        let n = usize::from(u16::from_be_bytes([s[0], s[1]]));
        if n == 0 || n > MAX_SLOT_RECORD {
            return Err(SlotMessageError::RecordSize(n));
        }
        Ok(self.take(n)?.to_vec())
    }
    fn end(self) -> Result<(), SlotMessageError> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(SlotMessageError::Trailing(self.b.len()))
        }
    }
}

/// Writes `len:u16 record`. An oversized record is written with its true length when it fits
/// in a u16 (the peer refuses it); past that it is cut, so encoding cannot panic.
fn put_record(out: &mut Vec<u8>, record: &[u8]) {
    let r = &record[..record.len().min(usize::from(u16::MAX))];
    out.extend_from_slice(&(r.len() as u16).to_be_bytes());
    out.extend_from_slice(r);
}

impl SlotRequest {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Self::Put { record } => {
                out.push(REQ_PUT);
                put_record(&mut out, record);
            }
            Self::Get { slots } => {
                out.push(REQ_GET);
                // Counts are checked on decode; an overlong list is cut so encoding cannot
                // panic, and the peer refuses it only if it is over the cap after that.
                let n = slots.len().min(usize::from(u8::MAX));
                out.push(n as u8);
                for s in &slots[..n] {
                    out.extend_from_slice(&s.0);
                }
            }
        }
        out
    }

    /// Decodes a request. Rejects unknown types, a record of 0 or over [`MAX_SLOT_RECORD`]
    /// bytes, a Get of 0 or over [`MAX_SLOT_GET`] ids or with an id twice, and trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, SlotMessageError> {
        if bytes.len() > MAX_SLOT_REQUEST {
            return Err(SlotMessageError::TooLarge {
                len: bytes.len(),
                max: MAX_SLOT_REQUEST,
            });
        }
        let mut r = Reader { b: bytes };
        let req = match r.u8()? {
            REQ_PUT => Self::Put {
                record: r.record()?,
            },
            REQ_GET => {
                let n = usize::from(r.u8()?);
                if n == 0 || n > MAX_SLOT_GET {
                    return Err(SlotMessageError::Count(n));
                }
                let mut slots: Vec<SlotId> = Vec::with_capacity(n);
                for _ in 0..n {
                    let mut id = [0u8; 32];
                    id.copy_from_slice(r.take(32)?);
                    let id = SlotId(id);
                    // At most 64 ids: a linear scan is cheaper than a set.
                    if slots.contains(&id) {
                        return Err(SlotMessageError::DuplicateSlot);
                    }
                    slots.push(id);
                }
                Self::Get { slots }
            }
            t => return Err(SlotMessageError::UnknownType(t)),
        };
        r.end()?;
        Ok(req)
    }
}

impl SlotResponse {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Self::PutOk { seq } => {
                out.push(RESP_PUT_OK);
                out.extend_from_slice(&seq.to_be_bytes());
            }
            Self::Records { records } => {
                out.push(RESP_RECORDS);
                let n = records.len().min(MAX_SLOT_GET);
                out.push(n as u8);
                for r in &records[..n] {
                    put_record(&mut out, r);
                }
            }
            Self::Refused(reason) => {
                out.push(RESP_REFUSED);
                out.push(reason.to_byte());
            }
        }
        out
    }

    /// Decodes a response. Rejects unknown types, more than [`MAX_SLOT_GET`] records, a record
    /// of 0 or over [`MAX_SLOT_RECORD`] bytes and trailing bytes. Records are not verified
    /// here: the reader runs [`SlotRecord::decode`](crate::SlotRecord::decode) on each.
    pub fn decode(bytes: &[u8]) -> Result<Self, SlotMessageError> {
        if bytes.len() > MAX_SLOT_RESPONSE {
            return Err(SlotMessageError::TooLarge {
                len: bytes.len(),
                max: MAX_SLOT_RESPONSE,
            });
        }
        let mut r = Reader { b: bytes };
        let resp = match r.u8()? {
            RESP_PUT_OK => {
                let mut s = [0u8; 8];
                s.copy_from_slice(r.take(8)?);
                Self::PutOk {
                    seq: u64::from_be_bytes(s),
                }
            }
            RESP_RECORDS => {
                let n = usize::from(r.u8()?);
                if n > MAX_SLOT_GET {
                    return Err(SlotMessageError::Count(n));
                }
                let mut records = Vec::with_capacity(n);
                for _ in 0..n {
                    records.push(r.record()?);
                }
                Self::Records { records }
            }
            RESP_REFUSED => Self::Refused(SlotRefusal::from_byte(r.u8()?)),
            t => return Err(SlotMessageError::UnknownType(t)),
        };
        r.end()?;
        Ok(resp)
    }
}

impl frame::Message for SlotRequest {
    const MAX: usize = MAX_SLOT_REQUEST;
    type Error = SlotMessageError;
    fn encode(&self) -> Vec<u8> {
        SlotRequest::encode(self)
    }
    fn decode(bytes: &[u8]) -> Result<Self, SlotMessageError> {
        SlotRequest::decode(bytes)
    }
}

impl frame::Message for SlotResponse {
    const MAX: usize = MAX_SLOT_RESPONSE;
    type Error = SlotMessageError;
    fn encode(&self) -> Vec<u8> {
        SlotResponse::encode(self)
    }
    fn decode(bytes: &[u8]) -> Result<Self, SlotMessageError> {
        SlotResponse::decode(bytes)
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

    fn check_request(req: SlotRequest, want: &str) {
        let bytes = req.encode();
        assert_eq!(
            data_encoding::HEXLOWER.encode(&bytes),
            want.replace(' ', "")
        );
        assert_eq!(SlotRequest::decode(&bytes).unwrap(), req);
    }

    fn check_response(resp: SlotResponse, want: &str) {
        let bytes = resp.encode();
        assert_eq!(
            data_encoding::HEXLOWER.encode(&bytes),
            want.replace(' ', "")
        );
        assert_eq!(SlotResponse::decode(&bytes).unwrap(), resp);
    }

    #[test]
    fn exact_bytes() {
        // Put: 01, record length 3 (big-endian u16), the record bytes (opaque here).
        check_request(
            SlotRequest::Put {
                record: vec![0x01, 0xaa, 0xbb],
            },
            "01 0003 01aabb",
        );
        // Get: 02, two ids, each 32 bytes.
        check_request(
            SlotRequest::Get {
                slots: vec![SlotId([0x11; 32]), SlotId([0x22; 32])],
            },
            &format!("02 02 {} {}", "11".repeat(32), "22".repeat(32)),
        );
        // PutOk: 81, seq as a big-endian u64.
        check_response(SlotResponse::PutOk { seq: 258 }, "81 0000000000000102");
        // Records: 82, count, then length-prefixed records; none is 82 00.
        check_response(
            SlotResponse::Records {
                records: vec![vec![0x01], vec![0x01, 0x02]],
            },
            "82 02 0001 01 0002 0102",
        );
        check_response(SlotResponse::Records { records: vec![] }, "82 00");
        // Refused: ff, reason code.
        for (reason, code) in [
            (SlotRefusal::Malformed, "01"),
            (SlotRefusal::Older, "02"),
            (SlotRefusal::Equivocation, "03"),
            (SlotRefusal::Expired, "04"),
            (SlotRefusal::TooFarAhead, "05"),
            (SlotRefusal::Full, "06"),
            (SlotRefusal::RateLimited, "07"),
            (SlotRefusal::Other(0x42), "42"),
        ] {
            check_response(SlotResponse::Refused(reason), &format!("ff {code}"));
        }
    }

    #[test]
    fn limits_match_the_spec() {
        assert_eq!(MAX_SLOT_GET, 64);
        assert_eq!(MAX_SLOT_REQUEST, 4_257);
        assert_eq!(MAX_SLOT_RESPONSE, 272_386);
        // The largest Get fits in the request cap.
        let get = SlotRequest::Get {
            slots: (0..64u8).map(|i| SlotId([i; 32])).collect(),
        };
        assert_eq!(get.encode().len(), 2 + 64 * 32);
        assert!(get.encode().len() <= MAX_SLOT_REQUEST);
        // The largest Put and the largest Records reach their caps exactly.
        let put = SlotRequest::Put {
            record: vec![1; MAX_SLOT_RECORD],
        };
        assert_eq!(put.encode().len(), MAX_SLOT_REQUEST);
        let full = SlotResponse::Records {
            records: vec![vec![1; MAX_SLOT_RECORD]; MAX_SLOT_GET],
        };
        assert_eq!(full.encode().len(), MAX_SLOT_RESPONSE);
        assert_eq!(SlotResponse::decode(&full.encode()).unwrap(), full);
    }

    #[test]
    fn malformed_messages_are_rejected() {
        use SlotMessageError as E;
        let id = "11".repeat(32);
        let req_cases: Vec<(Vec<u8>, E)> = vec![
            (vec![], E::Truncated),
            (hex("03"), E::UnknownType(3)),
            (hex("81 0000000000000001"), E::UnknownType(0x81)),
            (hex("01"), E::Truncated),
            (hex("01 00"), E::Truncated),
            (hex("01 0000"), E::RecordSize(0)),
            (hex("01 109f"), E::RecordSize(4_255)),
            (hex("01 0002 01"), E::Truncated),
            (hex("01 0001 01 00"), E::Trailing(1)),
            (hex("02 00"), E::Count(0)),
            (hex("02 41"), E::Count(65)),
            (hex(&format!("02 02 {id}")), E::Truncated),
            (hex(&format!("02 02 {id} {id}")), E::DuplicateSlot),
            (hex(&format!("02 01 {id} 00")), E::Trailing(1)),
            (
                vec![1; MAX_SLOT_REQUEST + 1],
                E::TooLarge {
                    len: MAX_SLOT_REQUEST + 1,
                    max: MAX_SLOT_REQUEST,
                },
            ),
        ];
        for (bytes, want) in req_cases {
            assert_eq!(SlotRequest::decode(&bytes), Err(want), "{bytes:02x?}");
        }
        let resp_cases: Vec<(Vec<u8>, E)> = vec![
            (vec![], E::Truncated),
            (hex("01 0001 01"), E::UnknownType(1)),
            (hex("81 00000000000001"), E::Truncated),
            (hex("81 0000000000000001 00"), E::Trailing(1)),
            (hex("82"), E::Truncated),
            (hex("82 41"), E::Count(65)),
            (hex("82 01 0000"), E::RecordSize(0)),
            (hex("82 01 109f"), E::RecordSize(4_255)),
            (hex("82 02 0001 01"), E::Truncated),
            (hex("ff"), E::Truncated),
            (hex("ff 01 00"), E::Trailing(1)),
        ];
        for (bytes, want) in resp_cases {
            assert_eq!(SlotResponse::decode(&bytes), Err(want), "{bytes:02x?}");
        }
    }

    #[test]
    fn every_truncation_is_rejected() {
        let msgs = [
            SlotRequest::Put {
                record: vec![7; 300],
            }
            .encode(),
            SlotRequest::Get {
                slots: vec![SlotId([1; 32]), SlotId([2; 32])],
            }
            .encode(),
        ];
        for m in msgs {
            for cut in 0..m.len() {
                assert!(SlotRequest::decode(&m[..cut]).is_err(), "cut at {cut}");
            }
        }
        let r = SlotResponse::Records {
            records: vec![vec![1; 10], vec![2; 300]],
        }
        .encode();
        for cut in 0..r.len() {
            assert!(SlotResponse::decode(&r[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn framed_messages_round_trip_under_their_caps() {
        let req = SlotRequest::Put {
            record: vec![9; MAX_SLOT_RECORD],
        };
        let mut wire = Cursor::new(Vec::new());
        block_on(frame::write_message(&mut wire, &req)).unwrap();
        wire.set_position(0);
        assert_eq!(
            block_on(frame::read_message::<SlotRequest, _>(&mut wire)).unwrap(),
            req
        );
        // A frame one byte over the request cap is refused before it is read.
        let mut over = Cursor::new(Vec::new());
        block_on(frame::write(&mut over, &vec![1; MAX_SLOT_REQUEST + 1])).unwrap();
        over.set_position(0);
        let e = block_on(frame::read_message::<SlotRequest, _>(&mut over)).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        let resp = SlotResponse::Records {
            records: vec![vec![3; 100]; 3],
        };
        let mut wire = Cursor::new(Vec::new());
        block_on(frame::write_message(&mut wire, &resp)).unwrap();
        wire.set_position(0);
        assert_eq!(
            block_on(frame::read_message::<SlotResponse, _>(&mut wire)).unwrap(),
            resp
        );
    }

    #[test]
    fn oversized_put_encodes_to_a_request_the_relay_refuses() {
        let b = SlotRequest::Put {
            record: vec![1; MAX_SLOT_RECORD + 1],
        }
        .encode();
        assert!(SlotRequest::decode(&b).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_accepted_messages_round_trip(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)
        ) {
            if let Ok(req) = SlotRequest::decode(&bytes) {
                proptest::prop_assert_eq!(req.encode(), bytes.clone());
            }
            if let Ok(resp) = SlotResponse::decode(&bytes) {
                proptest::prop_assert_eq!(resp.encode(), bytes);
            }
        }
    }
}

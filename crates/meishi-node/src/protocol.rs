//! The exchange protocol's messages and their length-prefixed codec.
//! proto-spec/exchange.md#messages
//!
//! Every message is `length (u32, big-endian) || kind (u8) || payload`, where `length` counts
//! `kind` and `payload` and is at most [`MAX_MESSAGE_BYTES`]. The length is checked before any
//! payload byte is read or buffered, and a stream carries exactly one request and one response.
//! The stock cbor/json codecs read to EOF; this one knows where a message ends and refuses
//! anything larger than the largest valid message.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use meishi_card::envelope::{MAX_ENVELOPE_BYTES, MAX_TEASER_BYTES};
use meishi_card::limits::MAX_CARD_BYTES;

/// The exchange protocol. proto-spec/exchange.md#protocol-id
pub const EXCHANGE_PROTOCOL: StreamProtocol = StreamProtocol::new("/meishi/exchange/1");

/// Largest `kind || payload` either side sends or reads: the largest envelope plus its kind
/// byte, rounded up. proto-spec/exchange.md#limits
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024;

const _: () = assert!(MAX_ENVELOPE_BYTES < MAX_MESSAGE_BYTES);
const _: () = assert!(MAX_CARD_BYTES < MAX_MESSAGE_BYTES);
const _: () = assert!(MAX_TEASER_BYTES < MAX_MESSAGE_BYTES);

/// Request kinds. proto-spec/exchange.md#requests
mod req {
    pub const GIVE: u8 = 1;
    pub const RETURN: u8 = 2;
    pub const FETCH: u8 = 3;
    pub const TEASER: u8 = 4;
}

/// Response kinds. proto-spec/exchange.md#responses
mod resp {
    pub const GIVE_BACK: u8 = 1;
    pub const KEPT: u8 = 2;
    pub const PENDING: u8 = 3;
    pub const CARD: u8 = 4;
    pub const TEASER: u8 = 5;
    pub const NO_TEASER: u8 = 6;
    pub const REFUSED: u8 = 7;
}

/// A request. Payloads are raw bytes here; they are decoded and verified by the event loop, so
/// a bad envelope becomes a typed refusal instead of a broken stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Here is my card in an envelope; give me yours if your policy allows.
    Give(Vec<u8>),
    /// Here is my card in an envelope, in return for yours (given earlier); answer `Kept`.
    Return(Vec<u8>),
    /// Send me your current signed card (only answered to peers that hold it).
    Fetch,
    /// Send me your teaser, if you publish one.
    Teaser,
    /// Produced only by the reader: the bytes were not a valid request (an oversized length, an
    /// unknown kind, a bad payload). The node answers it with a refusal instead of dropping the
    /// stream, so the peer learns why. Never written.
    Unreadable(FrameError),
}

/// A response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Your card was received and here is mine, in an envelope addressed to you.
    GiveBack(Vec<u8>),
    /// Your card was received; no card comes back (policy `never`, or an answer to `Return`).
    Kept,
    /// Your card waits in the user's inbox; if they accept, their card comes back as a `Return`.
    Pending,
    /// My current signed card (the answer to `Fetch`).
    Card(Vec<u8>),
    /// My signed teaser.
    Teaser(Vec<u8>),
    /// I publish no teaser.
    NoTeaser,
    /// The request was refused.
    Refused(RefuseCode),
}

/// Why a request was refused, on the wire. proto-spec/exchange.md#refusals
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefuseCode {
    /// The envelope did not decode or verify.
    BadEnvelope,
    /// The card's key is not the key of the connection.
    WrongSender,
    /// The envelope is addressed to another peer.
    WrongRecipient,
    /// The envelope's time is outside the receiver's clock window.
    BadTime,
    /// This envelope was already received.
    Replay,
    /// Too many requests from this peer; try later.
    RateLimited,
    /// The inbox is full, or the responder takes no more unsolicited cards for now; try later.
    Busy,
    /// Fetch is only answered to peers that hold the card.
    NotAHolder,
    /// The request broke the framing rules (size, kind or payload).
    Malformed,
    /// A code this version does not know.
    Other(u8),
}

impl RefuseCode {
    pub fn to_byte(self) -> u8 {
        match self {
            Self::BadEnvelope => 1,
            Self::WrongSender => 2,
            Self::WrongRecipient => 3,
            Self::BadTime => 4,
            Self::Replay => 5,
            Self::RateLimited => 6,
            Self::Busy => 7,
            Self::NotAHolder => 8,
            Self::Malformed => 9,
            Self::Other(b) => b,
        }
    }

    pub fn from_byte(b: u8) -> Self {
        match b {
            1 => Self::BadEnvelope,
            2 => Self::WrongSender,
            3 => Self::WrongRecipient,
            4 => Self::BadTime,
            5 => Self::Replay,
            6 => Self::RateLimited,
            7 => Self::Busy,
            8 => Self::NotAHolder,
            9 => Self::Malformed,
            other => Self::Other(other),
        }
    }
}

impl std::fmt::Display for RefuseCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Self::BadEnvelope => "the envelope is invalid",
            Self::WrongSender => "the card is not the sender's",
            Self::WrongRecipient => "the envelope is addressed to someone else",
            Self::BadTime => "the envelope's time is outside the clock window (check both clocks)",
            Self::Replay => "the envelope was already received",
            Self::RateLimited => "too many requests; try again later",
            Self::Busy => "the peer is busy (its inbox is full, or it got too many cards at once); try again later",
            Self::NotAHolder => "only people who hold the card may fetch it",
            Self::Malformed => "the request is not a valid exchange message",
            Self::Other(b) => return write!(f, "refused with unknown code {b}"),
        };
        f.write_str(s)
    }
}

/// Why a message is not a valid exchange message. Each variant is one `expect:` outcome of the
/// message vectors in proto-spec/vectors/exchange/; it travels inside the `io::Error` the codec
/// returns (kind `InvalidData`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    #[error("message length is over the {MAX_MESSAGE_BYTES}-byte limit")]
    TooLarge,
    #[error("message is not a valid exchange message (empty, unknown kind or bad payload)")]
    Invalid,
}

impl FrameError {
    /// The error's name in the `expect:` line of the test vectors.
    pub fn kind(self) -> &'static str {
        match self {
            Self::TooLarge => "too-large",
            Self::Invalid => "invalid-message",
        }
    }

    /// The frame error inside an error returned by the codec, if that is what it is.
    pub fn of(e: &io::Error) -> Option<Self> {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<Self>())
            .copied()
    }
}

fn invalid() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, FrameError::Invalid)
}

fn too_large() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, FrameError::TooLarge)
}

impl Request {
    /// `kind || payload`.
    pub fn to_frame(&self) -> Vec<u8> {
        match self {
            Self::Give(p) => frame(req::GIVE, p),
            Self::Return(p) => frame(req::RETURN, p),
            Self::Fetch => vec![req::FETCH],
            Self::Teaser => vec![req::TEASER],
            // An empty frame: `write_frame` refuses to send it.
            Self::Unreadable(_) => Vec::new(),
        }
    }

    /// Parses `kind || payload`.
    pub fn from_frame(f: &[u8]) -> io::Result<Self> {
        let (&kind, payload) = f.split_first().ok_or_else(invalid)?;
        let empty = |r: Self| {
            if payload.is_empty() {
                Ok(r)
            } else {
                Err(invalid())
            }
        };
        match kind {
            req::GIVE => Ok(Self::Give(payload.to_vec())),
            req::RETURN => Ok(Self::Return(payload.to_vec())),
            req::FETCH => empty(Self::Fetch),
            req::TEASER => empty(Self::Teaser),
            _ => Err(invalid()),
        }
    }
}

impl Response {
    /// `kind || payload`.
    pub fn to_frame(&self) -> Vec<u8> {
        match self {
            Self::GiveBack(p) => frame(resp::GIVE_BACK, p),
            Self::Kept => vec![resp::KEPT],
            Self::Pending => vec![resp::PENDING],
            Self::Card(p) => frame(resp::CARD, p),
            Self::Teaser(p) => frame(resp::TEASER, p),
            Self::NoTeaser => vec![resp::NO_TEASER],
            Self::Refused(code) => vec![resp::REFUSED, code.to_byte()],
        }
    }

    /// Parses `kind || payload`.
    pub fn from_frame(f: &[u8]) -> io::Result<Self> {
        let (&kind, payload) = f.split_first().ok_or_else(invalid)?;
        let empty = |r: Self| {
            if payload.is_empty() {
                Ok(r)
            } else {
                Err(invalid())
            }
        };
        match kind {
            resp::GIVE_BACK => Ok(Self::GiveBack(payload.to_vec())),
            resp::KEPT => empty(Self::Kept),
            resp::PENDING => empty(Self::Pending),
            resp::CARD => Ok(Self::Card(payload.to_vec())),
            resp::TEASER => Ok(Self::Teaser(payload.to_vec())),
            resp::NO_TEASER => empty(Self::NoTeaser),
            resp::REFUSED => match payload {
                [code] => Ok(Self::Refused(RefuseCode::from_byte(*code))),
                _ => Err(invalid()),
            },
            _ => Err(invalid()),
        }
    }
}

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + payload.len());
    v.push(kind);
    v.extend_from_slice(payload);
    v
}

/// Reads one `length || frame`, refusing a length over [`MAX_MESSAGE_BYTES`] before reading the
/// frame. A zero length is refused too (every frame has a kind byte).
pub async fn read_frame<T: AsyncRead + Unpin>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 {
        return Err(invalid());
    }
    if len > MAX_MESSAGE_BYTES {
        return Err(too_large());
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

/// Writes one `length || frame`. The request-response handler closes the stream afterwards.
pub async fn write_frame<T: AsyncWrite + Unpin>(io: &mut T, frame: &[u8]) -> io::Result<()> {
    if frame.is_empty() || frame.len() > MAX_MESSAGE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "message over the size limit",
        ));
    }
    let len = u32::try_from(frame.len()).map_err(|_| too_large())?;
    // One write: a single yamux frame and TCP segment for small messages.
    let mut buf = Vec::with_capacity(4 + frame.len());
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(frame);
    io.write_all(&buf).await
}

/// The request-response codec of [`EXCHANGE_PROTOCOL`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Codec;

impl libp2p::request_response::Codec for Codec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Request> {
        // A request that breaks the framing rules is answered, not dropped: only I/O errors (a
        // stream cut short) end the stream without an answer. After an oversized length
        // nothing more is read.
        match read_frame(io).await.and_then(|f| Request::from_frame(&f)) {
            Ok(r) => Ok(r),
            Err(e) => FrameError::of(&e).map(Request::Unreadable).ok_or(e),
        }
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Response> {
        Response::from_frame(&read_frame(io).await?)
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Request,
    ) -> io::Result<()> {
        write_frame(io, &req.to_frame()).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Response,
    ) -> io::Result<()> {
        write_frame(io, &res.to_frame()).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use futures::io::Cursor;

    fn read(bytes: &[u8]) -> io::Result<Vec<u8>> {
        block_on(read_frame(&mut Cursor::new(bytes.to_vec())))
    }

    fn wire(frame: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        block_on(write_frame(&mut Cursor::new(&mut out), frame)).unwrap();
        out
    }

    #[test]
    fn frames_round_trip() {
        let cases = [
            Request::Give(vec![1, 2, 3]),
            Request::Return(vec![4]),
            Request::Fetch,
            Request::Teaser,
        ];
        for r in cases {
            let bytes = wire(&r.to_frame());
            assert_eq!(Request::from_frame(&read(&bytes).unwrap()).unwrap(), r);
        }
        let cases = [
            Response::GiveBack(vec![9; 100]),
            Response::Kept,
            Response::Pending,
            Response::Card(vec![1]),
            Response::Teaser(vec![2]),
            Response::NoTeaser,
            Response::Refused(RefuseCode::RateLimited),
            Response::Refused(RefuseCode::Other(200)),
        ];
        for r in cases {
            let bytes = wire(&r.to_frame());
            assert_eq!(Response::from_frame(&read(&bytes).unwrap()).unwrap(), r);
        }
    }

    #[test]
    fn byte_layout() {
        // length 00000002, kind 03 (fetch)... fetch has no payload: length 1.
        assert_eq!(wire(&Request::Fetch.to_frame()), [0, 0, 0, 1, 3]);
        // length 00000004, kind 01 (give), payload aa bb cc
        assert_eq!(
            wire(&Request::Give(vec![0xaa, 0xbb, 0xcc]).to_frame()),
            [0, 0, 0, 4, 1, 0xaa, 0xbb, 0xcc]
        );
        // refused, code 6 (rate limited)
        assert_eq!(
            wire(&Response::Refused(RefuseCode::RateLimited).to_frame()),
            [0, 0, 0, 2, 7, 6]
        );
    }

    #[test]
    fn oversized_length_is_refused_before_reading() {
        // Claims 4 GiB and sends nothing more: refused from the 4-byte prefix alone.
        let err = read(&[0xff, 0xff, 0xff, 0xff]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let just_over = ((MAX_MESSAGE_BYTES + 1) as u32).to_be_bytes();
        assert_eq!(
            read(&just_over).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        let mut at_limit = (MAX_MESSAGE_BYTES as u32).to_be_bytes().to_vec();
        at_limit.extend(vec![1; MAX_MESSAGE_BYTES]);
        assert_eq!(read(&at_limit).unwrap().len(), MAX_MESSAGE_BYTES);
        let too_big = vec![0; MAX_MESSAGE_BYTES + 1];
        assert!(block_on(write_frame(&mut Cursor::new(Vec::new()), &too_big)).is_err());
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(
            read(&[0, 0, 0, 0]).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(
            read(&[0, 0, 0, 5, 1]).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(
            read(&[0, 0]).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        assert!(Request::from_frame(&[0]).is_err());
        assert!(Request::from_frame(&[99, 1]).is_err());
        assert!(Request::from_frame(&[req::FETCH, 1]).is_err());
        assert!(Response::from_frame(&[resp::REFUSED]).is_err());
        assert!(Response::from_frame(&[resp::REFUSED, 1, 2]).is_err());
        assert!(Response::from_frame(&[resp::KEPT, 0]).is_err());
        assert!(Response::from_frame(&[]).is_err());
    }
}

//! Length-prefixed frames: an unsigned LEB128 varint length (libp2p's unsigned-varint, minimal),
//! then that many bytes. The teaser board frames its messages this way, and so does the
//! rendezvous protocol the relay serves; both peers of both protocols use these functions.
//! proto-spec/relay.md#conventions
//!
//! The length is checked against the caller's cap before anything is allocated. A prefix longer
//! than 4 bytes (2^28 - 1, far above every cap) is refused without reading further.
//!
//! ```
//! # futures::executor::block_on(async {
//! use futures::io::Cursor;
//! use meishi_event::frame;
//!
//! let mut wire = Cursor::new(Vec::new());
//! frame::write(&mut wire, b"hello").await.unwrap();
//! assert_eq!(wire.get_ref(), b"\x05hello");
//! wire.set_position(0);
//! assert_eq!(frame::read(&mut wire, 16).await.unwrap(), b"hello");
//! # });
//! ```
//!
//! Cancel safety: none of these functions is cancel-safe; a frame cut short leaves the stream
//! in the middle of a message, so drop the stream with the future.

use std::io;

use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Longest length prefix read: 4 bytes carry up to 2^28 - 1. proto-spec/relay.md#conventions
pub const MAX_PREFIX: usize = 4;

fn invalid<E: Into<Box<dyn std::error::Error + Send + Sync>>>(e: E) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// Reads one frame of at most `max` bytes. A malformed or too long prefix, or a length over
/// `max`, is an `InvalidData` error; a stream that ends early is `UnexpectedEof`.
pub async fn read<T: AsyncRead + Unpin>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut prefix = [0u8; MAX_PREFIX];
    let mut used = 0;
    loop {
        if used == MAX_PREFIX {
            return Err(invalid("length prefix too long"));
        }
        io.read_exact(&mut prefix[used..=used]).await?;
        used += 1;
        if unsigned_varint::decode::is_last(prefix[used - 1]) {
            break;
        }
    }
    let (len, _) = unsigned_varint::decode::u32(&prefix[..used]).map_err(invalid)?;
    let len = usize::try_from(len).map_err(invalid)?;
    if len > max {
        return Err(invalid(format!(
            "a frame of {len} bytes exceeds the cap of {max}"
        )));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

/// Reads one frame of at most `max` bytes and decodes it with `decode`. A frame that does not
/// decode is an `InvalidData` error carrying the decoder's error, like a malformed frame.
pub async fn read_decoded<T, M, E>(
    io: &mut T,
    max: usize,
    decode: impl FnOnce(&[u8]) -> Result<M, E>,
) -> io::Result<M>
where
    T: AsyncRead + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    let bytes = read(io, max).await?;
    decode(&bytes).map_err(invalid)
}

/// A message of one of the framed protocols (board, slots, drop boxes): its canonical bytes,
/// its strict decoder, and the largest frame it may take, which a reader checks on the length
/// prefix before it reads anything else. Codecs on both ends are written once over it
/// ([`read_message`], [`write_message`]).
pub trait Message: Sized + Send + Sync + 'static {
    /// The largest encoding of this message.
    const MAX: usize;
    /// Why bytes are not this message.
    type Error: std::error::Error + Send + Sync + 'static;
    /// The canonical bytes.
    fn encode(&self) -> Vec<u8>;
    /// Decodes exactly `bytes`, or says why not.
    fn decode(bytes: &[u8]) -> Result<Self, Self::Error>;
    /// The canonical bytes in parts, as [`write_message`] writes them: a message that holds
    /// its bulk as shared buffers (a page of the teaser board) lists them as the body, so that
    /// they are written from where they are. The default is [`Message::encode`] as the head.
    fn split(&self) -> Split<'_> {
        Split::whole(self.encode())
    }
}

/// A message's canonical bytes as `head`, then every slice of `body`, then `tail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split<'a> {
    pub head: Vec<u8>,
    pub body: Vec<&'a [u8]>,
    pub tail: Vec<u8>,
}

impl Split<'_> {
    /// All of a message's bytes in its head.
    pub fn whole(bytes: Vec<u8>) -> Self {
        Self {
            head: bytes,
            body: Vec::new(),
            tail: Vec::new(),
        }
    }

    /// How many bytes the parts hold together.
    pub fn len(&self) -> usize {
        self.head.len() + self.body.iter().map(|b| b.len()).sum::<usize>() + self.tail.len()
    }

    /// Whether the parts hold no byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The parts in one buffer.
    pub fn concat(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        for part in self.parts() {
            out.extend_from_slice(part);
        }
        out
    }

    fn parts(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::once(&self.head[..])
            .chain(self.body.iter().copied())
            .chain(std::iter::once(&self.tail[..]))
    }
}

/// Reads one frame of at most `M::MAX` bytes and decodes it as an `M`.
pub async fn read_message<M: Message, T: AsyncRead + Unpin>(io: &mut T) -> io::Result<M> {
    read_decoded(io, M::MAX, M::decode).await
}

/// Encodes `message` and writes it as one frame.
pub async fn write_message<M: Message, T: AsyncWrite + Unpin>(
    io: &mut T,
    message: &M,
) -> io::Result<()> {
    write_split(io, &message.split()).await
}

/// Largest piece of a frame handed to the stream in one write. A yamux stream sends each
/// write as data frames of up to 16 KiB, and the connection's noise layer keeps buffers as
/// large as the largest frame it carried for as long as the connection lives: a relay holding
/// thousands of connections that each read a page of the board pays that per connection.
/// Pieces of 8 KiB halve those buffers.
pub const WRITE_PIECE: usize = 8 * 1024;

/// Writes one frame (in pieces of at most [`WRITE_PIECE`] bytes) and flushes it.
pub async fn write<T: AsyncWrite + Unpin>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
    write_parts(io, bytes.len(), std::iter::once(bytes)).await
}

/// Writes one frame of `split`'s parts (in pieces of at most [`WRITE_PIECE`] bytes) and
/// flushes it.
pub async fn write_split<T: AsyncWrite + Unpin>(io: &mut T, split: &Split<'_>) -> io::Result<()> {
    write_parts(io, split.len(), split.parts()).await
}

/// Writes the length prefix and then `parts` (`len` bytes together) as pieces of
/// [`WRITE_PIECE`] bytes, the last one shorter: every write but the last is a whole piece, so
/// the prefix and small parts share a piece instead of taking a write (a yamux frame, a noise
/// message, a TCP send) each.
async fn write_parts<'a, T: AsyncWrite + Unpin>(
    io: &mut T,
    len: usize,
    parts: impl Iterator<Item = &'a [u8]>,
) -> io::Result<()> {
    let mut prefix = unsigned_varint::encode::usize_buffer();
    let prefix = unsigned_varint::encode::usize(len, &mut prefix);
    let mut piece = Vec::with_capacity((prefix.len() + len).min(WRITE_PIECE));
    piece.extend_from_slice(prefix);
    for mut part in parts {
        while !part.is_empty() {
            if piece.is_empty() && part.len() >= WRITE_PIECE {
                // A whole piece straight from the part.
                io.write_all(&part[..WRITE_PIECE]).await?;
                part = &part[WRITE_PIECE..];
                continue;
            }
            let take = part.len().min(WRITE_PIECE - piece.len());
            piece.extend_from_slice(&part[..take]);
            part = &part[take..];
            if piece.len() == WRITE_PIECE {
                io.write_all(&piece).await?;
                piece.clear();
            }
        }
    }
    if !piece.is_empty() {
        io.write_all(&piece).await?;
    }
    io.flush().await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use futures::io::Cursor;

    fn read_all(bytes: &[u8], max: usize) -> io::Result<Vec<u8>> {
        block_on(read(&mut Cursor::new(bytes.to_vec()), max))
    }

    fn framed(data: &[u8]) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        block_on(write(&mut out, data)).unwrap();
        out.into_inner()
    }

    /// Records the size of every write it is handed.
    struct Writes(Vec<usize>, Vec<u8>);

    impl AsyncWrite for Writes {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<io::Result<usize>> {
            self.0.push(buf.len());
            self.1.extend_from_slice(buf);
            std::task::Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_close(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn a_large_frame_is_handed_to_the_stream_in_pieces() {
        let data: Vec<u8> = (0..3 * WRITE_PIECE + 5).map(|i| i as u8).collect();
        let mut w = Writes(Vec::new(), Vec::new());
        block_on(write(&mut w, &data)).unwrap();
        // Three whole pieces (the 3-byte prefix and the first bytes share the first), then the
        // rest.
        assert_eq!(
            w.0,
            [WRITE_PIECE, WRITE_PIECE, WRITE_PIECE, 5 + 3],
            "{:?}",
            w.0
        );
        assert_eq!(
            block_on(read(&mut Cursor::new(w.1), data.len())).unwrap(),
            data
        );
    }

    #[test]
    fn a_split_message_is_written_as_whole_pieces_from_its_parts() {
        // A small frame is one write, prefix included.
        let mut w = Writes(Vec::new(), Vec::new());
        block_on(write(&mut w, b"hello")).unwrap();
        assert_eq!((w.0, w.1), (vec![6], b"\x05hello".to_vec()));
        // Many small parts and one large one, as a page of the board is written.
        let big = vec![7u8; 2 * WRITE_PIECE + 11];
        let small: Vec<Vec<u8>> = (0..300u16)
            .map(|i| vec![i as u8; 1 + usize::from(i % 97)])
            .collect();
        let mut body: Vec<&[u8]> = small.iter().map(|v| &v[..]).collect();
        body.insert(150, &big);
        let split = Split {
            head: vec![1, 2, 3],
            body,
            tail: vec![4; 9],
        };
        let mut w = Writes(Vec::new(), Vec::new());
        block_on(write_split(&mut w, &split)).unwrap();
        let (last, whole) = w.0.split_last().unwrap();
        assert!(whole.iter().all(|&n| n == WRITE_PIECE), "{:?}", w.0);
        assert!(*last > 0 && *last <= WRITE_PIECE);
        assert_eq!(
            block_on(read(&mut Cursor::new(w.1), split.len())).unwrap(),
            split.concat()
        );
    }

    #[test]
    fn prefix_bytes() {
        // 0 -> 00; 127 -> 7f; 128 -> 80 01; 300 -> ac 02; 16384 -> 80 80 01.
        for (len, prefix) in [
            (0usize, &[0x00][..]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (300, &[0xac, 0x02]),
            (16_384, &[0x80, 0x80, 0x01]),
        ] {
            let f = framed(&vec![9u8; len]);
            assert_eq!(&f[..prefix.len()], prefix, "length {len}");
            assert_eq!(f.len(), prefix.len() + len);
        }
    }

    #[test]
    fn round_trip_and_caps() {
        for len in [0usize, 1, 127, 128, 300, 16_384] {
            let data = vec![9u8; len];
            let f = framed(&data);
            assert_eq!(read_all(&f, 16_384).unwrap(), data);
            if len > 0 {
                let over = read_all(&f, len - 1).unwrap_err();
                assert_eq!(over.kind(), io::ErrorKind::InvalidData);
                // Truncated body.
                let cut = read_all(&f[..f.len() - 1], len).unwrap_err();
                assert_eq!(cut.kind(), io::ErrorKind::UnexpectedEof);
            }
        }
    }

    #[test]
    fn bad_prefixes_are_refused() {
        // 0x80 0x00 encodes 0 non-minimally; five bytes are over the 4-byte limit.
        for bad in [
            &[0x80, 0x00][..],
            &[0xff, 0xff, 0xff, 0xff, 0x01],
            &[0xff; 8],
        ] {
            let e = read_all(bad, usize::MAX).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{bad:02x?}");
        }
        // The largest 4-byte prefix is read, then refused by the cap before any allocation.
        let e = read_all(&[0xff, 0xff, 0xff, 0x7f], 1024).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        // An empty stream or a prefix cut short.
        assert_eq!(
            read_all(&[], 10).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(
            read_all(&[0x80], 10).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn decode_errors_are_invalid_data() {
        #[derive(Debug, thiserror::Error)]
        #[error("nope")]
        struct Nope;
        let f = framed(b"x");
        let e = block_on(read_decoded(&mut Cursor::new(f), 4, |_| Err::<(), _>(Nope))).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(e.to_string(), "nope");
    }
}

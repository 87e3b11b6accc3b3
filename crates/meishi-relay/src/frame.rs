//! Length-prefixed frames: an unsigned LEB128 varint length, then that many bytes. The
//! rendezvous protocol frames its protobuf messages this way, and the teaser board reuses it.
//! The length is checked against the caller's cap before anything is allocated.

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use std::io;

/// Longest varint accepted for a length: 4 bytes carry up to 2^28 - 1, far above every cap.
const MAX_VARINT_BYTES: usize = 4;

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Reads one frame of at most `max` bytes.
pub async fn read<T: AsyncRead + Unpin>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut len: usize = 0;
    let mut i = 0;
    loop {
        let mut b = [0u8; 1];
        io.read_exact(&mut b).await?;
        len |= usize::from(b[0] & 0x7f) << (7 * i);
        i += 1;
        if b[0] & 0x80 == 0 {
            if i > 1 && b[0] == 0 {
                return Err(invalid("non-minimal length prefix"));
            }
            break;
        }
        if i == MAX_VARINT_BYTES {
            return Err(invalid("length prefix too long"));
        }
    }
    if len > max {
        return Err(invalid("frame exceeds the size cap"));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

/// Reads one frame of at most `max` bytes from a peer and decodes it. A frame over the cap or
/// that does not decode is counted in `malformed` and refused as `InvalidData`; I/O errors
/// (the peer went away) are not counted.
pub async fn read_decoded<T, M, E>(
    io: &mut T,
    max: usize,
    decode: impl FnOnce(&[u8]) -> Result<M, E>,
    malformed: &prometheus_client::metrics::counter::Counter,
) -> io::Result<M>
where
    T: AsyncRead + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    let decoded = match read(io, max).await {
        Ok(bytes) => decode(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        Err(e) => Err(e),
    };
    if let Err(e) = &decoded {
        if e.kind() == io::ErrorKind::InvalidData {
            malformed.inc();
        }
    }
    decoded
}

/// Writes one frame and flushes it.
pub async fn write<T: AsyncWrite + Unpin>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
    let mut prefix = Vec::with_capacity(5);
    let mut n = bytes.len();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            prefix.push(b);
            break;
        }
        prefix.push(b | 0x80);
    }
    io.write_all(&prefix).await?;
    io.write_all(bytes).await?;
    io.flush().await
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;
    use futures::io::Cursor;

    fn read_all(bytes: &[u8], max: usize) -> io::Result<Vec<u8>> {
        futures::executor::block_on(read(&mut Cursor::new(bytes.to_vec()), max))
    }

    #[test]
    fn round_trip_and_caps() {
        for len in [0usize, 1, 127, 128, 300, 16_384] {
            let mut out = Cursor::new(Vec::new());
            let data = vec![9u8; len];
            futures::executor::block_on(write(&mut out, &data)).unwrap();
            assert_eq!(read_all(out.get_ref(), 16_384).unwrap(), data);
            if len > 0 {
                assert!(read_all(out.get_ref(), len - 1).is_err());
                // Truncated body.
                let b = out.get_ref();
                assert!(read_all(&b[..b.len() - 1], len).is_err());
            }
        }
        // 0x80 0x00 encodes 0 non-minimally; five continuation bytes are too long.
        assert!(read_all(&[0x80, 0x00], 10).is_err());
        assert!(read_all(&[0xff, 0xff, 0xff, 0xff, 0x01], usize::MAX).is_err());
    }
}

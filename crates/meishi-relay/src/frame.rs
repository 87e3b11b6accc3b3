//! Counting what peers send that the relay refuses. The framing itself is
//! [`meishi_event::frame`], the one the node uses too; request-response drops a stream whose
//! request does not read without telling the behaviour, so the relay's codecs count refusals
//! here, on the way out of the reader.

use std::io;

use prometheus_client::metrics::counter::Counter;

/// Passes `read` through, counting it in `malformed` when it is `InvalidData` (a frame over
/// its cap or that does not decode). I/O errors (the peer went away) are not counted.
pub fn counted<M>(read: io::Result<M>, malformed: &Counter) -> io::Result<M> {
    if matches!(&read, Err(e) if e.kind() == io::ErrorKind::InvalidData) {
        malformed.inc();
    }
    read
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a test fails by panicking")]
mod tests {
    use super::*;

    #[test]
    fn only_invalid_data_counts() {
        let c = Counter::default();
        assert_eq!(counted(Ok(1), &c).unwrap(), 1);
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert!(counted::<()>(Err(eof), &c).is_err());
        assert_eq!(c.get(), 0);
        let bad = io::Error::from(io::ErrorKind::InvalidData);
        assert!(counted::<()>(Err(bad), &c).is_err());
        assert_eq!(c.get(), 1);
    }
}

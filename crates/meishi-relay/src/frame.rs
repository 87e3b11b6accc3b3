//! Counting what peers send that the relay refuses. The framing itself is
//! [`meishi_event::frame`], the one the node uses too; request-response drops a stream whose
//! request does not read without telling the behaviour, so the relay's codecs count refusals
//! here, on the way out of the reader.

use std::io;
use std::marker::PhantomData;

use futures::{AsyncRead, AsyncWrite};
use libp2p::request_response;
use libp2p::StreamProtocol;
use meishi_event::frame::{read_message, write_message, Message};
use prometheus_client::metrics::counter::Counter;

/// The request-response codec of one framed relay service (the teaser board, card slots, drop
/// boxes): `Req` and `Resp` framed and decoded by `meishi_event`. The relay's side counts
/// malformed and oversized requests (request-response drops such a stream without telling the
/// behaviour); tests and probes use it as a client.
pub struct FramedCodec<Req, Resp> {
    malformed: Counter,
    kinds: PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp> FramedCodec<Req, Resp> {
    /// A codec that counts refused requests on `malformed` (clones share the count).
    pub fn with_counter(malformed: Counter) -> Self {
        Self {
            malformed,
            kinds: PhantomData,
        }
    }
}

impl<Req, Resp> Default for FramedCodec<Req, Resp> {
    fn default() -> Self {
        Self::with_counter(Counter::default())
    }
}

impl<Req, Resp> Clone for FramedCodec<Req, Resp> {
    fn clone(&self) -> Self {
        Self::with_counter(self.malformed.clone())
    }
}

impl<Req, Resp> std::fmt::Debug for FramedCodec<Req, Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FramedCodec")
            .field("malformed", &self.malformed.get())
            .finish()
    }
}

impl<Req: Message, Resp: Message> request_response::Codec for FramedCodec<Req, Resp> {
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Req>
    where
        T: AsyncRead + Unpin + Send,
    {
        counted(read_message(io).await, &self.malformed)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_message(io).await
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Req) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_message(io, &req).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Resp,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_message(io, &res).await
    }
}

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

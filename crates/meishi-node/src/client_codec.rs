//! The one client-side request/response codec of the relay services the node asks (the teaser
//! board, card slots, drop boxes): it writes a request and reads a response as one frame each,
//! with `meishi_event`'s messages and size caps ([`meishi_event::frame::Message`]), the calls the
//! relay's codecs make. The node only asks (`ProtocolSupport::Outbound`), so the serving half
//! refuses.

use std::io;
use std::marker::PhantomData;

use futures::{AsyncRead, AsyncWrite};
use libp2p::request_response;
use libp2p::StreamProtocol;
use meishi_event::frame::{self, Message};

/// Asks with `Req`, reads `Resp`.
pub(crate) struct ClientCodec<Req, Resp>(PhantomData<fn() -> (Req, Resp)>);

impl<Req, Resp> Default for ClientCodec<Req, Resp> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<Req, Resp> Clone for ClientCodec<Req, Resp> {
    fn clone(&self) -> Self {
        Self::default()
    }
}

fn not_served() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "the node only asks relays; it serves no relay protocol",
    )
}

impl<Req: Message, Resp: Message> request_response::Codec for ClientCodec<Req, Resp> {
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Req) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        frame::write_message(io, &req).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        frame::read_message(io).await
    }

    async fn read_request<T>(&mut self, _: &StreamProtocol, _: &mut T) -> io::Result<Req>
    where
        T: AsyncRead + Unpin + Send,
    {
        Err(not_served())
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, _: &mut T, _: Resp) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        Err(not_served())
    }
}

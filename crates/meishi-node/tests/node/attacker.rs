//! A bare libp2p swarm that speaks the exchange protocol with any codec: the real one, to send
//! crafted envelopes, or a raw one that writes arbitrary bytes on the stream.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::request_response::{self, OutboundFailure, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{noise, tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder};
use meishi_card::Identity;
use meishi_node::protocol::{Codec, Request};
use meishi_node::EXCHANGE_PROTOCOL;

use crate::PATIENCE;

/// Writes the request bytes verbatim; reads whatever comes back, up to 64 KiB.
#[derive(Clone, Default)]
pub struct RawCodec;

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> io::Result<Vec<u8>> {
        Err(io::Error::other("the attacker serves nothing"))
    }
    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        io.take(64 * 1024).read_to_end(&mut out).await?;
        Ok(out)
    }
    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&req).await
    }
    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: Vec<u8>,
    ) -> io::Result<()> {
        Ok(())
    }
}

pub struct Attacker<C: request_response::Codec + Clone + Send + 'static> {
    pub swarm: Swarm<request_response::Behaviour<C>>,
}

pub fn build<C>(id: &Identity, codec: C) -> Attacker<C>
where
    C: request_response::Codec<Protocol = StreamProtocol> + Clone + Send + 'static,
{
    let mut seed: [u8; 32] = *id.seed();
    let key = libp2p::identity::Keypair::ed25519_from_bytes(&mut seed).expect("key");
    let swarm = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("tcp")
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                codec,
                [(EXCHANGE_PROTOCOL, ProtocolSupport::Outbound)],
                request_response::Config::default(),
            )
        })
        .expect("behaviour")
        .build();
    Attacker { swarm }
}

impl<C> Attacker<C>
where
    C: request_response::Codec<Protocol = StreamProtocol> + Clone + Send + 'static,
{
    /// Sends several requests at once and collects every answer, in request order.
    pub async fn send_all(
        &mut self,
        peer: PeerId,
        addr: &Multiaddr,
        requests: Vec<C::Request>,
    ) -> Vec<Result<C::Response, String>> {
        let ids: Vec<_> = requests
            .into_iter()
            .map(|r| {
                self.swarm
                    .behaviour_mut()
                    .send_request_with_addresses(&peer, r, vec![addr.clone()])
            })
            .collect();
        let mut results: Vec<Option<Result<C::Response, String>>> =
            ids.iter().map(|_| None).collect();
        let fut = async {
            while results.iter().any(Option::is_none) {
                let event = self.swarm.select_next_some().await;
                let (id, result) = match event {
                    SwarmEvent::Behaviour(request_response::Event::Message {
                        message:
                            request_response::Message::Response {
                                request_id,
                                response,
                            },
                        ..
                    }) => (request_id, Ok(response)),
                    SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                        request_id,
                        error,
                        ..
                    }) => {
                        let msg = match error {
                            OutboundFailure::Io(e) => format!("io: {e}"),
                            other => other.to_string(),
                        };
                        (request_id, Err(msg))
                    }
                    _ => continue,
                };
                if let Some(i) = ids.iter().position(|x| *x == id) {
                    results[i] = Some(result);
                }
            }
        };
        tokio::time::timeout(PATIENCE, fut)
            .await
            .expect("attacker timed out");
        results
            .into_iter()
            .map(|r| r.expect("every request answered"))
            .collect()
    }

    pub async fn send(
        &mut self,
        peer: PeerId,
        addr: &Multiaddr,
        request: C::Request,
    ) -> Result<C::Response, String> {
        self.send_all(peer, addr, vec![request]).await.remove(0)
    }
}

/// An attacker speaking the real codec.
pub fn framed(id: &Identity) -> Attacker<Codec> {
    build(id, Codec)
}

/// An attacker writing raw bytes.
pub fn raw(id: &Identity) -> Attacker<RawCodec> {
    build(id, RawCodec)
}

pub fn give(bytes: &[u8]) -> Request {
    Request::Give(bytes.to_vec())
}

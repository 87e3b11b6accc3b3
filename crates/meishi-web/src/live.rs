//! `/live`: server-sent events, one per node report or task change, for the open pages.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::broadcast;

use crate::Shared;

pub(crate) async fn stream(
    State(shared): State<Arc<Shared>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = shared.live.subscribe();
    let s = futures::stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(live) => {
                let data = serde_json::to_string(&live).unwrap_or_default();
                Some((Ok(Event::default().event("live").data(data)), rx))
            }
            // A slow page missed some: it reloads its lists on any event.
            Err(broadcast::error::RecvError::Lagged(_)) => Some((
                Ok(Event::default().event("live").data("{\"kind\":\"lagged\"}")),
                rx,
            )),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    });
    Sse::new(s).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

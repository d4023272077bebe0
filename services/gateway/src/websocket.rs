//! `GET /ws`: `SyncService.WatchTasks` for browsers over a WebSocket, JSON frames both ways.
//!
//! 1. The client opens the socket (no token in the URL, where logs and proxies would keep it).
//! 2. Its FIRST message, within [`AUTH_TIMEOUT`], is a text frame `{"accessToken": "<jwt>"}`.
//! 3. The gateway opens the watch exactly as a gRPC `WatchTasks` does (same token check, same
//!    forwarding to sync, same end at token expiry or shutdown), and sends each item as a text
//!    frame holding the `WatchTasksResponse` in proto3 JSON: `{"heartbeat":{}}`,
//!    `{"taskEvent":{...}}`, `{"reminderDue":{...}}`, `{"resyncRequired":{"missedEvents":"3"}}`.
//! 4. It ends with a close frame whose code says why (see [`close_code`]). Later client
//!    messages are ignored; a client close ends the watch.
//!
//! Backpressure holds end to end: a frame is sent only once the previous one was written, so
//! a slow browser slows only its own watch, until sync tells it to resync.

use std::time::Duration;

use axum::{
    Router,
    extract::{
        State, WebSocketUpgrade,
        ws::{CloseFrame, Message, WebSocket},
    },
    response::Response,
    routing::get,
};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use todo_proto::todo::v1::{WatchTasksRequest, sync_service_server::SyncService};
use tonic::{Code, Request, Status};

use crate::forwarding::Forwarder;

/// The path of the WebSocket.
pub const PATH: &str = "/ws";
/// How long a client has to send its first message.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest message the gateway reads (the first message holds one token).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// The close codes of `/ws` (4000–4999 are the application's, RFC 6455 §7.4.2).
pub mod close_code {
    /// The watch ended normally (after `resyncRequired`, say): list, then watch again.
    pub const NORMAL: u16 = 1000;
    /// The first message was not `{"accessToken": "..."}`.
    pub const BAD_FIRST_MESSAGE: u16 = 4400;
    /// The access token is missing, invalid or expired: refresh it and reconnect.
    pub const UNAUTHENTICATED: u16 = 4401;
    /// No first message arrived within [`super::AUTH_TIMEOUT`].
    pub const AUTH_TIMEOUT: u16 = 4408;
    /// The watch failed in a way retrying will not fix.
    pub const INTERNAL: u16 = 4500;
    /// The stream from sync was lost (sync or the gateway restarting): reconnect after a pause.
    pub const UPSTREAM_UNAVAILABLE: u16 = 4503;
}

/// The first message a client sends.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FirstMessage {
    access_token: String,
}

/// The `/ws` route, opening watches through `forwarder`.
pub fn routes(forwarder: Forwarder) -> Router {
    Router::new()
        .route(PATH, get(upgrade))
        .with_state(forwarder)
}

async fn upgrade(State(forwarder): State<Forwarder>, upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .max_message_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| session(socket, forwarder))
}

/// Why a session ends: the close frame's code and reason.
struct Ending(u16, &'static str);

#[tracing::instrument(skip_all, fields(user_id))]
async fn session(socket: WebSocket, forwarder: Forwarder) {
    let (mut sink, mut incoming) = socket.split();
    let ending = watch(&mut sink, &mut incoming, &forwarder).await;
    if let Some(Ending(code, reason)) = ending {
        tracing::debug!(code, reason, "closing websocket");
        let close = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        // The client may be gone already; nothing more to tell it then.
        if sink.send(close).await.is_err() {
            tracing::debug!("websocket gone before its close frame");
        }
    }
}

/// Runs one session; `None` when the client left (nothing to close).
async fn watch(
    sink: &mut (impl futures::Sink<Message> + Unpin),
    incoming: &mut (impl futures::Stream<Item = Result<Message, axum::Error>> + Unpin),
    forwarder: &Forwarder,
) -> Option<Ending> {
    let token = match tokio::time::timeout(AUTH_TIMEOUT, incoming.next()).await {
        Err(_) => return Some(Ending(close_code::AUTH_TIMEOUT, "no access token in time")),
        Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return None,
        Ok(Some(Ok(message))) => match first_token(&message) {
            Some(token) => token,
            None => {
                return Some(Ending(
                    close_code::BAD_FIRST_MESSAGE,
                    "the first message must be {\"accessToken\": \"...\"}",
                ));
            }
        },
    };
    let mut request = Request::new(WatchTasksRequest {});
    let Ok(bearer) = format!("Bearer {token}").parse() else {
        return Some(Ending(close_code::UNAUTHENTICATED, "invalid access token"));
    };
    request.metadata_mut().insert("authorization", bearer);
    let mut items = match SyncService::watch_tasks(forwarder, request).await {
        Ok(response) => response.into_inner(),
        Err(status) => return Some(ending_of(&status)),
    };
    loop {
        tokio::select! {
            item = items.next() => match item {
                Some(Ok(response)) => {
                    let json = match todo_proto::json::to_json(&response).map(String::from_utf8) {
                        Ok(Ok(json)) => json,
                        _ => {
                            tracing::error!("cannot encode a watch item as json");
                            return Some(Ending(close_code::INTERNAL, "internal error"));
                        }
                    };
                    if sink.send(Message::Text(json.into())).await.is_err() {
                        return None;
                    }
                }
                Some(Err(status)) => return Some(ending_of(&status)),
                None => return Some(Ending(close_code::NORMAL, "watch ended; list, then watch again")),
            },
            message = incoming.next() => match message {
                None | Some(Err(_) | Ok(Message::Close(_))) => return None,
                // Pings are answered by the socket itself; anything else is ignored.
                Some(Ok(_)) => {}
            },
        }
    }
}

/// The access token of a first message, if it is one.
fn first_token(message: &Message) -> Option<String> {
    let Message::Text(text) = message else {
        return None;
    };
    let first: FirstMessage = serde_json::from_str(text.as_str()).ok()?;
    let token = first.access_token.trim();
    (!token.is_empty()).then(|| token.to_string())
}

/// The close frame for a watch that ended with `status`.
fn ending_of(status: &Status) -> Ending {
    match status.code() {
        Code::Unauthenticated => Ending(
            close_code::UNAUTHENTICATED,
            "invalid or expired access token; refresh it and reconnect",
        ),
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Aborted => Ending(
            close_code::UPSTREAM_UNAVAILABLE,
            "the watch was lost; reconnect in a moment",
        ),
        _ => Ending(close_code::INTERNAL, "internal error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_access_token_object_is_a_first_message() {
        let cases = [
            (
                "token",
                Message::Text(r#"{"accessToken":"abc"}"#.into()),
                Some("abc"),
            ),
            (
                "blank token",
                Message::Text(r#"{"accessToken":"  "}"#.into()),
                None,
            ),
            (
                "other field",
                Message::Text(r#"{"token":"abc"}"#.into()),
                None,
            ),
            (
                "extra field",
                Message::Text(r#"{"accessToken":"abc","userId":"u"}"#.into()),
                None,
            ),
            ("not json", Message::Text("Bearer abc".into()), None),
            (
                "binary",
                Message::Binary(b"{\"accessToken\":\"abc\"}".to_vec().into()),
                None,
            ),
        ];
        for (case, message, token) in cases {
            assert_eq!(first_token(&message).as_deref(), token, "case: {case}");
        }
    }

    #[test]
    fn statuses_map_to_close_codes() {
        let cases = [
            (Code::Unauthenticated, close_code::UNAUTHENTICATED),
            (Code::Unavailable, close_code::UPSTREAM_UNAVAILABLE),
            (Code::Cancelled, close_code::UPSTREAM_UNAVAILABLE),
            (Code::Internal, close_code::INTERNAL),
            (Code::PermissionDenied, close_code::INTERNAL),
        ];
        for (code, close) in cases {
            assert_eq!(
                ending_of(&Status::new(code, "x")).0,
                close,
                "case: {code:?}"
            );
        }
    }
}

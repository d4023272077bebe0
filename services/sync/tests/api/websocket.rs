//! `/ws`: the token comes in the first message, and the close frame says why a socket ended.

use todo_proto::todo::v1::{self as proto, watch_tasks_response::Item};

use crate::{
    suite::TestSuite,
    websocket_client::{Received, WebSocketWatch},
};

#[tokio::test]
async fn a_socket_without_a_valid_token_in_its_first_message_is_closed_with_a_reason() {
    let suite = TestSuite::start().await;
    let cases = [
        ("forged token", r#"{"accessToken":"not-a-jwt"}"#, 4401),
        ("token as plain text", "Bearer abc", 4400),
        ("no token field", r#"{"token":"abc"}"#, 4400),
    ];
    for (case, first, code) in cases {
        let mut socket = WebSocketWatch::connect(suite.address).await;
        socket.send_text(first).await;
        match socket.receive().await {
            Received::Closed {
                code: closed,
                reason,
            } => {
                assert_eq!(closed, code, "case: {case}: {reason}");
                assert!(!reason.is_empty(), "case: {case}: a reason is given");
            }
            item => panic!("case: {case}: not closed: {item:?}"),
        }
    }
}

#[tokio::test]
async fn a_socket_whose_watch_is_lost_upstream_is_closed_with_4503() {
    let mut suite = TestSuite::start().await;
    let ada = suite.new_user().await;
    let mut socket = WebSocketWatch::open(suite.address, &ada.access_token).await;
    assert_eq!(
        socket.next_item().await.item,
        Some(Item::Heartbeat(proto::Heartbeat {}))
    );
    suite.syncs.remove(0).stop().await;
    match socket.receive().await {
        Received::Closed { code, reason } => {
            assert_eq!(code, 4503, "{reason}");
            assert!(reason.contains("reconnect"), "{reason}");
        }
        item => panic!("not closed: {item:?}"),
    }
}

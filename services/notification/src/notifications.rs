//! `Notifications`: the reads and writes of `NotificationService` on a user's inbox — a page
//! newest first with the unread count, and marking read (retried on etag conflicts, like
//! every write here).

use std::collections::HashSet;

use todo_core::{PageTokenKey, ValidationError, ids::UserId};
use todo_proto::todo::v1 as proto;

use crate::{
    error::Error,
    retry::{MAX_ATTEMPTS, backoff},
    store::NotificationStore,
};

/// The page size when the request gives none.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// The largest page.
pub const MAX_PAGE_SIZE: usize = 200;
/// The most ids one MarkRead may name.
pub const MAX_MARK_READ_IDS: usize = 1_000;

/// A user's notifications.
#[derive(Clone, Debug)]
pub struct Notifications {
    store: NotificationStore,
    page_tokens: PageTokenKey,
}

impl Notifications {
    /// Serves inboxes from `store`, with page tokens sealed by `page_tokens`.
    pub fn new(store: NotificationStore, page_tokens: PageTokenKey) -> Self {
        Self { store, page_tokens }
    }

    /// Returns a page of `user`'s notifications.
    ///
    /// # Errors
    /// `Validation` for a page size outside 0..=200 or a token not made for this listing.
    pub async fn list(
        &self,
        user: &UserId,
        request: &proto::ListNotificationsRequest,
    ) -> Result<proto::ListNotificationsResponse, Error> {
        let scope = page_scope(user, request.unread_only);
        let page_size = match usize::try_from(request.page_size) {
            Ok(0) => DEFAULT_PAGE_SIZE,
            Ok(size) if size <= MAX_PAGE_SIZE => size,
            _ => {
                return Err(ValidationError::single(
                    "page_size",
                    format!("page size must be 0 to {MAX_PAGE_SIZE}"),
                )
                .into());
            }
        };
        let before = if request.page_token.is_empty() {
            None
        } else {
            let position = self
                .page_tokens
                .open(&request.page_token, &scope)
                .map_err(|_| ValidationError::single("page_token", "invalid page token"))?;
            Some(position)
        };
        let (inbox, _) = self.store.read_inbox(user).await?;
        let page = inbox.page(before, request.unread_only, page_size);
        Ok(proto::ListNotificationsResponse {
            notifications: page.notifications.iter().map(|n| n.to_proto()).collect(),
            next_page_token: page
                .next_before
                .map(|position| self.page_tokens.seal(position, &scope))
                .unwrap_or_default(),
            unread_count: i32::try_from(page.unread_count).unwrap_or(i32::MAX),
        })
    }

    /// Marks `ids` of `user`'s notifications read; unknown ids are ignored.
    ///
    /// # Errors
    /// `Validation` for more than 1,000 ids; `Contention` when the inbox keeps changing.
    pub async fn mark_read(&self, user: &UserId, ids: &[String]) -> Result<(), Error> {
        if ids.len() > MAX_MARK_READ_IDS {
            return Err(ValidationError::single(
                "notification_ids",
                format!("at most {MAX_MARK_READ_IDS} ids per call"),
            )
            .into());
        }
        let ids: HashSet<&str> = ids.iter().map(String::as_str).collect();
        for attempt in 1..=MAX_ATTEMPTS {
            let (mut inbox, etag) = self.store.read_inbox(user).await?;
            if inbox.mark_read(&ids) == 0 {
                return Ok(());
            }
            match self.store.write_inbox(user, &inbox, etag.as_ref()).await {
                Err(error) if error.is_conflict() => tokio::time::sleep(backoff(attempt)).await,
                result => return Ok(result?),
            }
        }
        Err(Error::Contention {
            attempts: MAX_ATTEMPTS,
        })
    }
}

/// What a page token is bound to: this service, the user and the filter.
fn page_scope(user: &UserId, unread_only: bool) -> Vec<u8> {
    format!("notification/ListNotifications/{user}/{unread_only}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_scopes_differ_by_user_and_filter() {
        let ada = UserId::parse("5b1f0f4e-9a4c-4c31-b6a2-7f3d2e1c0b9a").unwrap();
        let bob = UserId::parse("0190b6d2-8f3e-4c4a-9d2b-5e6f7a8b9c0d").unwrap();
        let scopes = [
            page_scope(&ada, false),
            page_scope(&ada, true),
            page_scope(&bob, false),
        ];
        assert_ne!(scopes[0], scopes[1]);
        assert_ne!(scopes[0], scopes[2]);
    }
}

//! Service invocation in proxy mode: a generated client of the *target's* service sends its
//! calls to the local sidecar with `dapr-app-id`, and daprd forwards the raw HTTP/2 stream
//! (reference §6). No Dapr-specific messages are involved.

use tonic::{service::interceptor::InterceptedService, transport::Channel};

use super::{APP_ID_HEADER, DaprClient, SidecarInterceptor, metadata_value};
use crate::DaprError;

/// A channel whose calls go to another app through the sidecar; pass it to any generated
/// client, e.g. `TaskServiceClient::new(dapr.app_channel("todo-api")?)`.
pub type AppChannel = InterceptedService<Channel, SidecarInterceptor>;

impl DaprClient {
    /// A channel to the app `app_id` through the sidecar, sharing this client's connection.
    ///
    /// # Errors
    /// [`DaprError::InvalidMetadata`] when `app_id` is not a valid metadata value.
    pub fn app_channel(&self, app_id: &str) -> Result<AppChannel, DaprError> {
        let mut interceptor = self.interceptor.clone();
        interceptor.target_app_id = Some(metadata_value(APP_ID_HEADER, app_id)?);
        Ok(InterceptedService::new(self.channel.clone(), interceptor))
    }

    /// A channel to the app `app_id` whose every call acts for `user_id` (`todo-user-id`); the
    /// target accepts it only if it trusts this app (see [`crate::caller`]).
    ///
    /// # Errors
    /// [`DaprError::InvalidMetadata`] when `app_id` or `user_id` is not a valid metadata value.
    pub fn app_channel_for_user(
        &self,
        app_id: &str,
        user_id: &str,
    ) -> Result<AppChannel, DaprError> {
        let mut interceptor = self.interceptor.clone();
        interceptor.target_app_id = Some(metadata_value(APP_ID_HEADER, app_id)?);
        interceptor.acting_user = Some(metadata_value(crate::caller::USER_ID_HEADER, user_id)?);
        Ok(InterceptedService::new(self.channel.clone(), interceptor))
    }
}

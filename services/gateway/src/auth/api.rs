//! `AuthApi`, the `todo.v1.AuthService` implementation: each RPC converts the request, calls
//! [`Auth`], and converts the answer back. `Me` is the only one that needs an access token.

use todo_core::wire_time::utc_to_timestamp;
use todo_proto::todo::v1::{self as proto, auth_service_server::AuthService};
use tonic::{Request, Response, Status};

use super::{
    Auth, SignedIn, Tokens, accounts::Profile, client_address::client_address,
    credentials::SignUpForm,
};
use crate::error::Error;

/// Serves `todo.v1.AuthService`.
#[derive(Clone, Debug)]
pub struct AuthApi {
    auth: Auth,
    trust_forwarded_for: bool,
}

impl AuthApi {
    /// Serves `auth`; `trust_forwarded_for` decides where client addresses come from.
    pub fn new(auth: Auth, trust_forwarded_for: bool) -> Self {
        Self {
            auth,
            trust_forwarded_for,
        }
    }
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    #[tracing::instrument(skip_all, fields(user_id))]
    async fn sign_up(
        &self,
        request: Request<proto::SignUpRequest>,
    ) -> Result<Response<proto::SignUpResponse>, Status> {
        let client = client_address(
            request.extensions(),
            request.metadata(),
            self.trust_forwarded_for,
        );
        let request = request.into_inner();
        let form = SignUpForm::parse(&request.email, &request.password, &request.display_name)
            .map_err(Error::from)?;
        let signed_in = self.auth.sign_up(form, client).await?;
        record_user(&signed_in);
        let (user, tokens) = into_proto(signed_in);
        Ok(Response::new(proto::SignUpResponse { user, tokens }))
    }

    #[tracing::instrument(skip_all, fields(user_id))]
    async fn sign_in(
        &self,
        request: Request<proto::SignInRequest>,
    ) -> Result<Response<proto::SignInResponse>, Status> {
        let client = client_address(
            request.extensions(),
            request.metadata(),
            self.trust_forwarded_for,
        );
        let request = request.into_inner();
        let signed_in = self
            .auth
            .sign_in(&request.email, &request.password, client)
            .await?;
        record_user(&signed_in);
        let (user, tokens) = into_proto(signed_in);
        Ok(Response::new(proto::SignInResponse { user, tokens }))
    }

    #[tracing::instrument(skip_all)]
    async fn refresh(
        &self,
        request: Request<proto::RefreshRequest>,
    ) -> Result<Response<proto::RefreshResponse>, Status> {
        let tokens = self.auth.refresh(&request.get_ref().refresh_token).await?;
        Ok(Response::new(proto::RefreshResponse {
            tokens: Some(tokens_to_proto(tokens)),
        }))
    }

    #[tracing::instrument(skip_all, fields(user_id))]
    async fn sign_out(
        &self,
        request: Request<proto::SignOutRequest>,
    ) -> Result<Response<proto::SignOutResponse>, Status> {
        // Signing out is an act of a signed-in user, as the proto says: no access token, no call.
        self.auth
            .access_tokens()
            .authenticate_call(request.metadata())?;
        self.auth.sign_out(&request.get_ref().refresh_token).await?;
        Ok(Response::new(proto::SignOutResponse {}))
    }

    #[tracing::instrument(skip_all, fields(user_id))]
    async fn me(
        &self,
        request: Request<proto::MeRequest>,
    ) -> Result<Response<proto::MeResponse>, Status> {
        let verified = self
            .auth
            .access_tokens()
            .authenticate_call(request.metadata())?;
        let profile = self.auth.me(&verified.user).await?;
        Ok(Response::new(proto::MeResponse {
            user: Some(profile_to_proto(profile)),
        }))
    }
}

fn record_user(signed_in: &SignedIn) {
    tracing::Span::current().record(
        "user_id",
        tracing::field::display(&signed_in.profile.user_id),
    );
}

fn into_proto(signed_in: SignedIn) -> (Option<proto::User>, Option<proto::AuthTokens>) {
    (
        Some(profile_to_proto(signed_in.profile)),
        Some(tokens_to_proto(signed_in.tokens)),
    )
}

fn profile_to_proto(profile: Profile) -> proto::User {
    proto::User {
        id: profile.user_id.to_string(),
        email: profile.email,
        display_name: profile.display_name,
        create_time: Some(utc_to_timestamp(profile.create_time)),
    }
}

fn tokens_to_proto(tokens: Tokens) -> proto::AuthTokens {
    proto::AuthTokens {
        access_token: tokens.access.token,
        access_token_expire_time: Some(utc_to_timestamp(tokens.access.expires_at)),
        refresh_token: tokens.refresh.token,
        refresh_token_expire_time: Some(utc_to_timestamp(tokens.refresh.expires_at)),
    }
}

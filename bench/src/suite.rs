//! The suite in process on localdapr in a temporary directory: todo-api, sync and the gateway,
//! each started by its `testsuite` feature, and clients of the gateway.

use std::net::SocketAddr;

use localdapr::testsuite::{ServedApp, TestDapr};
use todo_proto::todo::v1::{self as proto, auth_service_client::AuthServiceClient};
use tonic::transport::{Channel, Endpoint};

/// The running suite; dropping it stops everything and removes the directory.
pub struct Suite {
    /// The gateway's public port.
    pub address: SocketAddr,
    _gateway: gateway::testsuite::TestGateway,
    _services: Vec<ServedApp>,
    _dapr: TestDapr,
}

impl Suite {
    /// Starts the suite with `sync_replicas` sync instances.
    pub async fn start(sync_replicas: usize) -> Self {
        let dapr = TestDapr::start_suite().await;
        let mut services = vec![todo_api::testsuite::spawn(&dapr).await];
        for replica in 0..sync_replicas {
            services
                .push(sync::testsuite::spawn_replica(&dapr, &format!("sync-{replica}"), &[]).await);
        }
        let gateway = gateway::testsuite::spawn(&dapr).await;
        Self {
            address: gateway.address(),
            _gateway: gateway,
            _services: services,
            _dapr: dapr,
        }
    }

    /// A new connection to the gateway.
    pub async fn connect(&self) -> anyhow::Result<Channel> {
        Ok(Endpoint::from_shared(format!("http://{}", self.address))?
            .connect()
            .await?)
    }

    /// Signs up a fresh user and returns their access token.
    pub async fn new_user(&self) -> anyhow::Result<String> {
        let response = AuthServiceClient::new(self.connect().await?)
            .sign_up(proto::SignUpRequest {
                email: format!("bench-{}@example.com", uuid::Uuid::new_v4()),
                password: "correct horse battery".into(),
                display_name: "Bench".into(),
            })
            .await?
            .into_inner();
        response
            .tokens
            .map(|tokens| tokens.access_token)
            .ok_or_else(|| anyhow::anyhow!("sign-up returned no tokens"))
    }
}

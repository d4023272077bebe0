//! The apps localdapr serves: where each instance listens, how to call it (AppCallback, with
//! its app token), and whether it is up. Several instances may share an app id (e.g. sync
//! replicas); calls and job triggers go to one of them, round robin.

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use todo_proto::dapr::proto::runtime::v1::{
    app_callback_alpha_client::AppCallbackAlphaClient, app_callback_client::AppCallbackClient,
    app_callback_health_check_client::AppCallbackHealthCheckClient,
};
use tokio::sync::watch;
use tonic::{
    Request, Status,
    metadata::AsciiMetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

use crate::components::AppInstance;

/// Adds the app API token that the app requires from its sidecar (`APP_API_TOKEN`).
#[derive(Clone, Debug, Default)]
pub struct AppTokenInterceptor {
    token: Option<AsciiMetadataValue>,
}

impl Interceptor for AppTokenInterceptor {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(token) = &self.token {
            request
                .metadata_mut()
                .insert("dapr-api-token", token.clone());
        }
        Ok(request)
    }
}

/// A channel to an app with its token attached.
pub type AppChannel = InterceptedService<Channel, AppTokenInterceptor>;

/// One running instance of an app.
#[derive(Debug)]
pub struct AppInstanceHandle {
    /// A process-unique number, to tell instances of one app apart.
    pub serial: u64,
    /// The app id and instance (`{podName}`) name.
    pub instance: AppInstance,
    /// Where the app listens, if it has an app port.
    pub address: Option<SocketAddr>,
    /// The token the app requires on calls from its sidecar.
    pub app_api_token: Option<String>,
    channel: Option<Channel>,
    interceptor: AppTokenInterceptor,
    connected: watch::Sender<bool>,
    healthy: AtomicBool,
    /// What the app set with `SetMetadata`; like daprd's, it lives as long as the sidecar.
    extended_metadata: RwLock<BTreeMap<String, String>>,
}

impl AppInstanceHandle {
    /// Describes an instance; nothing connects until the app port is up.
    ///
    /// # Errors
    /// When the app token is not a valid metadata value.
    pub fn new(
        instance: AppInstance,
        address: Option<SocketAddr>,
        app_api_token: Option<String>,
    ) -> Result<Self, Status> {
        static SERIAL: AtomicU64 = AtomicU64::new(1);
        let token = app_api_token
            .as_deref()
            .map(|t| {
                t.parse()
                    .map_err(|_| Status::invalid_argument("app api token is not ascii"))
            })
            .transpose()?;
        let channel = address.map(|address| {
            Endpoint::from_shared(format!("http://{address}")).map(|e| {
                e.connect_timeout(Duration::from_secs(2))
                    .tcp_nodelay(true)
                    .max_frame_size(dapr_kit::net::MAX_FRAME_SIZE)
                    .connect_lazy()
            })
        });
        let channel = channel
            .transpose()
            .map_err(|e| Status::invalid_argument(format!("bad app address: {e}")))?;
        Ok(Self {
            serial: SERIAL.fetch_add(1, Ordering::Relaxed),
            instance,
            address,
            app_api_token,
            channel,
            interceptor: AppTokenInterceptor { token },
            connected: watch::Sender::new(false),
            healthy: AtomicBool::new(true),
            extended_metadata: RwLock::default(),
        })
    }

    /// The app id.
    pub fn app_id(&self) -> &str {
        &self.instance.app_id
    }

    /// A channel to the app, with its token; `None` for an app without an app port.
    pub fn channel(&self) -> Option<AppChannel> {
        self.channel
            .clone()
            .map(|c| InterceptedService::new(c, self.interceptor.clone()))
    }

    /// A raw channel to the app (for proxying, where headers are copied as they come).
    pub fn raw_channel(&self) -> Option<Channel> {
        self.channel.clone()
    }

    /// The `AppCallback` client of this instance.
    pub fn callback(&self) -> Option<AppCallbackClient<AppChannel>> {
        self.channel().map(AppCallbackClient::new)
    }

    /// The `AppCallbackAlpha` client of this instance.
    pub fn callback_alpha(&self) -> Option<AppCallbackAlphaClient<AppChannel>> {
        self.channel().map(AppCallbackAlphaClient::new)
    }

    /// The `AppCallbackHealthCheck` client of this instance.
    pub fn health(&self) -> Option<AppCallbackHealthCheckClient<AppChannel>> {
        self.channel().map(AppCallbackHealthCheckClient::new)
    }

    /// Whether the app port accepted a connection and subscriptions were read.
    pub fn is_connected(&self) -> bool {
        *self.connected.borrow()
    }

    /// Whether the app passes its health checks (always, when checks are off).
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Whether deliveries and triggers may go to this instance now.
    pub fn is_available(&self) -> bool {
        self.is_connected() && self.is_healthy()
    }

    pub(crate) fn set_connected(&self, connected: bool) {
        self.connected.send_replace(connected);
    }

    pub(crate) fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
    }

    /// Stores one attribute of the sidecar's extended metadata (`SetMetadata`).
    pub fn set_extended_metadata(&self, key: String, value: String) {
        if let Ok(mut metadata) = self.extended_metadata.write() {
            metadata.insert(key, value);
        }
    }

    /// The sidecar's extended metadata, as `SetMetadata` left it.
    pub fn extended_metadata(&self) -> BTreeMap<String, String> {
        self.extended_metadata
            .read()
            .map(|metadata| metadata.clone())
            .unwrap_or_default()
    }

    /// Resolves once the instance is connected.
    pub async fn wait_connected(&self) {
        let mut receiver = self.connected.subscribe();
        // The sender lives as long as self, so this only ends when connected.
        let _ = receiver.wait_for(|connected| *connected).await;
    }
}

/// Every app instance this runtime serves.
#[derive(Debug, Default)]
pub struct AppRegistry {
    instances: RwLock<HashMap<String, Vec<Arc<AppInstanceHandle>>>>,
    next: AtomicUsize,
    changed: tokio::sync::Notify,
}

impl AppRegistry {
    /// Adds an instance.
    pub fn insert(&self, handle: Arc<AppInstanceHandle>) {
        if let Ok(mut instances) = self.instances.write() {
            instances
                .entry(handle.app_id().to_string())
                .or_default()
                .push(handle);
        }
        self.changed.notify_waiters();
    }

    /// Removes an instance.
    pub fn remove(&self, handle: &AppInstanceHandle) {
        if let Ok(mut instances) = self.instances.write()
            && let Some(list) = instances.get_mut(handle.app_id())
        {
            list.retain(|h| h.serial != handle.serial);
        }
        self.changed.notify_waiters();
    }

    /// The instances of `app_id`.
    pub fn instances_of(&self, app_id: &str) -> Vec<Arc<AppInstanceHandle>> {
        self.instances
            .read()
            .map(|i| i.get(app_id).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    /// Whether any instance of `app_id` was ever registered.
    pub fn knows(&self, app_id: &str) -> bool {
        self.instances.read().is_ok_and(|i| i.contains_key(app_id))
    }

    /// Whether some instance of `app_id` is connected, healthy or not.
    pub fn has_connected(&self, app_id: &str) -> bool {
        self.instances_of(app_id)
            .iter()
            .any(|instance| instance.is_connected())
    }

    /// An available instance of `app_id` to call, or why there is none.
    ///
    /// # Errors
    /// [`Unreachable`]: the app is unknown, has not connected yet, or fails its health checks.
    pub fn target(&self, app_id: &str) -> Result<Arc<AppInstanceHandle>, Unreachable> {
        if let Some(instance) = self.pick(app_id) {
            return Ok(instance);
        }
        Err(if self.has_connected(app_id) {
            Unreachable::Unhealthy
        } else if self.knows(app_id) {
            Unreachable::NotConnected
        } else {
            Unreachable::Unknown
        })
    }

    /// An available instance of `app_id`, round robin; `None` when none is up.
    pub fn pick(&self, app_id: &str) -> Option<Arc<AppInstanceHandle>> {
        let available: Vec<_> = self
            .instances_of(app_id)
            .into_iter()
            .filter(|h| h.is_available())
            .collect();
        if available.is_empty() {
            return None;
        }
        let index = self.next.fetch_add(1, Ordering::Relaxed) % available.len();
        available.get(index).cloned()
    }

    /// Resolves the next time an instance is added, removed, connected or changes health.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    pub(crate) fn notify_changed(&self) {
        self.changed.notify_waiters();
    }
}

/// Why no instance of an app can take a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unreachable {
    /// No sidecar of that app id was ever started.
    Unknown,
    /// Its sidecars run, but no app port has accepted a connection yet.
    NotConnected,
    /// Connected, but failing its health checks (reference §2.6).
    Unhealthy,
}

impl Unreachable {
    /// How localdapr words it after the app id ("app id X is unknown").
    pub fn reason(self) -> &'static str {
        match self {
            Self::Unknown => "is unknown",
            Self::NotConnected => "is not connected",
            Self::Unhealthy => "is not in a healthy state",
        }
    }
}

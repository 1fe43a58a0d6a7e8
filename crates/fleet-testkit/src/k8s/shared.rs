//! The state every part of the fake shares: the object store, the knobs and the address the
//! server answers on. The HTTP side and the simulated controllers both hold an `Arc` of it.

use std::sync::Arc;

use super::auth::AuthState;
use super::knobs::Knobs;
use super::kubeconfig::Kubeconfigs;
use super::store::Store;

/// State shared by the server and the controllers.
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) knobs: Arc<Knobs>,
    pub(crate) address: String,
    pub(crate) kubeconfigs: Kubeconfigs,
    pub(crate) auth: AuthState,
}

//! kiln-kube as an execution backend ([`kiln_backend::ExecutionBackend`]): the one place a
//! build's pod and its stages' pods are acquired, for the server and `kiln run --kubeconfig`
//! alike. `kube_backend.rs` is the seam's implementation, `request.rs` the one reading of an
//! agent into a pod's request (a `dockerfile` agent's image built first), `server.rs` the
//! server's settings, `lease.rs` a pod while a build or stage holds it.

pub(crate) mod kube_backend;
pub(crate) mod lease;
pub(crate) mod request;
pub(crate) mod server;

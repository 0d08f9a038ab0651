//! The agent link: how the kiln agent gets into each step container (its init container and
//! command), how kiln reaches it (port-forward through the API server, or the agent dialling
//! kiln over TLS with kiln's own CA), and the protocol client that runs and follows processes
//! over it. Knows connections and processes, not pod lifecycles (it only reads
//! [`crate::pod::status::Health`]).

pub(crate) mod client;
pub(crate) mod install;
pub(crate) mod link;
pub(crate) mod tls;

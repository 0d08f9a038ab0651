//! The agent link: how kiln reaches the kiln agent in each step container (port-forward
//! through the API server, or the agent dialling kiln), the protocol client that runs and
//! follows processes over it, and the per-build token agents authenticate with. Knows
//! connections and processes, not pods (it only reads [`crate::pod::status::Health`]).

pub(crate) mod client;
pub(crate) mod link;
pub(crate) mod token;

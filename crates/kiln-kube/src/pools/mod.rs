//! Where pods come from: warm pools of ready pods per template, the `max_concurrent_pods`
//! slots every pod holds, and the pod source that hands builds a warm or a new pod.

pub(crate) mod slots;
pub(crate) mod source;
pub(crate) mod warm;

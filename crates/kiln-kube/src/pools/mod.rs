//! Where pods come from: the server's pod source (a warm pod from a template's pool, or a new
//! one, each holding one of the `max_concurrent_pods` slots), and `kiln run --kubeconfig`'s
//! cluster reached from a laptop.

pub(crate) mod local_run;
pub(crate) mod source;
pub(crate) mod warm;

//! End-to-end tests of the engine: real pipelines (parsed, planned) run by `BuildRun` with
//! the local executor in temporary directories, and (`virtual_time`) with the test kit's fake
//! executor on a paused clock. No test asserts on real time.

mod harness;

mod agents;
mod artifacts;
mod cancel;
mod concurrency;
mod credentials;
mod docker;
mod docker_pods;
mod environment;
mod failed_step;
mod files;
mod flow;
mod input;
mod kaniko;
mod libraries;
mod locks;
mod scm;
mod scripts;
mod sequential;
mod virtual_time;

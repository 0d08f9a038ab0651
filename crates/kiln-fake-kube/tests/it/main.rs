//! End-to-end tests: the fake driven by kube-rs and by the real kubectl.

mod admission;
mod cluster;
mod deploy;
mod deploy_ha;
mod faults;
mod harness;
mod kube_client;
mod kubectl;
mod rbac;
mod sandbox;

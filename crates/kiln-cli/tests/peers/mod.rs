//! Real peers for the notification steps' end-to-end tests, each on 127.0.0.1 in a thread
//! of the test: an SMTP server speaking the protocol to lettre, and an HTTP server that
//! records every request and answers through a function of the test (standing in for
//! Slack, SonarQube, Vault and any `httpRequest` target as their API documents define), and on top of it a
//! fake GitHub and GitLab.

#[allow(dead_code, reason = "only the forge tests use the fake forge")]
pub mod forge;
pub mod http;
pub mod smtp;

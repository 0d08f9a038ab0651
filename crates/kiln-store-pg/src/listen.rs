//! `LISTEN` on a connection of its own: its notifications are read by a task on the store's
//! runtime, which hands each on as a [`Signal`].
//!
//! | channel               | payload     | sent when                                  |
//! |-----------------------|-------------|--------------------------------------------|
//! | `kiln_new_build`      | `JOB#N`     | a build is created                         |
//! | `kiln_log`            | `JOB#N`     | a build's log grew                         |
//! | `kiln_control`        | owner's id  | a control is sent to a build it drives     |
//! | `kiln_control_answer` | control id  | a control was answered                     |

use crate::error::query;
use kiln_store::{Signal, StoreError};
use kiln_types::{BuildRef, JobName};
use tokio::sync::mpsc::{Receiver, Sender};
use tokio_postgres::tls::TlsStream;
use tokio_postgres::{AsyncMessage, Connection, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

pub(crate) const NEW_BUILD_CHANNEL: &str = "kiln_new_build";
pub(crate) const LOG_CHANNEL: &str = "kiln_log";
pub(crate) const CONTROL_CHANNEL: &str = "kiln_control";
pub(crate) const ANSWER_CHANNEL: &str = "kiln_control_answer";

/// Notifications kept for a slow receiver before they are dropped.
const BACKLOG: usize = 4096;

pub(crate) async fn listen(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
) -> Result<Receiver<Signal>, StoreError> {
    let (client, connection) = config.connect(tls).await.map_err(query)?;
    let (tx, rx) = tokio::sync::mpsc::channel(BACKLOG);
    let reader = tokio::spawn(read(connection, tx));
    let listen = [
        NEW_BUILD_CHANNEL,
        LOG_CHANNEL,
        CONTROL_CHANNEL,
        ANSWER_CHANNEL,
    ]
    .map(|c| format!("LISTEN {c};"))
    .concat();
    if let Err(e) = client.batch_execute(&listen).await {
        reader.abort();
        return Err(query(e));
    }
    // The connection closes with its client: keep it until the reader stops.
    tokio::spawn(async move {
        let _client = client;
        let _ = reader.await;
    });
    Ok(rx)
}

/// Reads the connection's messages until it ends or nobody receives.
async fn read<T>(mut connection: Connection<Socket, T>, tx: Sender<Signal>)
where
    T: TlsStream + Unpin,
{
    loop {
        let message = tokio::select! {
            m = std::future::poll_fn(|cx| connection.poll_message(cx)) => m,
            () = tx.closed() => break,
        };
        match message {
            Some(Ok(AsyncMessage::Notification(n))) => {
                if let Some(signal) = parse(n.channel(), n.payload()) {
                    // A full channel drops the wake-up; the receiver looks for itself.
                    let _ = tx.try_send(signal);
                }
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => {
                tracing::warn!(%error, "the PostgreSQL notification connection failed");
                break;
            }
            None => break,
        }
    }
}

fn parse(channel: &str, payload: &str) -> Option<Signal> {
    match channel {
        NEW_BUILD_CHANNEL => build(payload).map(Signal::NewBuild),
        LOG_CHANNEL => build(payload).map(Signal::LogGrew),
        CONTROL_CHANNEL => Some(Signal::Control {
            owner: payload.to_owned(),
        }),
        ANSWER_CHANNEL => payload.parse().ok().map(Signal::ControlAnswered),
        _ => None,
    }
}

/// `JOB#N` as the store sends it.
fn build(payload: &str) -> Option<BuildRef> {
    let (job, number) = payload.rsplit_once('#')?;
    Some(BuildRef {
        job: JobName::new(job).ok()?,
        number: number.parse().ok()?,
    })
}

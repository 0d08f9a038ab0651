//! `LISTEN` for new builds on a connection of its own: its messages are read by a task on
//! the store's runtime, which hands each notification on as a [`BuildRef`].

use crate::claims::NEW_BUILD_CHANNEL;
use crate::error::query;
use kiln_store::StoreError;
use kiln_types::{BuildRef, JobName};
use tokio::sync::mpsc::{Receiver, Sender};
use tokio_postgres::tls::TlsStream;
use tokio_postgres::{AsyncMessage, Connection, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

/// Notifications kept for a slow receiver before they are dropped.
const BACKLOG: usize = 1024;

pub(crate) async fn listen(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
) -> Result<Receiver<BuildRef>, StoreError> {
    let (client, connection) = config.connect(tls).await.map_err(query)?;
    let (tx, rx) = tokio::sync::mpsc::channel(BACKLOG);
    let reader = tokio::spawn(read(connection, tx));
    if let Err(e) = client
        .batch_execute(&format!("LISTEN {NEW_BUILD_CHANNEL}"))
        .await
    {
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
async fn read<T>(mut connection: Connection<Socket, T>, tx: Sender<BuildRef>)
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
                if let Some(build) = parse(n.payload()) {
                    // A full channel drops the wake-up; the receiver looks for itself.
                    let _ = tx.try_send(build);
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

/// `JOB#N` as `create_build` sends it.
fn parse(payload: &str) -> Option<BuildRef> {
    let (job, number) = payload.rsplit_once('#')?;
    Some(BuildRef {
        job: JobName::new(job).ok()?,
        number: number.parse().ok()?,
    })
}

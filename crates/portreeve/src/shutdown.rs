//! How the long-running commands (`agent`, `server`) learn to stop.

/// Completes at the first SIGTERM or SIGINT.
pub async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        (Err(e), _) | (_, Err(e)) => {
            // Without handlers the signals' default action still ends the
            // process; say that it will not stop cleanly.
            tracing::error!(error = %e, "cannot handle SIGTERM/SIGINT");
            std::future::pending::<()>().await;
        }
    }
}

//! Downtime at the socket level: [`FaultListener`] closes the listening socket while a
//! `downtime` window is open (clients get "connection refused") and binds the same address
//! again afterwards; every accepted connection is a [`FaultIo`] that fails with a reset once a
//! downtime starts, so live HTTP keep-alive and WebSocket connections are cut too.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::WaitForCancellationFutureOwned;
use tracing::{debug, warn};

use super::SimFaults;

/// Pause before retrying a failed bind or accept.
const RETRY: Duration = Duration::from_millis(50);

/// The simulator's listener: a TCP listener that can go away for a downtime window.
pub(crate) struct FaultListener {
    inner: Option<TcpListener>,
    addr: SocketAddr,
    faults: SimFaults,
    changed_rx: watch::Receiver<u64>,
}

impl FaultListener {
    pub fn new(listener: TcpListener, addr: SocketAddr, faults: SimFaults) -> Self {
        let changed_rx = faults.subscribe();
        Self {
            inner: Some(listener),
            addr,
            faults,
            changed_rx,
        }
    }

    async fn changed(changed_rx: &mut watch::Receiver<u64>) {
        if changed_rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Listener for FaultListener {
    type Io = FaultIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (FaultIo, SocketAddr) {
        loop {
            if self.faults.down() {
                if self.inner.take().is_some() {
                    debug!(addr = %self.addr, "downtime: listener closed");
                }
                Self::changed(&mut self.changed_rx).await;
                continue;
            }
            let Some(listener) = self.inner.as_ref() else {
                match TcpListener::bind(self.addr).await {
                    Ok(listener) => {
                        debug!(addr = %self.addr, "downtime over: listening again");
                        self.inner = Some(listener);
                    }
                    Err(error) => {
                        warn!(%error, addr = %self.addr, "cannot bind again after downtime");
                        tokio::time::sleep(RETRY).await;
                    }
                }
                continue;
            };
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let kill = self.faults.kill_token().cancelled_owned();
                        return (FaultIo { stream, kill: Box::pin(kill) }, peer);
                    }
                    Err(error) => {
                        debug!(%error, "accept failed");
                        tokio::time::sleep(RETRY).await;
                    }
                },
                () = Self::changed(&mut self.changed_rx) => {}
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

/// An accepted connection that fails with `ConnectionReset` once a downtime starts.
pub(crate) struct FaultIo {
    stream: TcpStream,
    kill: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl FaultIo {
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.kill.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::ErrorKind::ConnectionReset.into()),
            Poll::Pending => Ok(()),
        }
    }
}

impl AsyncRead for FaultIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for FaultIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

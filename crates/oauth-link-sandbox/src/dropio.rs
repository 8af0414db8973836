//! A listener whose connections can break mid-response (the `drop` fault).
//!
//! A response carrying the header `x-sandbox-fault: drop` is written up to its headers and
//! half its body; then the connection fails, so the client sees the status and headers
//! followed by a connection closed before the promised `Content-Length`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

pub(crate) const MARKER: &[u8] = b"x-sandbox-fault: drop\r\n";

/// Wraps a [`TcpListener`], handing out [`FaultIo`] connections.
#[derive(Debug)]
pub(crate) struct DropListener(pub(crate) TcpListener);

impl axum::serve::Listener for DropListener {
    type Io = FaultIo;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((s, a)) => {
                    let _ = s.set_nodelay(true);
                    return (FaultIo { inner: s, pending: None, broken: false }, a);
                }
                Err(e) => {
                    tracing::debug!("accept error: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// A TCP connection that honours the drop marker.
#[derive(Debug)]
pub(crate) struct FaultIo {
    inner: TcpStream,
    pending: Option<(Vec<u8>, usize)>,
    broken: bool,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What to send of `buf` (which holds `MARKER` at `pos`): headers without the marker and
/// half of the body.
pub(crate) fn cut(buf: &[u8], pos: usize) -> Vec<u8> {
    let mut out = buf[..pos].to_vec();
    out.extend_from_slice(&buf[pos + MARKER.len()..]);
    match find(&out, b"\r\n\r\n") {
        Some(h) => {
            let body_start = h + 4;
            let keep = body_start + (out.len() - body_start) / 2;
            out.truncate(keep);
            out
        }
        None => out,
    }
}

impl AsyncRead for FaultIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for FaultIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.broken {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "sandbox fault: connection dropped")));
        }
        if this.pending.is_none() {
            match find(buf, MARKER) {
                Some(pos) => this.pending = Some((cut(buf, pos), 0)),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        loop {
            let Some((data, off)) = this.pending.as_mut() else { unreachable!("pending is set above") };
            if *off >= data.len() {
                this.broken = true;
                this.pending = None;
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "sandbox fault: connection dropped",
                )));
            }
            match Pin::new(&mut this.inner).poll_write(cx, &data[*off..]) {
                Poll::Ready(Ok(n)) => *off += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_removes_marker_and_half_the_body() {
        let resp = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\nx-sandbox-fault: drop\r\n\r\n0123456789";
        let pos = find(resp, MARKER).unwrap();
        let out = cut(resp, pos);
        assert_eq!(out, b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n01234".to_vec());
    }
}

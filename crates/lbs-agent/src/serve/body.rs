//! A request body that must keep coming: after a grace period it must have arrived at a least
//! rate, or reading it fails (the handler answers 400 and the connection is closed). Hyper bounds
//! the time to send the headers, not the body; without this a client sending a byte a second
//! would hold its connection, and a handler, for as long as it likes.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// How long a body may take before the rate counts, and the least rate after that.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub grace: Duration,
    pub bytes_per_sec: u64,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            grace: Duration::from_secs(10),
            bytes_per_sec: 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request body came too slowly (less than {0} bytes a second)")]
pub struct TooSlow(u64);

pub struct Paced<B> {
    inner: B,
    pace: Pace,
    /// Set at the first read (a handler may read the body late; the client cannot send ahead
    /// of that by more than the socket's buffers).
    started: Option<Instant>,
    received: u64,
    deadline: Pin<Box<Sleep>>,
}

impl<B> Paced<B> {
    pub fn new(inner: B, pace: Pace) -> Self {
        Paced {
            inner,
            pace,
            started: None,
            received: 0,
            deadline: Box::pin(tokio::time::sleep(pace.grace)),
        }
    }

    /// When the bytes received so far stop being enough.
    fn due(&self, started: Instant) -> Instant {
        let earned = Duration::from_secs_f64(self.received as f64 / self.pace.bytes_per_sec.max(1) as f64);
        started + self.pace.grace + earned
    }
}

impl<B> Body for Paced<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let started = *this.started.get_or_insert_with(|| {
            let now = Instant::now();
            this.deadline.as_mut().reset(now + this.pace.grace);
            now
        });
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                    let due = this.due(started);
                    this.deadline.as_mut().reset(due);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(TooSlow(this.pace.bytes_per_sec).into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A body fed by hand: a frame whenever the test sends one.
    struct Fed(tokio::sync::mpsc::Receiver<Bytes>);

    impl Body for Fed {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_byte_a_second_fails_after_the_grace_and_a_steady_body_does_not() {
        let pace = Pace {
            grace: Duration::from_secs(10),
            bytes_per_sec: 100,
        };
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let slow = tokio::spawn(async move {
            for _ in 0..60 {
                if tx.send(Bytes::from_static(b"x")).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let started = Instant::now();
        let err = Paced::new(Fed(rx), pace).collect().await.expect_err("too slow");
        assert!(err.to_string().contains("too slowly"), "{err}");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(10) && took < Duration::from_secs(12),
            "{took:?}"
        );
        slow.abort();

        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            for _ in 0..30 {
                let _ = tx.send(Bytes::from(vec![0u8; 200])).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let body = Paced::new(Fed(rx), pace).collect().await.expect("steady").to_bytes();
        assert_eq!(body.len(), 6000);
    }
}

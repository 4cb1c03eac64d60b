//! Cutting a request off at its deadline by the worker's own timer, with no timer per request.
//!
//! The worker keeps a [`CutOff`] per request and [`CutOff::cut`]s it when the deadline passes;
//! the request's future ([`guarded`]) sees it the next time it is polled, after its exchange
//! has had its chance to finish: an answer that already arrived wins over a deadline passed
//! meanwhile, as it does with `tokio::time::timeout` (an `Abortable` checks its flag first, and
//! would report such an answer as a timeout and send the event again). A panic inside the
//! exchange ends that request as a connection error (retried), not the worker's task with every
//! request of the integration.

use crate::client::{Answer, NoAnswer};
use futures_util::task::AtomicWaker;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;

/// The worker's handle on one request's deadline.
#[derive(Clone, Default)]
pub(crate) struct CutOff(Arc<Inner>);

#[derive(Default)]
struct Inner {
    cut: AtomicBool,
    waker: AtomicWaker,
}

impl CutOff {
    /// The deadline passed: the request ends (as `None`) when next polled, unless its answer is
    /// there by then.
    pub(crate) fn cut(&self) {
        self.0.cut.store(true, Ordering::Release);
        self.0.waker.wake();
    }
}

/// Runs `exchange` until it ends (`Some`) or `cut_off` is cut (`None`).
pub(crate) async fn guarded<F>(exchange: F, cut_off: CutOff) -> Option<Result<Answer, NoAnswer>>
where
    F: Future<Output = Result<Answer, NoAnswer>>,
{
    let mut exchange = std::pin::pin!(exchange);
    std::future::poll_fn(move |cx| {
        match std::panic::catch_unwind(AssertUnwindSafe(|| exchange.as_mut().poll(cx))) {
            Ok(Poll::Ready(answer)) => return Poll::Ready(Some(answer)),
            Ok(Poll::Pending) => {}
            // Never polled again: the request is over.
            Err(_) => {
                return Poll::Ready(Some(Err(NoAnswer::Io(
                    "the request failed inside the HTTP client (a panic); retried".into(),
                ))));
            }
        }
        cut_off.0.waker.register(cx.waker());
        if cut_off.0.cut.load(Ordering::Acquire) {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn answer() -> Result<Answer, NoAnswer> {
        Ok(Answer {
            status: 200,
            body: bytes::Bytes::new(),
            retry_after: None,
        })
    }

    #[tokio::test]
    async fn an_answer_already_there_wins_over_a_deadline_passed_meanwhile() {
        let cut = CutOff::default();
        cut.cut();
        let got = guarded(async { answer() }, cut).await;
        assert!(matches!(got, Some(Ok(a)) if a.status == 200));
    }

    #[tokio::test]
    async fn a_request_still_waiting_ends_when_cut() {
        let cut = CutOff::default();
        let waiting = tokio::spawn(guarded(std::future::pending(), cut.clone()));
        tokio::time::sleep(Duration::from_millis(20)).await;
        cut.cut();
        let got = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("woken by the cut")
            .expect("no panic");
        assert!(got.is_none());
    }

    #[tokio::test]
    async fn a_panic_in_the_exchange_ends_the_request_not_its_caller() {
        let got = guarded(
            async {
                if std::hint::black_box(true) {
                    panic!("inside the client");
                }
                answer()
            },
            CutOff::default(),
        )
        .await;
        assert!(matches!(got, Some(Err(NoAnswer::Io(_)))), "{got:?}");
    }
}

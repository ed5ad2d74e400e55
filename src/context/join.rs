//! Several upstream calls of one request at once: the platform's cap on open
//! connections, and the helpers that drive futures together within it.

use crate::io::BoxFut;

/// Drives several futures at once and returns their outputs in order, so
/// independent upstream calls overlap (Workers allow six open at a time and
/// queue the rest).
pub(crate) async fn join_all<'a, T>(futs: Vec<BoxFut<'a, T>>) -> Vec<T> {
    join_bounded(futs, usize::MAX).await
}

/// The most upstream connections one Workers request may have open at once;
/// work that must never queue behind the platform runs at most this many.
pub(crate) const MAX_OPEN_CONNECTIONS: usize = 6;

/// Like [`join_all`], but at most `limit` futures run at a time; the others
/// start in order as running ones finish. A future does nothing until it is
/// first polled, so the ones waiting their turn have sent nothing yet.
pub(crate) async fn join_bounded<'a, T>(futs: Vec<BoxFut<'a, T>>, limit: usize) -> Vec<T> {
    let n = futs.len();
    let mut slots: Vec<(Option<BoxFut<'a, T>>, Option<T>)> =
        futs.into_iter().map(|f| (Some(f), None)).collect();
    let (mut started, mut running) = (0, 0);
    std::future::poll_fn(|cx| loop {
        while running < limit.max(1) && started < n {
            started += 1;
            running += 1;
        }
        let mut finished = false;
        for (fut, out) in slots[..started].iter_mut() {
            if let Some(f) = fut {
                if let std::task::Poll::Ready(v) = f.as_mut().poll(cx) {
                    *out = Some(v);
                    *fut = None;
                    running -= 1;
                    finished = true;
                }
            }
        }
        if running == 0 && started == n {
            return std::task::Poll::Ready(());
        }
        // A finished future frees a place: start the next ones in this same poll.
        if !finished || started == n {
            return std::task::Poll::Pending;
        }
    })
    .await;
    slots.into_iter().filter_map(|(_, o)| o).collect()
}

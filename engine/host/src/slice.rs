//! Slices: a running flow is interrupted at the end of every slice and yields
//! to the async executor, so whoever polls invocations (the engine's fair
//! slices) decides what runs next. A ticker thread advances wasmtime's epoch
//! once per slice, but only while some invocation is running: an idle host
//! costs no wakeups.
//!
//! At the end of a slice the invocation's future returns pending. Under
//! [`poll_slice`], it does so without waking its task, and the scheduler
//! says when it runs again; otherwise it wakes itself, as a plain yield.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::thread::{self, Thread};
use std::time::Duration;
use wasmtime::{Engine, EngineWeak};

/// Owns the ticker thread; dropping it stops the thread.
pub(crate) struct Ticker {
    shared: Arc<Shared>,
    thread: Thread,
}

struct Shared {
    running: AtomicUsize,
    stopped: AtomicBool,
}

/// Held while an invocation runs; the ticker ticks while any is held.
pub(crate) struct Running<'a>(&'a Ticker);

impl Ticker {
    /// Starts the thread that advances `engine`'s epoch every `slice`.
    pub(crate) fn start(engine: &Engine, slice: Duration) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            running: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
        });
        let weak = engine.weak();
        let ticking = Arc::clone(&shared);
        let handle = thread::Builder::new()
            .name("stagecraft-slices".into())
            .spawn(move || tick(&weak, &ticking, slice))?;
        Ok(Self {
            shared,
            thread: handle.thread().clone(),
        })
    }

    /// Marks an invocation as running until the guard is dropped.
    pub(crate) fn running(&self) -> Running<'_> {
        if self.shared.running.fetch_add(1, Ordering::AcqRel) == 0 {
            self.thread.unpark();
        }
        Running(self)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.shared.running.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

fn tick(engine: &EngineWeak, shared: &Shared, slice: Duration) {
    while !shared.stopped.load(Ordering::Acquire) {
        if shared.running.load(Ordering::Acquire) == 0 {
            // An unpark between the load and here makes this return at once.
            thread::park();
            continue;
        }
        thread::sleep(slice);
        match engine.upgrade() {
            Some(engine) => engine.increment_epoch(),
            None => return,
        }
    }
}

thread_local! {
    /// While a scheduler polls an invocation: whether its slice ended.
    /// `None` when nothing schedules slices on this thread.
    static SLICE_ENDED: Cell<Option<bool>> = const { Cell::new(None) };
}

/// Polls `invocation` and says whether a flow's slice ended in that poll.
///
/// A slice that ends under `poll_slice` does not wake its task: the caller
/// decides when it runs again and must wake it then. Without `poll_slice`
/// (a plain `.await`), the end of a slice is an ordinary yield.
pub fn poll_slice<F: Future + ?Sized>(
    invocation: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> (Poll<F::Output>, bool) {
    let outer = SLICE_ENDED.replace(Some(false));
    let poll = invocation.poll(cx);
    let ended = SLICE_ENDED.replace(outer) == Some(true);
    (poll, ended)
}

/// The end of a slice: pending once, then ready.
pub fn end_of_slice() -> impl Future<Output = ()> + Send + 'static {
    EndOfSlice { ended: false }
}

struct EndOfSlice {
    ended: bool,
}

impl Future for EndOfSlice {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.ended {
            return Poll::Ready(());
        }
        self.ended = true;
        let scheduled = SLICE_ENDED.with(|ended| match ended.get() {
            Some(_) => {
                ended.set(Some(true));
                true
            }
            None => false,
        });
        if !scheduled {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

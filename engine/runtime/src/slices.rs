//! Fair slices: flow invocations share the CPU by orchestration, then by
//! flow, not by arrival.
//!
//! The host ends a running flow's slice every [`CpuShares::slice`] and makes
//! it yield. An invocation is only polled while it holds one of a few lanes
//! (by default one per async worker thread); each poll is timed and charged
//! to its orchestration and its flow. When a lane frees, it goes to the
//! waiting invocation whose orchestration, then flow, has used the least CPU
//! recently for its weight (use decays with a half-life). An invocation
//! that arrives outranking one that has run for a tenth of a slice ends the
//! running slices at once. A runaway flow so runs on the CPU nobody else
//! wants, and an ordinary flow hardly waits. A flow blocked in a host call (a
//! sleep) holds no lane: only time spent running is charged. An invocation
//! that runs past [`CpuShares::background_after`] goes on on background
//! threads at a low OS priority, and for a half-life its flow's next
//! invocations start there.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How flow invocations share the CPU: fair slices' knobs.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuShares {
    /// How long a flow runs before it yields its lane.
    pub slice: Duration,
    /// Invocations running on the engine's threads at once; `None`: one per
    /// async worker thread.
    pub lanes: Option<usize>,
    /// How long past use counts: it counts half as much after each
    /// half-life.
    pub half_life: Duration,
    /// An invocation that has run this long continues on the background
    /// threads, which run below the engine's OS priority: the CPU it wants
    /// is what the engine, its requests and ordinary flows leave. `None`:
    /// every invocation stays on the engine's threads.
    pub background_after: Option<Duration>,
    /// Weights of orchestrations (1 when not named): one of weight 2 gets
    /// twice the CPU of one of weight 1 when both want more than there is.
    pub orchestration_weights: HashMap<String, u32>,
    /// Weights of flows within an orchestration's share (1 when not named).
    pub flow_weights: HashMap<String, u32>,
}

impl Default for CpuShares {
    fn default() -> Self {
        Self {
            slice: stagecraft_host::DEFAULT_SLICE,
            lanes: None,
            half_life: Duration::from_secs(1),
            background_after: Some(Duration::from_millis(2)),
            orchestration_weights: HashMap::new(),
            flow_weights: HashMap::new(),
        }
    }
}

/// Whose CPU an invocation uses.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    orchestration: Arc<str>,
    flow: Arc<str>,
}

impl Account {
    pub(crate) fn new(orchestration: &str, flow: &str) -> Self {
        Self {
            orchestration: orchestration.into(),
            flow: flow.into(),
        }
    }
}

/// The lanes and the CPU use of every orchestration and flow.
pub(crate) struct Slices {
    /// Decay per second of past use: ln 2 / half-life.
    decay: f64,
    orchestration_weights: HashMap<String, f64>,
    flow_weights: HashMap<String, f64>,
    /// How long (seconds) an invocation runs before one that outranks it
    /// may end its slice early.
    min_run: f64,
    /// Ends every running invocation's slice.
    end_slices: Arc<EndSlices>,
    /// Where invocations that have run for long continue, and after how long.
    background: Option<(Background, Duration)>,
    epoch: Instant,
    state: Mutex<State>,
}

/// Threads below the engine's OS priority, with fair slices of their own,
/// for the invocations that have run for long.
struct Background {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    slices: Arc<Slices>,
}

impl Background {
    fn start(config: &CpuShares, end_slices: &Arc<EndSlices>) -> std::io::Result<Self> {
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .saturating_sub(1)
            .max(1);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("stagecraft-background-flows")
            .on_thread_start(lower_priority)
            .enable_time()
            .build()?;
        Ok(Self {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            slices: Arc::new(Slices::with(config, threads, Arc::clone(end_slices), None)),
        })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // Dropped from async code as well: do not wait for the invocations.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Nice 19: under contention the thread gets about a seventieth of what one
/// at the default priority gets (CFS weights 15 and 1024). Linux applies it
/// to the calling thread only.
fn lower_priority() {
    #[cfg(unix)]
    if let Err(error) = rustix::process::setpriority_process(None, BACKGROUND_NICE) {
        tracing::warn!(%error, "background flow threads run at the default priority");
    }
}

#[cfg(unix)]
const BACKGROUND_NICE: i32 = 19;

/// What ends every running slice at once (the host's epoch).
pub(crate) type EndSlices = Box<dyn Fn() + Send + Sync>;

struct State {
    free: usize,
    next_id: u64,
    waiting: Vec<Waiter>,
    running: Vec<Holder>,
    orchestrations: HashMap<Arc<str>, Use>,
    flows: HashMap<Arc<str>, Use>,
    /// Flows whose invocations ran long lately, until when (seconds since
    /// the epoch): theirs start on the background threads.
    long: HashMap<Arc<str>, f64>,
}

struct Waiter {
    id: u64,
    account: Account,
    waker: Waker,
    /// A lane was handed to it; it runs at its next poll.
    granted: bool,
}

/// An invocation being polled, on a lane.
struct Holder {
    id: u64,
    account: Account,
    /// Seconds since the epoch.
    since: f64,
}

/// Decayed CPU use in seconds, as of `at` (seconds since the epoch).
#[derive(Clone, Copy, Default)]
struct Use {
    seconds: f64,
    at: f64,
}

impl Use {
    fn now(self, now: f64, decay: f64) -> f64 {
        self.seconds * (-(now - self.at).max(0.0) * decay).exp()
    }
}

/// Accounts not used for this long are forgotten when the tables grow.
const FORGET_AFTER_HALF_LIVES: f64 = 20.0;
const FORGET_ABOVE: usize = 1024;

impl Slices {
    /// `default_lanes` when the configuration names none; `end_slices` ends
    /// the running slices when a waiter outranks one of them.
    pub(crate) fn new(
        config: &CpuShares,
        default_lanes: usize,
        end_slices: EndSlices,
    ) -> std::io::Result<Self> {
        let end_slices = Arc::new(end_slices);
        let background = match config.background_after {
            Some(after) => Some((Background::start(config, &end_slices)?, after)),
            None => None,
        };
        Ok(Self::with(config, default_lanes, end_slices, background))
    }

    fn with(
        config: &CpuShares,
        default_lanes: usize,
        end_slices: Arc<EndSlices>,
        background: Option<(Background, Duration)>,
    ) -> Self {
        let weights = |named: &HashMap<String, u32>| {
            named
                .iter()
                .map(|(name, weight)| (name.clone(), f64::from((*weight).max(1))))
                .collect()
        };
        let half_life = config.half_life.as_secs_f64().max(1e-3);
        Self {
            decay: std::f64::consts::LN_2 / half_life,
            orchestration_weights: weights(&config.orchestration_weights),
            flow_weights: weights(&config.flow_weights),
            min_run: config.slice.as_secs_f64() / 10.0,
            end_slices,
            background,
            epoch: Instant::now(),
            state: Mutex::new(State {
                free: config.lanes.unwrap_or(default_lanes).max(1),
                next_id: 0,
                waiting: Vec::new(),
                running: Vec::new(),
                orchestrations: HashMap::new(),
                flows: HashMap::new(),
                long: HashMap::new(),
            }),
        }
    }

    /// `invocation`, polled only while it holds a lane and charged to
    /// `account` for the time it runs.
    pub(crate) fn schedule<F: Future>(
        self: &Arc<Self>,
        account: Account,
        invocation: F,
    ) -> Sliced<F> {
        self.sliced(account, Box::pin(invocation), None)
    }

    /// [`Self::schedule`], and once it has run for long, `invocation`
    /// continues on the background threads; if an invocation of its flow
    /// did so within the last half-life, it starts there.
    pub(crate) fn schedule_movable<F>(
        self: &Arc<Self>,
        account: Account,
        invocation: F,
    ) -> Sliced<F>
    where
        F: Future + Send + 'static,
        F::Output: Send,
    {
        let mut sliced = self.sliced(account, Box::pin(invocation), Some(to_background::<F>));
        if let Some((background, _)) = &self.background {
            let now = self.seconds(Instant::now());
            let long = self
                .lock()
                .long
                .get(&sliced.account.flow)
                .is_some_and(|until| *until > now);
            if long
                && let Body::Here(invocation) = std::mem::replace(&mut sliced.body, Body::Moving)
            {
                sliced.body = Body::Away(to_background(
                    background,
                    sliced.account.clone(),
                    invocation,
                ));
            }
        }
        sliced
    }

    /// Notes that an invocation of `flow` ran long: the next ones start on
    /// the background threads for a half-life.
    fn ran_long(&self, flow: &Arc<str>) {
        let until = self.seconds(Instant::now()) + std::f64::consts::LN_2 / self.decay;
        self.lock().long.insert(Arc::clone(flow), until);
    }

    fn sliced<F: Future>(
        self: &Arc<Self>,
        account: Account,
        invocation: Pin<Box<F>>,
        move_away: Option<MoveAway<F>>,
    ) -> Sliced<F> {
        let id = {
            let mut state = self.lock();
            state.next_id += 1;
            state.next_id
        };
        Sliced {
            slices: Arc::clone(self),
            id,
            account,
            waiting: false,
            ran: Duration::ZERO,
            move_away,
            body: Body::Here(invocation),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn seconds(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.epoch).as_secs_f64()
    }

    /// How much `account` has used for its weights: orchestration first,
    /// then flow. Lower runs first.
    fn used(&self, state: &State, account: &Account, now: f64) -> (f64, f64) {
        let used = |table: &HashMap<Arc<str>, Use>, weights: &HashMap<String, f64>, name: &str| {
            let seconds = table.get(name).map_or(0.0, |u| u.now(now, self.decay));
            seconds / weights.get(name).copied().unwrap_or(1.0)
        };
        (
            used(
                &state.orchestrations,
                &self.orchestration_weights,
                &account.orchestration,
            ),
            used(&state.flows, &self.flow_weights, &account.flow),
        )
    }

    /// Whether `account`, arriving, outranks an invocation that has run for
    /// a while: then that one's slice should end now.
    fn outranks_a_holder(&self, state: &State, account: &Account, now: f64) -> bool {
        let arriving = self.used(state, account, now);
        state.running.iter().any(|holder| {
            let running = now - holder.since;
            // Counting the slice it is in, not yet charged.
            let (orchestration, flow) = self.used(state, &holder.account, now);
            running >= self.min_run && (orchestration + running, flow + running) > arriving
        })
    }

    /// Takes `holder` off its lane, charges it for `spent`, puts it back
    /// among the waiters if it wants more (`rejoin`), and hands the lane on.
    fn leave(
        &self,
        id: u64,
        account: &Account,
        spent: Duration,
        now: Instant,
        rejoin: Option<&Waker>,
    ) {
        let now = self.seconds(now);
        let spent = spent.as_secs_f64();
        let mut guard = self.lock();
        let state = &mut *guard;
        if let Some(index) = state.running.iter().position(|holder| holder.id == id) {
            state.running.swap_remove(index);
        }
        for (table, name) in [
            (&mut state.orchestrations, &account.orchestration),
            (&mut state.flows, &account.flow),
        ] {
            let used = table.entry(Arc::clone(name)).or_default();
            *used = Use {
                seconds: used.now(now, self.decay) + spent,
                at: now,
            };
        }
        if let Some(waker) = rejoin {
            state.waiting.push(Waiter {
                id,
                account: account.clone(),
                waker: waker.clone(),
                granted: false,
            });
        }
        let waker = self.pass_lane(state, now);
        drop(guard);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Gives a freed lane to the waiter that has used the least, or frees it.
    fn pass_lane(&self, state: &mut State, now: f64) -> Option<Waker> {
        let next = state
            .waiting
            .iter()
            .enumerate()
            .filter(|(_, waiter)| !waiter.granted)
            .map(|(index, waiter)| (self.used(state, &waiter.account, now), waiter.id, index))
            .min_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal))
            .map(|(_, _, index)| index);
        match next {
            Some(index) => {
                let waiter = &mut state.waiting[index];
                waiter.granted = true;
                Some(waiter.waker.clone())
            }
            None => {
                state.free += 1;
                self.forget_idle(state, now);
                None
            }
        }
    }

    /// Drops accounts whose use has long decayed, once there are many.
    fn forget_idle(&self, state: &mut State, now: f64) {
        if state.orchestrations.len() + state.flows.len() + state.long.len() <= FORGET_ABOVE {
            return;
        }
        state.long.retain(|_, until| *until > now);
        let horizon = FORGET_AFTER_HALF_LIVES * std::f64::consts::LN_2 / self.decay;
        state
            .orchestrations
            .retain(|_, used| now - used.at < horizon);
        state.flows.retain(|_, used| now - used.at < horizon);
    }
}

/// An invocation under fair slices.
pub(crate) struct Sliced<F: Future> {
    slices: Arc<Slices>,
    id: u64,
    account: Account,
    /// Among the waiters for a lane.
    waiting: bool,
    /// Time it has run here.
    ran: Duration,
    /// How it moves to the background threads, if it may.
    move_away: Option<MoveAway<F>>,
    body: Body<F>,
}

enum Body<F: Future> {
    Here(Pin<Box<F>>),
    /// Running on the background threads.
    Away(tokio::task::JoinHandle<F::Output>),
    /// Between the two.
    Moving,
}

type MoveAway<F> =
    fn(&Background, Account, Pin<Box<F>>) -> tokio::task::JoinHandle<<F as Future>::Output>;

fn to_background<F>(
    background: &Background,
    account: Account,
    invocation: Pin<Box<F>>,
) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send,
{
    let sliced = background.slices.sliced(account, invocation, None);
    background.handle.spawn(sliced)
}

impl<F: Future> Future for Sliced<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        if let Body::Away(handle) = &mut this.body {
            return match Pin::new(handle).poll(cx) {
                Poll::Ready(Ok(output)) => Poll::Ready(output),
                Poll::Ready(Err(error)) if error.is_panic() => {
                    std::panic::resume_unwind(error.into_panic())
                }
                // The background threads are gone with the engine.
                Poll::Ready(Err(_)) | Poll::Pending => Poll::Pending,
            };
        }
        let Body::Here(invocation) = &mut this.body else {
            return Poll::Pending;
        };
        let slices = &*this.slices;
        let started = Instant::now();
        {
            let mut state = slices.lock();
            if this.waiting {
                let Some(index) = state.waiting.iter().position(|w| w.id == this.id) else {
                    // Unreachable: a waiter leaves the list only here or on drop.
                    this.waiting = false;
                    return Poll::Pending;
                };
                if !state.waiting[index].granted {
                    state.waiting[index].waker.clone_from(cx.waker());
                    return Poll::Pending;
                }
                state.waiting.swap_remove(index);
                this.waiting = false;
            } else if state.free > 0 {
                state.free -= 1;
            } else {
                state.waiting.push(Waiter {
                    id: this.id,
                    account: this.account.clone(),
                    waker: cx.waker().clone(),
                    granted: false,
                });
                this.waiting = true;
                let now = slices.seconds(started);
                let preempt = slices.outranks_a_holder(&state, &this.account, now);
                drop(state);
                if preempt {
                    (slices.end_slices)();
                }
                return Poll::Pending;
            }
            state.running.push(Holder {
                id: this.id,
                account: this.account.clone(),
                since: slices.seconds(started),
            });
        }
        let mut lane = Lane {
            slices,
            id: this.id,
            account: &this.account,
            started,
            rejoin: None,
        };
        let (result, slice_ended) = stagecraft_host::poll_slice(invocation.as_mut(), cx);
        this.ran += started.elapsed();
        let background = match (&slices.background, this.move_away) {
            (Some((background, after)), Some(move_away)) if this.ran >= *after => {
                Some((background, move_away))
            }
            _ => None,
        };
        if slice_ended && background.is_none() {
            // It wants more CPU: it waits its turn with the others.
            lane.rejoin = Some(cx.waker().clone());
            this.waiting = true;
        }
        drop(lane);
        match background {
            Some((background, move_away)) if slice_ended => {
                let Body::Here(invocation) = std::mem::replace(&mut this.body, Body::Moving) else {
                    return Poll::Pending;
                };
                slices.ran_long(&this.account.flow);
                this.body = Body::Away(move_away(background, this.account.clone(), invocation));
                self.poll(cx)
            }
            _ => result,
        }
    }
}

/// A lane held during one poll; given back when dropped, also if the poll
/// unwinds.
struct Lane<'a> {
    slices: &'a Slices,
    id: u64,
    account: &'a Account,
    started: Instant,
    rejoin: Option<Waker>,
}

impl Drop for Lane<'_> {
    fn drop(&mut self) {
        let now = Instant::now();
        self.slices.leave(
            self.id,
            self.account,
            now - self.started,
            now,
            self.rejoin.as_ref(),
        );
    }
}

impl<F: Future> Drop for Sliced<F> {
    fn drop(&mut self) {
        if let Body::Away(handle) = &self.body {
            handle.abort();
        }
        if !self.waiting {
            return;
        }
        let mut state = self.slices.lock();
        let Some(index) = state.waiting.iter().position(|w| w.id == self.id) else {
            return;
        };
        let waiter = state.waiting.swap_remove(index);
        // A lane handed to it and never used goes to the next waiter.
        let waker = if waiter.granted {
            let now = self.slices.seconds(Instant::now());
            self.slices.pass_lane(&mut state, now)
        } else {
            None
        };
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn config(lanes: usize) -> CpuShares {
        CpuShares {
            lanes: Some(lanes),
            ..CpuShares::default()
        }
    }

    /// Burns `busy` of CPU per slice for `slices` slices, counting them.
    async fn burn(busy: Duration, slices: usize, counted: Arc<AtomicUsize>) {
        for _ in 0..slices {
            let start = Instant::now();
            while start.elapsed() < busy {
                std::hint::spin_loop();
            }
            counted.fetch_add(1, Ordering::Relaxed);
            stagecraft_host::end_of_slice().await;
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_flow_that_used_little_runs_before_more_slices_of_a_busy_one() {
        let slices = Arc::new(Slices::new(&config(1), 1, Box::new(|| {})).expect("slices"));
        let slice = Duration::from_micros(100);
        // Twenty runaway invocations have been running for a while.
        let runaway_slices = Arc::new(AtomicUsize::new(0));
        let runaways: Vec<_> = (0..20)
            .map(|_| {
                tokio::spawn(slices.schedule(
                    Account::new("attack", "loop"),
                    burn(slice, 1000, Arc::clone(&runaway_slices)),
                ))
            })
            .collect();
        while runaway_slices.load(Ordering::Relaxed) < 100 {
            tokio::task::yield_now().await;
        }
        // Ordinary invocations arrive; each needs 3 slices, and counts the
        // runaway slices that ran from its arrival to its end.
        let ordinary_slices = Arc::new(AtomicUsize::new(0));
        let ordinary: Vec<_> = (0..5)
            .map(|_| {
                let (runaway_slices, ordinary_slices) =
                    (Arc::clone(&runaway_slices), Arc::clone(&ordinary_slices));
                let arrived = runaway_slices.load(Ordering::Relaxed);
                tokio::spawn(slices.schedule(Account::new("loans", "score"), async move {
                    burn(slice, 3, ordinary_slices).await;
                    runaway_slices.load(Ordering::Relaxed) - arrived
                }))
            })
            .collect();
        let mut meanwhile = 0;
        for task in ordinary {
            meanwhile = meanwhile.max(task.await.expect("ordinary invocation"));
        }
        for task in runaways {
            task.abort();
        }
        assert_eq!(ordinary_slices.load(Ordering::Relaxed), 15);
        // Round robin by arrival would have run about 60 runaway slices.
        assert!(
            meanwhile <= 3,
            "{meanwhile} runaway slices ran while the ordinary invocations waited"
        );
    }

    #[tokio::test(flavor = "current_thread")]
    async fn weights_divide_the_cpu_between_orchestrations() {
        let mut shares = config(1);
        shares.orchestration_weights.insert("heavy".into(), 3);
        let slices = Arc::new(Slices::new(&shares, 1, Box::new(|| {})).expect("slices"));
        let counts: Arc<[AtomicUsize; 2]> = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let until = Instant::now() + Duration::from_millis(400);
        let spin = |index: usize, counts: Arc<[AtomicUsize; 2]>| async move {
            while Instant::now() < until {
                let start = Instant::now();
                while start.elapsed() < Duration::from_micros(500) {
                    std::hint::spin_loop();
                }
                counts[index].fetch_add(1, Ordering::Relaxed);
                stagecraft_host::end_of_slice().await;
            }
        };
        let light =
            tokio::spawn(slices.schedule(Account::new("light", "a"), spin(0, Arc::clone(&counts))));
        let heavy =
            tokio::spawn(slices.schedule(Account::new("heavy", "b"), spin(1, Arc::clone(&counts))));
        light.await.expect("light");
        heavy.await.expect("heavy");
        let (light, heavy) = (
            counts[0].load(Ordering::Relaxed) as f64,
            counts[1].load(Ordering::Relaxed) as f64,
        );
        let ratio = heavy / light;
        assert!(
            (2.0..=4.5).contains(&ratio),
            "weight 3 against 1 should get about 3 times the slices, got {heavy} against {light}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_arrival_that_outranks_a_running_slice_ends_it() {
        let ended = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let end = Arc::clone(&ended);
        let slices = Arc::new(
            Slices::new(
                &config(1),
                1,
                Box::new(move || end.store(true, Ordering::Release)),
            )
            .expect("slices"),
        );
        // The runaway's slice would last 30 s unless it is ended.
        let running = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (ended_in, is_running) = (Arc::clone(&ended), Arc::clone(&running));
        let runaway = tokio::spawn(slices.schedule(Account::new("attack", "loop"), async move {
            let start = Instant::now();
            is_running.store(true, Ordering::Release);
            while !ended_in.load(Ordering::Acquire) && start.elapsed() < Duration::from_secs(30) {
                std::hint::spin_loop();
            }
            let preempted = start.elapsed() < Duration::from_secs(30);
            stagecraft_host::end_of_slice().await;
            preempted
        }));
        while !running.load(Ordering::Acquire) {
            tokio::task::yield_now().await;
        }
        // Past the tenth of a slice an arrival must wait before it preempts.
        std::thread::sleep(Duration::from_millis(1));
        let ordinary = slices.schedule(Account::new("loans", "score"), async { "done" });
        assert_eq!(ordinary.await, "done");
        assert!(
            runaway.await.expect("runaway"),
            "the runaway's slice was ended"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_invocation_that_runs_for_long_moves_to_the_background_threads() {
        let slices = Arc::new(Slices::new(&config(1), 1, Box::new(|| {})).expect("slices"));
        let thread = || std::thread::current().name().map(str::to_owned);
        let short = slices.schedule_movable(Account::new("o", "short"), async move { thread() });
        let long = slices.schedule_movable(Account::new("o", "long"), async move {
            let first = thread();
            // Twenty slices of a millisecond: past the default 2 ms.
            for _ in 0..20 {
                let start = Instant::now();
                while start.elapsed() < Duration::from_millis(1) {
                    std::hint::spin_loop();
                }
                stagecraft_host::end_of_slice().await;
            }
            (first, thread())
        });
        let background = Some("stagecraft-background-flows".to_owned());
        assert_ne!(short.await, background, "a short invocation stays");
        let (first, last) = long.await;
        assert_ne!(first, background, "it starts on the engine's threads");
        assert_eq!(last, background, "it ends on the background threads");
        // Its flow ran long lately: its next invocation starts there.
        let next = slices.schedule_movable(Account::new("o", "long"), async move { thread() });
        assert_eq!(next.await, background);
        let other = slices.schedule_movable(Account::new("o", "short"), async move { thread() });
        assert_ne!(other.await, background, "other flows are not concerned");
    }

    #[test]
    fn a_dropped_waiter_hands_its_lane_on() {
        let slices = Arc::new(Slices::new(&config(1), 1, Box::new(|| {})).expect("slices"));
        let mut cx = Context::from_waker(Waker::noop());
        // Another thread holds the only lane; two invocations wait for it.
        slices.lock().free = 0;
        let mut second = Box::pin(slices.schedule(Account::new("o", "b"), async { 2 }));
        let mut third = Box::pin(slices.schedule(Account::new("o", "c"), async { 3 }));
        assert!(second.as_mut().poll(&mut cx).is_pending());
        assert!(third.as_mut().poll(&mut cx).is_pending());
        // The holder's poll ends: the lane goes to the first waiter, which
        // is dropped without running; the other must get it.
        let now = Instant::now();
        slices.leave(
            0,
            &Account::new("o", "a"),
            Duration::from_millis(1),
            now,
            None,
        );
        assert!(
            third.as_mut().poll(&mut cx).is_pending(),
            "not its turn yet"
        );
        drop(second);
        assert_eq!(third.as_mut().poll(&mut cx), Poll::Ready(3));
        assert_eq!(slices.lock().free, 1, "the lane is free again");
    }
}

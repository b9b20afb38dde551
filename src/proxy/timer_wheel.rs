//! The runtime's timer wheel, kept armed on every worker thread: headroom's timeouts run on
//! tokio's wheel (see `server.rs`), and arming one that is earlier than everything on the
//! wheel wakes the parked driver.

use std::time::Duration;

/// How often each worker's keeper timer fires: shorter than any timeout the proxy arms per
/// request by default (the shortest is the 10 s connect), so a new timeout is not the
/// wheel's earliest. Shorter configured timeouts still work; arming them may wake the driver.
const KEEPER_PERIOD: Duration = Duration::from_secs(5);

/// Starts, once per worker thread, a task that keeps a timer due within [`KEEPER_PERIOD`] on
/// the runtime's timer wheel. Arming a timeout earlier than everything on the wheel makes
/// tokio wake its parked driver (an eventfd write and an extra `epoll_wait`); with the keeper
/// armed, the request path's timeouts (read, write, idle: seconds to minutes) never are. A
/// performance measure only: timeouts fire at the same moment with or without it.
pub(super) fn keep_armed() {
    thread_local! {
        static STARTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if STARTED.with(|s| s.replace(true)) {
        return;
    }
    tokio::spawn(async {
        let mut tick = tokio::time::interval(KEEPER_PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
        }
    });
}

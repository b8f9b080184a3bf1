//! The boundary guard: every `extern "C"` entry runs its body through `guard`, so a Rust panic
//! becomes a crit line and a safe return value, never an unwind into C or an abort.

use super::log::{self, Sink};
use crate::core::messages;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `body`; on panic logs what the entry does instead (`messages::panic_contained`: `entry`
/// names it, `consequence` says what happens), and returns `fallback`.
pub fn guard<R>(
    entry: &'static str,
    consequence: &'static str,
    sink: Sink,
    fallback: R,
    body: impl FnOnce() -> R,
) -> R {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(payload) => {
            let line = messages::panic_contained(entry, consequence, payload.as_ref());
            log::write(sink, line.severity, line.tag, &line.text);
            fallback
        }
    }
}

/// Replaces std's panic hook (which would print an untagged line to stderr) with one that logs
/// where the panic happened. Installed at every load of the DSO.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| (l.file(), l.line()));
        let line = messages::panic_detail(location, info.payload());
        log::write(
            Sink::Server(log::main_server()),
            line.severity,
            line.tag,
            &line.text,
        );
    }));
}

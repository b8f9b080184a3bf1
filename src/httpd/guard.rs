//! The boundary guard: every `extern "C"` entry runs its body through `guard`, so a Rust panic
//! becomes a crit line and a safe return value, never an unwind into C or an abort.

use super::log::{self, Sink};
use crate::core::messages::{self, Severity};
use std::panic::{catch_unwind, AssertUnwindSafe};

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    }
}

/// Runs `body`; on panic logs DG00001 with what the hook does instead, and returns `fallback`.
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
            log::write(
                sink,
                Severity::Crit,
                messages::PANIC_CONTAINED,
                &format!(
                    "internal error in {entry} contained: {}; {consequence}. Please report this with the DG00002 line above.",
                    payload_text(payload.as_ref())
                ),
            );
            fallback
        }
    }
}

/// Replaces std's panic hook (which would print an untagged line to stderr) with one that logs
/// where the panic happened. Installed at every load of the DSO.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "unknown location".into());
        log::write(
            Sink::Server(log::main_server()),
            Severity::Crit,
            messages::PANIC_DETAIL,
            &format!("panic at {location}: {}", payload_text(info.payload())),
        );
    }));
}

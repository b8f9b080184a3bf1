//! Test-only panic injection (cargo feature `test-panic`, never in the shipped module): proves
//! that a panic inside a hook is contained. `DIRGUARD_TEST_PANIC=check_config|post_config` in
//! the environment panics in that hook; a request whose URI contains `/dirguard-test-panic`
//! panics in a fixups hook. `DIRGUARD_TEST_LEAK=post_config` leaks one allocation there, so
//! `make memcheck` can show that it catches a leak in the module. A request whose URI contains
//! `/dirguard-test-segv` faults (SIGSEGV) in the fixups hook, so the integration tests can show
//! that they attribute a child's crash inside the module from its core.

#[cfg(feature = "test-panic")]
mod enabled {
    use crate::ffi;
    use crate::httpd::boundary::{entry, Request};
    use crate::httpd::log::Sink;
    use std::os::raw::c_int;

    pub fn maybe(hook: &str) {
        let asked = |var: &str| std::env::var(var).is_ok_and(|v| v.split(',').any(|h| h == hook));
        if asked("DIRGUARD_TEST_LEAK") {
            // Forgotten on purpose: no pointer to it survives, so memcheck calls it lost.
            std::mem::forget(std::hint::black_box(vec![0x5au8; 4096]));
        }
        if asked("DIRGUARD_TEST_PANIC") {
            panic!("test-panic requested in {hook}");
        }
    }

    entry! {
        fn fixups(r: *mut ffi::request_rec) -> c_int
            [entry "the fixups hook",
             instead "the request is declined and served as if the module were absent",
             log Sink::Request(r), fallback ffi::DECLINED]
        {
            // SAFETY: the live request of this hook (S6).
            let Some(r) = (unsafe { Request::from_raw(r) }) else {
                return ffi::DECLINED;
            };
            let uri = r.uri().unwrap_or_default();
            let asks = |trigger: &[u8]| uri.windows(trigger.len()).any(|w| w == trigger);
            if asks(b"/dirguard-test-panic") {
                panic!("test-panic requested by the request URI");
            }
            if asks(b"/dirguard-test-segv") {
                // A real invalid write (not raise(), whose thread could return from
                // Apache's fatal-signal handler and leave this frame before the core is
                // written): the fault repeats here until the default action dumps core.
                let bad = std::hint::black_box(8usize) as *mut u8;
                // SAFETY: deliberately faults, ending this child as a crash in the module
                // would; address 8 is never mapped.
                unsafe { bad.write_volatile(1) };
            }
            ffi::DECLINED
        }
    }

    pub fn register() {
        // SAFETY: hook registration during module load, with a function of the hook's
        // signature.
        unsafe {
            ffi::ap_hook_fixups(
                Some(fixups),
                std::ptr::null(),
                std::ptr::null(),
                ffi::APR_HOOK_MIDDLE as c_int,
            )
        };
    }
}

#[cfg(feature = "test-panic")]
pub use enabled::{maybe, register};

#[cfg(not(feature = "test-panic"))]
pub fn maybe(_hook: &str) {}

#[cfg(not(feature = "test-panic"))]
pub fn register() {}

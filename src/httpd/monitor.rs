//! Live monitoring in Apache's process model. The parent maps an anonymous shared region in
//! post_config, before the children fork, and seeds it with the startup audit. The periodic
//! audit runs from a mod_watchdog child watchdog: httpd's mod_watchdog offers parent watchdog
//! threads only to non-forked MPMs (none on Unix), and the MPM monitor hook runs only about
//! every 10 s. Every child's watchdog ticks a few times per interval and asks the shared region
//! for the audit lease (`Monitor::run_due`); one child audits per interval and always starts from
//! the shared state. Not mod_watchdog's singleton mode: when the child holding its mutex exits
//! (the MPM reaping idle processes under changing load), the next holder first sleeps about a
//! second and then waits a full interval before its first callback; under churn those gaps added
//! up and the faults-under-load test missed faults. The region belongs to the configuration
//! pool, so every restart unmaps it and maps a fresh one.

use super::log::{self, Sink};
use crate::core::audit::Audit;
use crate::core::identity::Identity;
use crate::core::messages::{self, Severity};
use crate::core::monitor::Monitor;
use crate::core::shared::SharedState;
use crate::core::spec::RequiredDir;
use crate::ffi;
use std::os::raw::{c_int, c_void};
use std::sync::Arc;

/// Creates the shared region and the monitor for this generation, and registers the audit with
/// mod_watchdog when `interval_s` > 0.
pub fn start(
    s: *mut ffi::server_rec,
    pconf: *mut ffi::apr_pool_t,
    dirs: Vec<Arc<RequiredDir>>,
    id: Identity,
    interval_s: u32,
    check_timeout: std::time::Duration,
    startup: Option<(&Audit, usize)>,
) -> Option<Arc<Monitor>> {
    let size = SharedState::size_for(dirs.len());
    let mut shm: *mut ffi::apr_shm_t = std::ptr::null_mut();
    // SAFETY: pconf is the live configuration pool; a null filename asks APR for anonymous
    // shared memory (mmap MAP_SHARED|MAP_ANONYMOUS), which the children inherit and APR unmaps
    // when pconf is cleared at the next restart.
    let rv = unsafe { ffi::apr_shm_create(&mut shm, size, std::ptr::null(), pconf) };
    if rv != ffi::APR_SUCCESS as ffi::apr_status_t || shm.is_null() {
        log::write(
            Sink::Server(s),
            Severity::Error,
            messages::MONITOR_UNAVAILABLE,
            &format!(
                "cannot create {size} bytes of shared memory for the live monitor (apr error {rv}); live monitoring and the status page are off"
            ),
        );
        return None;
    }
    // SAFETY: shm is valid; the base address is page-aligned and valid for `size` bytes until
    // pconf is cleared, which also drops the Monitor that holds this view (ServerConfig).
    let shared = unsafe {
        SharedState::init(
            ffi::apr_shm_baseaddr_get(shm).cast(),
            dirs.len(),
            u64::from(interval_s),
        )
    };
    let count = dirs.len();
    let monitor = Arc::new(Monitor::new(
        dirs,
        id,
        shared,
        u64::from(interval_s),
        check_timeout,
        startup,
    ));
    if interval_s > 0 && count > 0 && !register_watchdog(s, pconf, &monitor, interval_s) {
        return Some(monitor);
    }
    if interval_s > 0 && count > 0 {
        log::write(
            Sink::Server(s),
            Severity::Info,
            messages::MONITOR_STARTED,
            &format!("live monitoring of {count} required directories every {interval_s} s (one audit per interval among the children)"),
        );
    }
    Some(monitor)
}

fn register_watchdog(
    s: *mut ffi::server_rec,
    pconf: *mut ffi::apr_pool_t,
    monitor: &Arc<Monitor>,
    interval_s: u32,
) -> bool {
    // SAFETY: apr_dynamic_fn_retrieve looks up functions mod_watchdog registered by name; the
    // returned pointers have the signatures declared by mod_watchdog.h (APR_DECLARE_OPTIONAL_FN),
    // which the bindgen types mirror.
    let (get_instance, register) = unsafe {
        let g = ffi::apr_dynamic_fn_retrieve(c"ap_watchdog_get_instance".as_ptr());
        let r = ffi::apr_dynamic_fn_retrieve(c"ap_watchdog_register_callback".as_ptr());
        (
            std::mem::transmute::<ffi::apr_opt_fn_t, ffi::apr_OFN_ap_watchdog_get_instance_t>(g),
            std::mem::transmute::<ffi::apr_opt_fn_t, ffi::apr_OFN_ap_watchdog_register_callback_t>(
                r,
            ),
        )
    };
    let (Some(get_instance), Some(register)) = (get_instance, register) else {
        log::write(Sink::Server(s), Severity::Error, messages::MONITOR_UNAVAILABLE, "mod_watchdog is not available, so there is no live monitoring (the startup check and the status page still work); load mod_watchdog or set DirGuardInterval 0");
        return false;
    };
    let mut wd: *mut ffi::ap_watchdog_t = std::ptr::null_mut();
    // SAFETY: mod_watchdog's documented calls; the name is a static C string; the callback data
    // points at the Monitor owned by this generation's ServerConfig, which lives until pconf is
    // cleared, after mod_watchdog has stopped and joined the watchdog threads of the children.
    let rv = unsafe {
        let rv = get_instance(&mut wd, c"dirguard".as_ptr(), 0, 0, pconf);
        if rv == ffi::APR_SUCCESS as ffi::apr_status_t {
            register(
                wd,
                tick_us(interval_s),
                Arc::as_ptr(monitor).cast(),
                Some(on_watchdog),
            )
        } else {
            rv
        }
    };
    if rv != ffi::APR_SUCCESS as ffi::apr_status_t {
        log::write(
            Sink::Server(s),
            Severity::Error,
            messages::MONITOR_UNAVAILABLE,
            &format!("mod_watchdog refused the live monitor (apr error {rv}); no live monitoring"),
        );
        return false;
    }
    true
}

/// The watchdog tick in microseconds (`core::monitor::tick_ms`).
fn tick_us(interval_s: u32) -> i64 {
    crate::core::monitor::tick_ms(u64::from(interval_s)) as i64 * 1000
}

unsafe extern "C" fn on_watchdog(
    state: c_int,
    data: *mut c_void,
    _pool: *mut ffi::apr_pool_t,
) -> ffi::apr_status_t {
    let sink = Sink::Server(log::main_server());
    super::guard::guard(
        "the live monitor",
        "this audit is skipped; the next one runs as planned",
        sink,
        ffi::APR_SUCCESS as ffi::apr_status_t,
        || {
            if state == ffi::AP_WATCHDOG_STATE_RUNNING as c_int {
                // SAFETY: data is the Monitor registered in `register_watchdog`, alive while the
                // watchdog runs (see there).
                if let Some(monitor) = unsafe { data.cast::<Monitor>().as_ref() } {
                    for line in monitor.run_due() {
                        log::write(sink, line.severity, line.tag, &line.text);
                    }
                }
            }
            ffi::APR_SUCCESS as ffi::apr_status_t
        },
    )
}

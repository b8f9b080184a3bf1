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

use super::boundary::entry;
use super::log::{self, Sink};
use crate::core::identity::Identity;
use crate::core::messages::Line;
use crate::core::monitor::{Monitor, Seed, Unavailable};
use crate::core::settings::Interval;
use crate::core::shared::SharedState;
use crate::core::spec::RequiredDir;
use crate::ffi;
use std::os::raw::{c_int, c_void};
use std::sync::Arc;

fn write(s: *mut ffi::server_rec, line: &Line) {
    log::write(Sink::Server(s), line.severity, line.tag, &line.text);
}

/// Creates the shared region and the monitor for this generation, and registers the audit with
/// mod_watchdog when the monitor is live (`Monitor::is_live`).
pub fn start(
    s: *mut ffi::server_rec,
    pconf: *mut ffi::apr_pool_t,
    dirs: Vec<Arc<RequiredDir>>,
    id: Identity,
    interval: Interval,
    check_timeout: std::time::Duration,
    startup: Option<Seed>,
) -> Option<Arc<Monitor>> {
    let size = SharedState::size_for(dirs.len());
    let mut shm: *mut ffi::apr_shm_t = std::ptr::null_mut();
    // SAFETY: pconf is the live configuration pool (S6); a null filename asks APR for anonymous
    // shared memory (mmap MAP_SHARED|MAP_ANONYMOUS), which the children inherit and APR unmaps
    // when pconf is cleared at the next restart (S2).
    let rv = unsafe { ffi::apr_shm_create(&mut shm, size, std::ptr::null(), pconf) };
    if rv != ffi::APR_SUCCESS as ffi::apr_status_t || shm.is_null() {
        let why = Unavailable::SharedMemory {
            bytes: size,
            apr_error: rv,
        };
        write(s, &why.line());
        return None;
    }
    // SAFETY: shm is valid; the base address is page-aligned and valid for `size` bytes until
    // pconf is cleared, which also drops the Monitor that holds this view (ServerConfig; S2).
    let shared =
        unsafe { SharedState::init(ffi::apr_shm_baseaddr_get(shm).cast(), dirs.len(), interval) };
    let monitor = Arc::new(Monitor::new(
        dirs,
        id,
        shared,
        interval,
        check_timeout,
        startup,
    ));
    if monitor.is_live() && register_watchdog(s, pconf, &monitor) {
        write(s, &monitor.started_line());
    }
    Some(monitor)
}

fn register_watchdog(
    s: *mut ffi::server_rec,
    pconf: *mut ffi::apr_pool_t,
    monitor: &Arc<Monitor>,
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
        write(s, &Unavailable::NoWatchdog.line());
        return false;
    };
    let mut wd: *mut ffi::ap_watchdog_t = std::ptr::null_mut();
    // SAFETY: mod_watchdog's documented calls; the name is a static C string; the callback data
    // points at the Monitor owned by this generation's ServerConfig (once post_config stores the
    // Arc there), which lives until pconf is cleared (S1, S2), after mod_watchdog has stopped
    // and joined the watchdog threads of the children.
    let rv = unsafe {
        let rv = get_instance(&mut wd, c"dirguard".as_ptr(), 0, 0, pconf);
        if rv == ffi::APR_SUCCESS as ffi::apr_status_t {
            register(
                wd,
                interval_time(monitor.tick()),
                Arc::as_ptr(monitor).cast(),
                Some(on_watchdog),
            )
        } else {
            rv
        }
    };
    if rv != ffi::APR_SUCCESS as ffi::apr_status_t {
        write(s, &Unavailable::WatchdogRefused { apr_error: rv }.line());
        return false;
    }
    true
}

/// A duration as APR's `apr_interval_time_t` (microseconds).
fn interval_time(d: std::time::Duration) -> ffi::apr_interval_time_t {
    ffi::apr_interval_time_t::try_from(d.as_micros()).unwrap_or(ffi::apr_interval_time_t::MAX)
}

entry! {
    fn on_watchdog(state: c_int, data: *mut c_void, _pool: *mut ffi::apr_pool_t) -> ffi::apr_status_t
        [entry "the live monitor", instead "this audit is skipped; the next one runs as planned",
         log Sink::Server(log::main_server()), fallback ffi::APR_SUCCESS as ffi::apr_status_t]
    {
        if state == ffi::AP_WATCHDOG_STATE_RUNNING as c_int {
            // SAFETY: data is the Monitor registered in `register_watchdog`, alive while the
            // watchdog runs (see there; S2).
            if let Some(monitor) = unsafe { data.cast::<Monitor>().as_ref() } {
                for line in monitor.run_due() {
                    log::write(Sink::Server(log::main_server()), line.severity, line.tag, &line.text);
                }
            }
        }
        ffi::APR_SUCCESS as ffi::apr_status_t
    }
}

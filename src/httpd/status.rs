//! The `dirguard-status` handler: the shared state as HTML, JSON or Prometheus metrics. It
//! answers only where the administrator wrote `SetHandler dirguard-status`, and declines every
//! other request without looking further than the handler name.

use super::config::server_config;
use super::ffi_util::cstr_bytes;
use super::log::{self, Sink};
use crate::core::messages::{self, Severity};
use crate::core::monitor::unix_now;
use crate::core::status::{
    format_of, render_html, render_json, render_prometheus, Format, Snapshot,
};
use crate::ffi;
use std::os::raw::c_int;

const HANDLER: &[u8] = b"dirguard-status";

pub unsafe extern "C" fn handler(r: *mut ffi::request_rec) -> c_int {
    super::guard::guard(
        "the dirguard-status handler",
        "the request gets 500",
        Sink::Request(r),
        ffi::HTTP_INTERNAL_SERVER_ERROR as c_int,
        || {
            // SAFETY: r is the live request of this hook.
            let rr = unsafe { &*r };
            // SAFETY: handler is null or NUL-terminated.
            if unsafe { cstr_bytes(rr.handler) } != Some(HANDLER) {
                return ffi::DECLINED;
            }
            if rr.method_number != ffi::M_GET as c_int {
                return ffi::HTTP_METHOD_NOT_ALLOWED as c_int;
            }
            // SAFETY: args is null or NUL-terminated.
            let Some(format) = format_of(unsafe { cstr_bytes(rr.args) }) else {
                return ffi::HTTP_BAD_REQUEST as c_int;
            };
            // SAFETY: the main server of this generation; its config holds the monitor.
            let monitor =
                unsafe { server_config(log::main_server()) }.and_then(|sc| sc.monitor.get());
            let snapshot = monitor.and_then(|m| m.shared().snapshot().map(|s| (m, s)));
            let Some((monitor, (totals, records))) = snapshot else {
                log::write(
                    Sink::Request(r),
                    Severity::Error,
                    messages::STATUS_UNAVAILABLE,
                    "the status page has no shared state to show (see DG01304 at startup)",
                );
                return ffi::HTTP_SERVICE_UNAVAILABLE as c_int;
            };
            let explained = monitor.shared().explained();
            let snap = Snapshot {
                explained: &explained,
                dirs: monitor.dirs(),
                records: &records,
                totals: &totals,
                now_unix_s: unix_now().as_secs(),
            };
            let (content_type, body) = match format {
                Format::Html => (c"text/html; charset=utf-8", render_html(&snap)),
                Format::Json => (c"application/json", render_json(&snap)),
                Format::Prometheus => (
                    c"text/plain; version=0.0.4; charset=utf-8",
                    render_prometheus(&snap),
                ),
            };
            // SAFETY: r is live; the content type is a static C string; header values are static;
            // ap_rwrite copies `body` into the output before returning.
            unsafe {
                ffi::ap_set_content_type(r, content_type.as_ptr());
                ffi::apr_table_setn(
                    rr.headers_out,
                    c"Cache-Control".as_ptr(),
                    c"no-store".as_ptr(),
                );
                if rr.header_only == 0 {
                    let len = c_int::try_from(body.len()).unwrap_or(c_int::MAX);
                    ffi::ap_rwrite(body.as_ptr().cast(), len, r);
                }
            }
            ffi::OK as c_int
        },
    )
}

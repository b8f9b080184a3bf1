//! The `dirguard-status` handler: the shared state as HTML, JSON or Prometheus metrics. It
//! answers only where the administrator wrote `SetHandler dirguard-status`, and declines every
//! other request without looking further than the handler name. What a page shows is chosen in
//! core::status (`select_view`); this glue only gathers the declarations of the serving host.

use super::config::{dir_config, server_config};
use super::ffi_util::cstr_bytes;
use super::log::{self, Sink};
use crate::core::monitor::unix_now;
use crate::core::spec::RequiredDir;
use crate::core::status::{
    format_of, render_html, render_json, render_prometheus, select_view, unavailable_line, Format,
    Snapshot,
};
use crate::ffi;
use std::os::raw::c_int;
use std::sync::Arc;

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
                // The 405 must name the method that works. `r->allowed` is what httpd.h asks
                // handlers to set (and Apache's own do), but 2.4 builds `Allow:` from
                // `r->allowed_methods` only (make_allow), so set that too, as
                // ap_allow_standard_methods(r, MERGE_ALLOW, M_GET, -1) would (a variadic function
                // the bindings leave out). AP_METHOD_BIT is `((apr_int64_t)1)`, a cast bindgen
                // does not turn into a constant, hence the literal.
                let get = 1i64 << ffi::M_GET;
                // SAFETY: r is the live request of this hook, ours alone in this thread, and `rr`
                // is not used after this write; allowed_methods is null or the request's method
                // list (ap_read_request makes it).
                unsafe {
                    (*r).allowed |= get;
                    if let Some(methods) = (*r).allowed_methods.as_mut() {
                        methods.method_mask |= get;
                    }
                }
                return ffi::HTTP_METHOD_NOT_ALLOWED as c_int;
            }
            // SAFETY: args is null or NUL-terminated.
            let Some(format) = format_of(unsafe { cstr_bytes(rr.args) }) else {
                return ffi::HTTP_BAD_REQUEST as c_int;
            };
            let main = log::main_server();
            // SAFETY: the main server of this generation; its config holds the monitor.
            let main_config = unsafe { server_config(main) };
            let monitor = main_config.and_then(|sc| sc.monitor.get());
            let snapshot = monitor.and_then(|m| m.shared().snapshot().map(|s| (m, s)));
            let Some((monitor, (totals, records))) = snapshot else {
                let line = unavailable_line();
                log::write(Sink::Request(r), line.severity, line.tag, &line.text);
                return ffi::HTTP_SERVICE_UNAVAILABLE as c_int;
            };
            // SAFETY: the request's merged per-dir vector, live for the request.
            let view = unsafe { dir_config(rr.per_dir_config) }
                .and_then(|dc| dc.status_view)
                .unwrap_or_default();
            // The serving host's declarations and the main server's, which reach every host.
            let mut visible: Vec<Arc<RequiredDir>> = main_config
                .map(|sc| sc.declared.clone())
                .unwrap_or_default();
            if rr.server.cast_const() != main {
                // SAFETY: the request's virtual host lives for this generation.
                if let Some(sc) = unsafe { server_config(rr.server) } {
                    visible.extend(sc.declared.iter().cloned());
                }
            }
            let (dirs, records) = select_view(view, monitor.dirs(), records, &visible);
            let explained = monitor.shared().explained();
            let snap = Snapshot {
                view,
                explained: &explained,
                dirs: &dirs,
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

//! The `dirguard-status` handler: the shared state as HTML, JSON or Prometheus metrics. It
//! answers only where the administrator wrote `SetHandler dirguard-status`, and declines every
//! other request without looking further than the handler name. What a page shows is chosen in
//! core::status (`select_view`); this glue only gathers the declarations of the serving host.

use super::boundary::{entry, Request, Server};
use super::log::{self, Sink};
use crate::core::export::{self, Export};
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

entry! {
    pub fn handler(r: *mut ffi::request_rec) -> c_int
        [entry "the dirguard-status handler", instead "the request gets 500",
         log Sink::Request(r), fallback ffi::HTTP_INTERNAL_SERVER_ERROR as c_int]
    {
        // SAFETY: the live request of this hook (S6).
        let Some(r) = (unsafe { Request::from_raw(r) }) else {
            return ffi::DECLINED;
        };
        if r.handler() != Some(HANDLER) {
            return ffi::DECLINED;
        }
        if !r.is_get() {
            r.allow_only_get();
            return ffi::HTTP_METHOD_NOT_ALLOWED as c_int;
        }
        let Some(format) = format_of(r.args()) else {
            return ffi::HTTP_BAD_REQUEST as c_int;
        };
        let main = r.main_server();
        let main_config = main.and_then(Server::config);
        let monitor = main_config.and_then(|sc| sc.monitor.get());
        let snapshot = monitor.and_then(|m| m.shared().snapshot().map(|s| (m, s)));
        let Some((monitor, (totals, records))) = snapshot else {
            let line = unavailable_line();
            log::write(Sink::Request(r.raw()), line.severity, line.tag, &line.text);
            return ffi::HTTP_SERVICE_UNAVAILABLE as c_int;
        };
        let view = r
            .dir_config()
            .and_then(|dc| dc.status_view)
            .unwrap_or_default();
        // What the serving virtual host may see: the main server's declarations, which reach
        // every virtual host, and its own.
        let mut visible: Vec<Arc<RequiredDir>> = main_config
            .map(|sc| sc.declared.clone())
            .unwrap_or_default();
        if !main.is_some_and(|m| m.is(r.server())) {
            if let Some(sc) = r.server().config() {
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
            Format::Export(e) => (
                match e {
                    Export::Markdown => c"text/markdown; charset=utf-8",
                    Export::Ansible => c"application/yaml; charset=utf-8",
                    Export::Tmpfiles | Export::Puppet => c"text/plain; charset=utf-8",
                },
                export::render(e, &dirs, monitor.identity()),
            ),
        };
        r.set_content_type(content_type);
        r.set_header(c"Cache-Control", c"no-store");
        if !r.header_only() {
            r.write(body.as_bytes());
        }
        ffi::OK as c_int
    }
}

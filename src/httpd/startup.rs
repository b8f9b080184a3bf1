//! The startup self-check in Apache's lifecycle.
//!
//! Apache reads its configuration twice at start (and once per restart), and opens the error
//! log between check_config and post_config, after which stderr *is* the error log. So:
//! - first pass, check_config: the terminal is still attached. Under `apache2 -t` the report
//!   (with what repair would do) goes to stderr and `fail` makes the test fail. For a real start
//!   in `fail` mode the check runs here too, so a refusal is printed on the terminal, and the
//!   report is kept for post_config;
//! - first pass, post_config: a kept refusal is written into the error log and Apache stops;
//! - second pass and every restart, post_config: repair, audit, log once, decide.

use super::boundary::{Pool, Server};
use super::config::ServerConfig;
use super::log::{self, Sink};
use crate::core::derive;
use crate::core::export::Export;
use crate::core::identity::Identity;
use crate::core::messages::Line;
use crate::core::spec::RequiredDir;
use crate::core::startup::{self, Outcome};
use crate::core::wiring::{self, ConfNode};
use crate::ffi;
use std::os::raw::c_int;
use std::sync::Arc;

const FAILED: c_int = ffi::HTTP_INTERNAL_SERVER_ERROR as c_int;
const OK: c_int = ffi::OK as c_int;

fn query(code: u32) -> c_int {
    // SAFETY: ap_state_query only reads process state.
    unsafe { ffi::ap_state_query(code as c_int) }
}

fn first_pass() -> bool {
    query(ffi::AP_SQ_MAIN_STATE) == ffi::AP_SQ_MS_CREATE_PRE_CONFIG as c_int
}

fn configtest() -> bool {
    query(ffi::AP_SQ_RUN_MODE) == ffi::AP_SQ_RM_CONFIG_TEST as c_int
}

/// `apache2 -S`, `-M`, `-t -D DUMP_…`: Apache only prints its configuration; tools run these
/// (certbot reads `-t -D DUMP_MODULES`), so no check and no refusal.
fn config_dump() -> bool {
    query(ffi::AP_SQ_RUN_MODE) == ffi::AP_SQ_RM_CONFIG_DUMP as c_int
}

/// Every declaration of every server (main first, then virtual hosts in config order), each
/// once. A virtual host in which none of this module's directives appears has no configuration
/// of its own: httpd 2.4 gives it the main server's, the same pointer, without a merge
/// (`merge_server_configs` in server/config.c), so its declarations are the main server's.
fn declared(main: Server<'_>) -> Vec<Arc<RequiredDir>> {
    let mut all = Vec::new();
    let mut seen: Vec<*const ServerConfig> = Vec::new();
    for sc in main.all().filter_map(Server::config) {
        if !seen.contains(&(sc as *const ServerConfig)) {
            seen.push(sc);
            all.extend(sc.declared.iter().cloned());
        }
    }
    all
}

/// Every requirement of this generation (`core::derive::effective`): the declared ones, the
/// presets of the applications detected in the directories Apache serves (looked for in a
/// forked process, `core::derive::detect_isolated`), and what Apache's own configuration
/// implies; each checked for its application's identity (`resolve_identities`).
fn effective(
    main: Server<'_>,
    sc: &ServerConfig,
    tree: &[ConfNode],
    sink: Option<Sink>,
) -> Vec<Arc<RequiredDir>> {
    // SAFETY: ap_server_root is set while the configuration is read and only read afterwards
    // (S8); a NUL-terminated string or null.
    let root = unsafe { super::ffi_util::cstr_bytes(*std::ptr::addr_of!(ffi::ap_server_root)) };
    let root = crate::core::spec::path_from_bytes(root.unwrap_or(b"/"));
    let implied = derive::derive(tree, &root);
    let limit = sc
        .check_timeout()
        .saturating_mul(
            u32::try_from(implied.served.len())
                .unwrap_or(u32::MAX)
                .saturating_add(1),
        )
        .min(std::time::Duration::from_secs(120));
    let (found, pid) = derive::detect_isolated(&implied.served, limit);
    if let Some(pid) = pid {
        hand_to_mpm(pid);
    }
    let presets = derive::preset_requirements(&implied.served, &found);
    let dirs = derive::effective(declared(main), presets, implied.required);
    resolve_identities(sc, &dirs, tree, sink);
    dirs
}

/// Who each requirement is checked for (`core::wiring`), set on the requirements of this
/// generation before any check (those with an identity of their own already, such as the log
/// directories root opens, keep it); the lines saying so go to `sink` when given.
fn resolve_identities(
    sc: &ServerConfig,
    dirs: &[Arc<RequiredDir>],
    tree: &[ConfNode],
    sink: Option<Sink>,
) {
    if dirs.is_empty() {
        return;
    }
    let globs = sc.fpm_pools();
    // Pool files are read like Apache's own configuration files, before any request, and only
    // when some directive passes scripts to a FastCGI server.
    let pools = if wiring::mentions_fastcgi(tree) {
        wiring::load_pools(&globs)
    } else {
        Vec::new()
    };
    let open: Vec<Arc<RequiredDir>> = dirs
        .iter()
        .filter(|d| d.who.get().is_none())
        .cloned()
        .collect();
    let dirs = &open;
    let resolutions = wiring::resolve(tree, dirs, &pools, &globs.join(" "));
    for (dir, r) in dirs.iter().zip(&resolutions) {
        if let Some(who) = &r.who {
            let _ = dir.who.set(Arc::new(who.clone()));
        }
    }
    if let Some(sink) = sink {
        for line in wiring::lines(dirs, &resolutions) {
            write(sink, &line);
        }
    }
}

fn write(sink: Sink, line: &Line) {
    log::write(sink, line.severity, line.tag, &line.text);
}

/// Who the children will run as: the configured User/Group when Apache starts as root,
/// otherwise the running user (with a note that ownership repair is then impossible).
fn identity(sink: Sink) -> Identity {
    // SAFETY: plain reads of the process's credentials and of mod_unixd's config, which is
    // complete once the configuration has been read (check_config and later; S8).
    unsafe {
        if libc::geteuid() != 0 {
            let id = Identity::current_process();
            write(sink, &startup::unprivileged_line(&id));
            return id;
        }
        let cfg = &*std::ptr::addr_of!(ffi::ap_unixd_config);
        let name = super::ffi_util::cstr_bytes(cfg.user_name)
            .map(|b| String::from_utf8_lossy(b).into_owned());
        let id = Identity::for_server_user(name.as_deref(), cfg.user_id, cfg.group_id);
        for line in startup::server_user_lines(&id) {
            write(sink, &line);
        }
        id
    }
}

/// The startup check as this server configures it (`core::startup::check`).
/// The startup check, made in a forked process (`core::startup::check_isolated`); a checking
/// process that has not exited yet is handed to the MPM, which reaps it with its children.
fn make_report(
    sc: &ServerConfig,
    dirs: &[Arc<RequiredDir>],
    id: &Identity,
    dry_run: bool,
) -> Option<Outcome> {
    let (outcome, pid) = startup::check_isolated(
        sc.startup_mode(),
        sc.repair_mode(),
        dirs,
        id,
        dry_run,
        sc.check_timeout(),
    )?;
    if let Some(pid) = pid {
        hand_to_mpm(pid);
    }
    Some(outcome)
}

/// A forked process of ours that has not exited yet: the MPM reaps it with its children.
fn hand_to_mpm(pid: i32) {
    let mut generation: c_int = 0;
    // SAFETY: plain MPM queries and registration with a pid of our own child; the MPM reaps
    // registered processes without logging them as lost children.
    unsafe {
        ffi::ap_mpm_query(ffi::AP_MPMQ_GENERATION as c_int, &mut generation);
        ffi::ap_register_extra_mpm_process(pid, generation);
    }
}

fn emit(sink: Sink, report: &Outcome) {
    for line in &report.lines {
        write(sink, line);
    }
}

/// `-D DUMP_DIRGUARD` was given (with `-t`).
fn dump_asked() -> bool {
    // SAFETY: reads Apache's list of -D defines with a NUL-terminated name.
    unsafe { ffi::ap_exists_config_define(c"DUMP_DIRGUARD".as_ptr()) != 0 }
}

/// `apachectl -t -D DUMP_DIRGUARD`: every effective requirement and its verdict now, on stdout;
/// then Apache ends like `-t` (the check's own lines are not repeated on stderr).
fn dump(s: Server<'_>, sc: &ServerConfig) -> c_int {
    let id = identity(Sink::Startup);
    let tree = super::conftree::read();
    let dirs = effective(s, sc, &tree, None);
    let checked = startup::check_isolated(
        crate::core::settings::StartupMode::Warn,
        sc.repair_mode(),
        &dirs,
        &id,
        true,
        sc.check_timeout(),
    );
    let records = checked.as_ref().and_then(|(outcome, pid)| {
        if let Some(pid) = pid {
            hand_to_mpm(*pid);
        }
        outcome.seed.as_ref().map(|seed| seed.records.clone())
    });
    let text = crate::core::dump::render(&dirs, &id, records.as_deref());
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    OK
}

/// `-D DUMP_DIRGUARD_TMPFILES` (`_ANSIBLE`, `_PUPPET`, `_MARKDOWN`) was given (with `-t`).
fn export_asked() -> Option<Export> {
    Export::ALL.into_iter().find(|e| {
        let define = format!("DUMP_DIRGUARD_{}", e.name().to_ascii_uppercase());
        let Ok(name) = std::ffi::CString::new(define) else {
            return false;
        };
        // SAFETY: reads Apache's list of -D defines with a NUL-terminated name.
        unsafe { ffi::ap_exists_config_define(name.as_ptr()) != 0 }
    })
}

/// `apachectl -t -D DUMP_DIRGUARD_TMPFILES` and the other exports: the effective requirements
/// in that format on stdout, offline from the configuration (nothing is checked); then Apache
/// ends like `-t`.
fn export(s: Server<'_>, sc: &ServerConfig, format: Export) -> c_int {
    let id = identity(Sink::Startup);
    let tree = super::conftree::read();
    let dirs = effective(s, sc, &tree, None);
    let text = crate::core::export::render(format, &dirs, &id);
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    OK
}

pub fn check_config(s: Server<'_>) -> c_int {
    if !first_pass() {
        return OK;
    }
    let Some(sc) = s.config() else {
        return OK;
    };
    if configtest() && dump_asked() {
        return dump(s, sc);
    }
    if configtest() {
        if let Some(format) = export_asked() {
            return export(s, sc, format);
        }
    }
    if config_dump() {
        return OK;
    }
    let test = configtest();
    if !sc.startup_mode().checks_in_first_pass(test) {
        return OK;
    }
    let id = identity(Sink::Startup);
    let tree = super::conftree::read();
    let dirs = effective(s, sc, &tree, test.then_some(Sink::Startup));
    let Some(report) = make_report(sc, &dirs, &id, test) else {
        return OK;
    };
    if test || report.refused {
        emit(Sink::Startup, &report);
    }
    if test {
        return if report.refused { FAILED } else { OK };
    }
    if report.refused {
        if let Ok(mut pending) = sc.pending.lock() {
            *pending = Some(report);
        }
    }
    OK
}

pub fn post_config(s: Server<'_>, pconf: Pool<'_>) -> c_int {
    let sink = Sink::Server(s.raw());
    let Some(sc) = s.config() else {
        return OK;
    };
    if first_pass() {
        let pending = sc.pending.lock().ok().and_then(|mut p| p.take());
        return match pending {
            Some(report) => {
                emit(sink, &report);
                FAILED
            }
            None => OK,
        };
    }
    let id = identity(sink);
    let tree = super::conftree::read();
    let dirs = effective(s, sc, &tree, Some(sink));
    // What nobody declared is in scope for the requests below the directory it serves.
    let _ = sc.implied.set(
        dirs.iter()
            .filter(|d| d.serves.is_some())
            .cloned()
            .collect(),
    );
    let report = make_report(sc, &dirs, &id, false);
    if let Some(report) = &report {
        emit(sink, report);
        if report.refused {
            return FAILED;
        }
    }
    let startup = report.and_then(|r| r.seed);
    if let Some(monitor) = super::monitor::start(
        s.raw().cast_mut(),
        pconf.raw(),
        dirs,
        id,
        sc.interval(),
        sc.check_timeout(),
        startup,
    ) {
        let _ = sc.monitor.set(monitor);
    }
    OK
}

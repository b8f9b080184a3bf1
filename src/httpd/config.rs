//! Server and per-directory configuration and the directive handlers. Configuration is built
//! while Apache reads its files (one thread), owned by the config pool, and read-only afterwards.

use super::boundary::{entry, Merge, Merged, Pool};
use super::ffi_util::{cstr_bytes, pool_error};
use super::log::Sink;
use crate::core::explain::{parse_retry_after, ExplainSet, OnFailure, SafeMethods};
use crate::core::monitor::Monitor;
use crate::core::scope::SectionPath;
use crate::core::settings::{Interval, RepairMode, StartupMode};
use crate::core::spec::{self, Base, Origin, RequiredDir};
use crate::core::status::View;
use crate::ffi;
use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_void};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

/// Per virtual host (and the main server).
#[derive(Default)]
pub struct ServerConfig {
    /// Every `DirGuardRequire` written inside this server's part of the configuration, in any
    /// context: the startup check audits the union over all servers.
    pub declared: Vec<Arc<RequiredDir>>,
    /// Main server only (the directives are refused in <VirtualHost>).
    pub startup: Option<StartupMode>,
    pub repair: Option<RepairMode>,
    /// `DirGuardInterval` (main server only).
    pub interval: Option<Interval>,
    /// `DirGuardCheckTimeout` (main server only).
    pub check_timeout: Option<std::time::Duration>,
    /// `DirGuardPhpFpmPools` (main server only): where PHP-FPM pool files are read.
    pub fpm_pools: Option<Vec<String>>,
    /// The live monitor of this generation (main server only), set in post_config.
    pub monitor: OnceLock<Arc<Monitor>>,
    /// The startup report made in the first pass's check_config, handed to that pass's
    /// post_config (same config pool) to be written into the error log.
    pub pending: Mutex<Option<crate::core::startup::Outcome>>,
    /// The `<Directory>` sections of this server's part of the configuration that hold one of
    /// this module's directives, in configuration order: a script passed to a FastCGI server
    /// never walks them, so they are found by its path (`core::scope`).
    pub sections: Vec<Section>,
    /// Main server only, set in post_config: the requirements nobody declared that serve a
    /// directory (presets, `DocumentRoot`, `Alias`), in scope for the requests below it.
    pub implied: OnceLock<Vec<Arc<RequiredDir>>>,
}

/// A `<Directory>` section with this module's directives, and its configuration.
pub struct Section {
    pub path: SectionPath,
    /// The section's own configuration, in the configuration pool, which outlives every
    /// request of the generation (S10).
    pub config: *const DirConfig,
}

impl ServerConfig {
    pub fn startup_mode(&self) -> StartupMode {
        self.startup.unwrap_or_default()
    }

    pub fn repair_mode(&self) -> RepairMode {
        self.repair.unwrap_or_default()
    }

    pub fn interval(&self) -> Interval {
        self.interval.unwrap_or_default()
    }

    /// The pool-file globs `DirGuardPhpFpmPools` names, else the distributions' places.
    pub fn fpm_pools(&self) -> Vec<String> {
        self.fpm_pools.clone().unwrap_or_else(|| {
            crate::core::wiring::DEFAULT_POOL_FILES
                .iter()
                .map(|s| s.to_string())
                .collect()
        })
    }

    pub fn check_timeout(&self) -> std::time::Duration {
        self.check_timeout
            .unwrap_or(crate::core::bounded::DEFAULT_TIMEOUT)
    }
}

/// A section's own `DirGuardRequire` declarations, owned by the configuration pool.
type Declared = Vec<Arc<RequiredDir>>;

/// Per directory/location section, and during a request the merge of every section that applies:
/// the requirements in scope and what a request does about them.
///
/// Plain data (`Copy`, no destructor) so that a merge, which Apache makes for every request and
/// every matching section, is one pool allocation: no reference counts, no pool cleanup. A
/// merged configuration does not copy the requirements; it points to its section's own list and
/// to the configuration it was merged onto (`parent`), whose requirements come first.
#[derive(Clone, Copy)]
pub struct DirConfig {
    /// This section's own declarations; null when it has none.
    own: *const Declared,
    /// The configuration this one was merged onto, when that has requirements; null otherwise.
    parent: *const DirConfig,
    pub on_failure: Option<OnFailure>,
    pub retry_after: Option<u32>,
    /// `DirGuardExplain`: the set lives in the configuration pool (a pointer keeps this plain
    /// node small: a merge copies it); null when not set here or above.
    explain: *const ExplainSet,
    /// `DirGuardStatusView`: what a status page here shows (never set from .htaccess).
    pub status_view: Option<View>,
    /// `DirGuardSafeMethods`, in the configuration pool like `explain`; null when not set.
    safe_methods: *const SafeMethods,
}

impl Default for DirConfig {
    fn default() -> DirConfig {
        DirConfig {
            own: std::ptr::null(),
            parent: std::ptr::null(),
            on_failure: None,
            retry_after: None,
            explain: std::ptr::null(),
            status_view: None,
            safe_methods: std::ptr::null(),
        }
    }
}

impl DirConfig {
    fn is_empty(&self) -> bool {
        !self.has_required()
            && self.on_failure.is_none()
            && self.retry_after.is_none()
            && self.explain.is_null()
            && self.status_view.is_none()
            && self.safe_methods.is_null()
    }

    /// `DirGuardSafeMethods` in effect here (None: not set, which means its default).
    pub fn safe_methods(&self) -> Option<&SafeMethods> {
        // SAFETY: null or a set in the configuration pool, which outlives this configuration
        // (S10).
        unsafe { self.safe_methods.as_ref() }
    }

    /// This configuration with `sections` merged on top, in order, as if the request had walked
    /// them (a script passed to a FastCGI server, `core::scope`): one node per merge, in the
    /// request's pool.
    pub fn with_sections<'p>(
        &'p self,
        pool: Pool<'p>,
        sections: impl Iterator<Item = &'p DirConfig>,
    ) -> &'p DirConfig {
        let mut effective = self;
        for add in sections {
            effective = match <DirConfig as Merge>::merge(pool, effective, add) {
                Merged::Base => effective,
                Merged::Add => add,
                Merged::Stored(m) => m,
                Merged::New(v) => pool.alloc_plain(v),
            };
        }
        effective
    }

    /// `DirGuardExplain` in effect here (None: not set, which means its default).
    pub fn explain(&self) -> Option<&ExplainSet> {
        // SAFETY: null or a set in the configuration pool (or the request's, for .htaccess),
        // which outlives this configuration (S10).
        unsafe { self.explain.as_ref() }
    }

    /// Whether any requirement is in scope: two pointer tests.
    pub fn has_required(&self) -> bool {
        !self.own.is_null() || !self.parent.is_null()
    }

    /// Visits the requirements in scope in configuration order (outer sections first) until
    /// `f` breaks. No allocation.
    pub fn each_required<'a, B>(
        &'a self,
        f: &mut impl FnMut(&'a Arc<RequiredDir>) -> std::ops::ControlFlow<B>,
    ) -> std::ops::ControlFlow<B> {
        // SAFETY: parent and own point into pools that outlive this configuration (S10 in
        // docs/design.md: a merge never outlives what it merges), and nothing mutates them once
        // the configuration has been read (S4).
        unsafe {
            if let Some(parent) = self.parent.as_ref() {
                parent.each_required(f)?;
            }
            if let Some(own) = self.own.as_ref() {
                for d in own {
                    f(d)?;
                }
            }
        }
        std::ops::ControlFlow::Continue(())
    }

    /// The requirements in scope, in configuration order (for explanations and status pages).
    pub fn required(&self) -> Vec<Arc<RequiredDir>> {
        let mut all = Vec::new();
        let _ = self.each_required(&mut |d| {
            all.push(d.clone());
            std::ops::ControlFlow::<()>::Continue(())
        });
        all
    }

    /// Adds a declaration to this section (while the configuration is read, one thread).
    fn declare(&mut self, pool: Pool<'_>, required: Arc<RequiredDir>) {
        if self.own.is_null() {
            // The configuration pool the section lives in; its cleanup drops the list (S1).
            self.own = pool.alloc(Declared::new());
        }
        // SAFETY: `own` was made just above or by an earlier call, for this section only; no
        // request reads it before the configuration phase ends (S9).
        unsafe { (*self.own.cast_mut()).push(required) };
    }

    /// `add` merged onto `base` (both non-empty), allocated in `pool`, which Apache chooses so
    /// that it does not outlive `base` or `add` (the request's pool, or the generation's).
    fn merged<'p>(pool: Pool<'p>, base: &'p DirConfig, add: &'p DirConfig) -> &'p DirConfig {
        let parent = if !base.has_required() {
            add.parent
        } else if add.parent.is_null() {
            base as *const DirConfig
        } else {
            // `add` is itself a merge (rare): its chain goes on top of base's, re-linked.
            // SAFETY: add.parent points into a pool that outlives `pool`, as add does (S10).
            DirConfig::merged(pool, base, unsafe { &*add.parent }) as *const DirConfig
        };
        let merged = DirConfig {
            own: add.own,
            parent,
            on_failure: add.on_failure.or(base.on_failure),
            retry_after: add.retry_after.or(base.retry_after),
            explain: if add.explain.is_null() {
                base.explain
            } else {
                add.explain
            },
            status_view: add.status_view.or(base.status_view),
            safe_methods: if add.safe_methods.is_null() {
                base.safe_methods
            } else {
                add.safe_methods
            },
        };
        pool.alloc_plain(merged)
    }
}

impl Merge for ServerConfig {
    const WHAT: &'static str = "the server configuration";

    fn merge<'p>(_pool: Pool<'p>, base: &'p Self, add: &'p Self) -> Merged<'p, Self> {
        Merged::New(ServerConfig {
            // A virtual host's declarations are its own; the main server's are audited once.
            declared: add.declared.clone(),
            startup: add.startup.or(base.startup),
            repair: add.repair.or(base.repair),
            interval: add.interval.or(base.interval),
            check_timeout: add.check_timeout.or(base.check_timeout),
            fpm_pools: add.fpm_pools.clone().or_else(|| base.fpm_pools.clone()),
            monitor: OnceLock::new(),
            pending: Mutex::new(None),
            implied: OnceLock::new(),
            // A virtual host's sections are its own; the main server's apply to every host.
            sections: add
                .sections
                .iter()
                .map(|s| Section {
                    path: s.path.clone(),
                    config: s.config,
                })
                .collect(),
        })
    }
}

impl Merge for DirConfig {
    const WHAT: &'static str = "the per-directory configuration";

    /// This runs for every request and every matching section. Configuration is immutable once
    /// Apache runs, so when one side adds nothing the other side is the result, shared as it
    /// is: no allocation on the common path; otherwise one plain node (`DirConfig::merged`).
    fn merge<'p>(pool: Pool<'p>, base: &'p Self, add: &'p Self) -> Merged<'p, Self> {
        if add.is_empty() {
            return Merged::Base;
        }
        if base.is_empty() {
            return Merged::Add;
        }
        Merged::Stored(DirConfig::merged(pool, base, add))
    }

    /// Plain data: no cleanup to register.
    fn store<'p>(pool: Pool<'p>, value: Self) -> &'p mut Self {
        pool.alloc_plain(value)
    }
}

/// A per-directory directive's target: the section's DirConfig (mutable while configuring).
///
/// # Safety
/// `mconfig` is null or the `mconfig` Apache passed to one of this module's directive handlers,
/// and no other reference to that DirConfig exists while the result is used.
unsafe fn dir_config_mut<'a>(mconfig: *mut c_void) -> Option<&'a mut DirConfig> {
    // SAFETY: mconfig is this module's DirConfig for the section being read (S7), written by one
    // thread only (S9).
    unsafe { mconfig.cast::<DirConfig>().as_mut() }
}

/// A TAKE_ARGV directive's arguments as text.
///
/// # Safety
/// `argv` holds `argc` NUL-terminated strings, alive for the call (what Apache passes).
unsafe fn argv_strings(argc: c_int, argv: *const *mut c_char) -> Vec<String> {
    (0..argc.max(0) as usize)
        // SAFETY: i < argc (the caller's contract).
        .map(|i| string_arg(unsafe { *argv.add(i) }))
        .collect()
}

fn string_arg(arg: *const c_char) -> String {
    // SAFETY: arg is a NUL-terminated argument string from Apache, alive for the directive.
    String::from_utf8_lossy(unsafe { cstr_bytes(arg) }.unwrap_or_default()).into_owned()
}

/// Mutable access while directives are processed (one thread, before any reader exists).
///
/// # Safety
/// `s` is the server whose directives are being read; nothing else holds its configuration.
unsafe fn server_config_mut<'a>(s: *mut ffi::server_rec) -> Option<&'a mut ServerConfig> {
    // SAFETY: module_config is Apache's per-module vector for this server (what
    // ap_get_module_config reads), holding our ServerConfig (S7); the configuration phase is
    // single-threaded (S9).
    unsafe {
        let vector = (*s).module_config.cast::<*mut c_void>();
        (*vector.add(super::module::index() as usize))
            .cast::<ServerConfig>()
            .as_mut()
    }
}

/// The directory relative paths are resolved against: the enclosing `<Directory>`, or
/// ServerRoot outside any section; for other sections, why there is none.
///
/// # Safety
/// `cmd` is the live `cmd_parms` of the directive being processed.
unsafe fn relative_base(cmd: *const ffi::cmd_parms) -> Result<PathBuf, &'static str> {
    // SAFETY: cmd, its directive node and the node's parents are Apache's parsed config tree,
    // alive while directives are processed (S6); ap_server_root is set by then (S8).
    unsafe {
        let mut node = (*(*cmd).directive).parent;
        while !node.is_null() {
            let name = CStr::from_ptr((*node).directive)
                .to_bytes()
                .to_ascii_lowercase();
            match name.as_slice() {
                b"<directory" => {
                    let args = cstr_bytes((*node).args).unwrap_or_default();
                    if args.trim_ascii_start().starts_with(b"~") {
                        return Err("inside <Directory ~ regex>");
                    }
                    let path = cstr_bytes((*cmd).path).unwrap_or_default();
                    if path.iter().any(|b| b"*?[".contains(b)) {
                        return Err("inside a wildcard <Directory>");
                    }
                    return Ok(spec::path_from_bytes(path));
                }
                b"<directorymatch" => return Err("inside <DirectoryMatch>"),
                b"<location" | b"<locationmatch" => return Err("inside <Location>"),
                b"<files" | b"<filesmatch" => return Err("inside <Files>"),
                b"<if" | b"<elseif" | b"<else" => return Err("inside <If>"),
                b"<virtualhost" => break,
                _ => node = (*node).parent,
            }
        }
        let root = cstr_bytes(*std::ptr::addr_of!(ffi::ap_server_root)).unwrap_or(b"/");
        Ok(spec::path_from_bytes(root))
    }
}

/// The sections enclosing the directive, outermost first (`<VirtualHost *:80> <Directory /x>`),
/// without conditional ones such as <IfModule>; "server" outside any.
///
/// # Safety
/// `cmd` is the live `cmd_parms` of the directive being processed.
unsafe fn scope_of(cmd: *const ffi::cmd_parms) -> String {
    let mut sections: Vec<(String, String)> = Vec::new();
    // SAFETY: Apache's parsed config tree, alive while directives are processed (S6).
    unsafe {
        let mut node = (*(*cmd).directive).parent;
        while !node.is_null() {
            let text = |p| String::from_utf8_lossy(cstr_bytes(p).unwrap_or_default()).into_owned();
            sections.push((text((*node).directive), text((*node).args)));
            node = (*node).parent;
        }
    }
    sections.reverse();
    spec::scope_text(&sections)
}

entry! {
    /// `DirGuardRequire PATH [key=value …]`
    pub fn cmd_require(cmd: *mut ffi::cmd_parms, mconfig: *mut c_void, argc: c_int, argv: *const *mut c_char) -> *const c_char
        [entry "DirGuardRequire", instead "the directive is refused", log Sink::Startup,
         fallback INTERNAL_ERROR.as_ptr()]
    {
        // SAFETY: Apache passes argc NUL-terminated strings in argv, alive for the directive.
        let args: Vec<&[u8]> = (0..argc.max(0) as usize)
            .filter_map(|i| unsafe { cstr_bytes(*argv.add(i)) })
            .collect();
        // SAFETY: cmd is live (S6); directive and its filename are set while processing.
        let origin = unsafe {
            let d = (*cmd).directive;
            Origin {
                file: String::from_utf8_lossy(cstr_bytes((*d).filename).unwrap_or(b"?"))
                    .into_owned(),
                line: (*d).line_num.max(0) as u32,
            }
        };
        // SAFETY: as above (S6).
        let base_dir = unsafe { relative_base(cmd) };
        let base = match &base_dir {
            Ok(dir) => Base::Dir(dir),
            Err(why) => Base::Unknown(why),
        };
        directive(
            cmd,
            || {
                // Never from .htaccess, not even through `AllowOverrideList DirGuardRequire`: a
                // declaration is the server's, counted in its shared list (S9).
                not_in_htaccess(cmd)?;
                spec::parse_require(&args, base, origin)
            },
            |mut required| {
                // SAFETY: cmd is live while the directive is processed (S6).
                required.scope = unsafe { scope_of(cmd) };
                // The node in Apache's parsed tree, for the sections around it (core::wiring).
                // SAFETY: as above.
                required.node = unsafe { (*cmd).directive } as usize;
                let required = Arc::new(required);
                // SAFETY: mconfig is this module's DirConfig for the section being read and the
                // server's entry its ServerConfig (S7); cmd and its pool are live (S6). One
                // thread writes them (S9), except in an .htaccess admitted by AllowOverrideList,
                // where the server's ServerConfig is shared with other requests' threads.
                unsafe {
                    if let Some(dir) = mconfig.cast::<DirConfig>().as_mut() {
                        dir.declare(Pool::from_raw((*cmd).pool), required.clone());
                    }
                    register_section(cmd, mconfig);
                    if let Some(server) = server_config_mut((*cmd).server) {
                        server.declared.push(required);
                    }
                }
            },
        )
    }
}

/// What Apache shows if a directive handler hits an internal error (the panic is logged).
const INTERNAL_ERROR: &std::ffi::CStr = crate::core::messages::DIRECTIVE_INTERNAL_ERROR;

/// A directive handler's result: `parse` yields the value or the error text Apache shows with
/// file and line; `apply` stores the value. (The handlers run under `entry!`'s guard.)
fn directive<T>(
    cmd: *mut ffi::cmd_parms,
    parse: impl FnOnce() -> Result<T, String>,
    apply: impl FnOnce(T),
) -> *const c_char {
    match parse() {
        // SAFETY: the pool is live while the directive is processed (S6).
        Err(e) => unsafe { pool_error((*cmd).pool, &e) },
        Ok(v) => {
            apply(v);
            std::ptr::null()
        }
    }
}

/// Refuses a main-server directive elsewhere (Apache's own wording, e.g. "cannot occur within
/// <VirtualHost> section").
fn global_only(cmd: *mut ffi::cmd_parms) -> Result<(), String> {
    // SAFETY: Apache passes a live cmd_parms (S6); the returned text is a static or pool string.
    let err = unsafe { ffi::ap_check_cmd_context(cmd, ffi::GLOBAL_ONLY) };
    if err.is_null() {
        return Ok(());
    }
    // SAFETY: non-null, NUL-terminated.
    Err(String::from_utf8_lossy(unsafe { std::ffi::CStr::from_ptr(err) }.to_bytes()).into_owned())
}

/// Refuses a directive in an .htaccess file (Apache's own wording), whatever `AllowOverrideList`
/// says.
fn not_in_htaccess(cmd: *mut ffi::cmd_parms) -> Result<(), String> {
    // SAFETY: Apache passes a live cmd_parms; the returned text is a static or pool string (S6).
    let err = unsafe { ffi::ap_check_cmd_context(cmd, ffi::NOT_IN_HTACCESS) };
    if err.is_null() {
        return Ok(());
    }
    // SAFETY: non-null, NUL-terminated.
    Err(String::from_utf8_lossy(unsafe { CStr::from_ptr(err) }.to_bytes()).into_owned())
}

/// The main server's configuration while its directives are read.
fn with_server(cmd: *mut ffi::cmd_parms, apply: impl FnOnce(&mut ServerConfig)) {
    // SAFETY: single-threaded configuration phase (S9; GLOBAL_ONLY keeps these directives out
    // of .htaccess); cmd->server is live (S6).
    if let Some(sc) = unsafe { server_config_mut((*cmd).server) } {
        apply(sc);
    }
}

/// A section's configuration while its directives are read.
fn with_dir(cmd: *mut ffi::cmd_parms, mconfig: *mut c_void, apply: impl FnOnce(&mut DirConfig)) {
    // SAFETY: see dir_config_mut (S7, S9).
    if let Some(dc) = unsafe { dir_config_mut(mconfig) } {
        apply(dc);
    }
    register_section(cmd, mconfig);
}

/// Records the `<Directory>` section a directive of this module is in, once, with its
/// configuration, in the server's list of sections (`ServerConfig::sections`). Not from
/// .htaccess (a request's configuration, not the server's), not for `<Directory ~ regex>`,
/// `<DirectoryMatch>` or a `<Files>` inside a section (matched by file name, not by
/// directory).
fn register_section(cmd: *mut ffi::cmd_parms, mconfig: *mut c_void) {
    if mconfig.is_null() || not_in_htaccess(cmd).is_err() {
        return;
    }
    // SAFETY: cmd, its directive node and the node's parent are Apache's parsed config tree,
    // alive while directives are processed (S6); one thread reads the configuration (S9).
    unsafe {
        let parent = (*(*cmd).directive).parent;
        if parent.is_null() {
            return;
        }
        let name = CStr::from_ptr((*parent).directive).to_bytes();
        let args = cstr_bytes((*parent).args).unwrap_or_default();
        if !name.eq_ignore_ascii_case(b"<directory") || args.trim_ascii_start().starts_with(b"~") {
            return;
        }
        let Some(path) = cstr_bytes((*cmd).path) else {
            return;
        };
        let Some(server) = server_config_mut((*cmd).server) else {
            return;
        };
        let config = mconfig.cast::<DirConfig>().cast_const();
        if server
            .sections
            .iter()
            .any(|s| std::ptr::eq(s.config, config))
        {
            return;
        }
        server.sections.push(Section {
            path: SectionPath::new(path),
            config,
        });
    }
}

entry! {
    /// `DirGuardStartup warn|fail|off`
    pub fn cmd_startup(cmd: *mut ffi::cmd_parms, _mconfig: *mut c_void, arg: *const c_char) -> *const c_char
        [entry "DirGuardStartup", instead "the directive is refused", log Sink::Startup,
         fallback INTERNAL_ERROR.as_ptr()]
    {
        directive(
            cmd,
            || {
                global_only(cmd)?;
                StartupMode::parse(&string_arg(arg))
            },
            |v| with_server(cmd, |sc| sc.startup = Some(v)),
        )
    }
}

entry! {
    /// `DirGuardRepair off|create|enforce`
    pub fn cmd_repair(cmd: *mut ffi::cmd_parms, _mconfig: *mut c_void, arg: *const c_char) -> *const c_char
        [entry "DirGuardRepair", instead "the directive is refused", log Sink::Startup,
         fallback INTERNAL_ERROR.as_ptr()]
    {
        directive(
            cmd,
            || {
                global_only(cmd)?;
                RepairMode::parse(&string_arg(arg))
            },
            |v| with_server(cmd, |sc| sc.repair = Some(v)),
        )
    }
}

entry! {
    /// `DirGuardInterval SECONDS`
    pub fn cmd_interval(cmd: *mut ffi::cmd_parms, _mconfig: *mut c_void, arg: *const c_char) -> *const c_char
        [entry "DirGuardInterval", instead "the directive is refused", log Sink::Startup,
         fallback INTERNAL_ERROR.as_ptr()]
    {
        directive(
            cmd,
            || {
                global_only(cmd)?;
                Interval::parse(&string_arg(arg))
            },
            |v| with_server(cmd, |sc| sc.interval = Some(v)),
        )
    }
}

entry! {
    /// `DirGuardCheckTimeout SECONDS`
    pub fn cmd_check_timeout(cmd: *mut ffi::cmd_parms, _mconfig: *mut c_void, arg: *const c_char) -> *const c_char
        [entry "DirGuardCheckTimeout", instead "the directive is refused", log Sink::Startup,
         fallback INTERNAL_ERROR.as_ptr()]
    {
        directive(
            cmd,
            || {
                global_only(cmd)?;
                crate::core::bounded::parse_timeout(&string_arg(arg))
            },
            |v| with_server(cmd, |sc| sc.check_timeout = Some(v)),
        )
    }
}

entry! {
    /// `DirGuardOnFailure continue|503`
    pub fn cmd_on_failure(cmd: *mut ffi::cmd_parms, mconfig: *mut c_void, arg: *const c_char) -> *const c_char
        [entry "DirGuardOnFailure", instead "the directive is refused", log Sink::Startup,
         fallback INTERNAL_ERROR.as_ptr()]
    {
        directive(
            cmd,
            || OnFailure::parse(&string_arg(arg)),
            |v| with_dir(cmd, mconfig, |dc| dc.on_failure = Some(v)),
        )
    }
}

entry! {
    /// `DirGuardRetryAfter SECONDS`
    pub fn cmd_retry_after(cmd: *mut ffi::cmd_parms, mconfig: *mut c_void, arg: *const c_char) -> *const c_char
        [entry "DirGuardRetryAfter", instead "the directive is refused", log Sink::Startup,
         fallback INTERNAL_ERROR.as_ptr()]
    {
        directive(
            cmd,
            || parse_retry_after(&string_arg(arg)),
            |v| with_dir(cmd, mconfig, |dc| dc.retry_after = Some(v)),
        )
    }
}

entry! {
    /// `DirGuardExplain off|5xx|4xx|STATUS…`
    pub fn cmd_explain(cmd: *mut ffi::cmd_parms, mconfig: *mut c_void, argc: c_int, argv: *const *mut c_char) -> *const c_char
        [entry "DirGuardExplain", instead "the directive is refused", log Sink::Startup,
         fallback INTERNAL_ERROR.as_ptr()]
    {
        directive(
            cmd,
            || {
                // SAFETY: Apache's argc and argv for this directive (S6).
                let args = unsafe { argv_strings(argc, argv) };
                ExplainSet::parse(&args.iter().map(String::as_str).collect::<Vec<_>>())
            },
            |v| {
                // SAFETY: the pool is live while the directive is processed (S6).
                let set: *const ExplainSet = unsafe { Pool::from_raw((*cmd).pool) }.alloc_plain(v);
                with_dir(cmd, mconfig, |dc| dc.explain = set)
            },
        )
    }
}

entry! {
    /// `DirGuardStatusView vhost|all`
    pub fn cmd_status_view(cmd: *mut ffi::cmd_parms, mconfig: *mut c_void, arg: *const c_char) -> *const c_char
        [entry "DirGuardStatusView", instead "the directive is refused", log Sink::Startup,
         fallback INTERNAL_ERROR.as_ptr()]
    {
        directive(
            cmd,
            || {
                // The table already keeps it out of .htaccess (no OR_* bit), but an
                // `AllowOverrideList DirGuardStatusView` would let it in: the full view is the server
                // administrator's to grant, never a customer's.
                not_in_htaccess(cmd)?;
                View::parse(&string_arg(arg))
            },
            |v| with_dir(cmd, mconfig, |dc| dc.status_view = Some(v)),
        )
    }
}

entry! {
    /// `DirGuardSafeMethods METHOD…|none`
    pub fn cmd_safe_methods(cmd: *mut ffi::cmd_parms, mconfig: *mut c_void, argc: c_int, argv: *const *mut c_char) -> *const c_char
        [entry "DirGuardSafeMethods", instead "the directive is refused", log Sink::Startup,
         fallback INTERNAL_ERROR.as_ptr()]
    {
        directive(
            cmd,
            || {
                // SAFETY: Apache's argc and argv for this directive (S6).
                let args = unsafe { argv_strings(argc, argv) };
                SafeMethods::parse(&args.iter().map(String::as_str).collect::<Vec<_>>())
            },
            |v| {
                // SAFETY: the pool is live while the directive is processed (S6).
                let set: *const SafeMethods = unsafe { Pool::from_raw((*cmd).pool) }.alloc(v);
                with_dir(cmd, mconfig, |dc| dc.safe_methods = set)
            },
        )
    }
}

entry! {
    /// `DirGuardUser USER [GROUP]`
    pub fn cmd_user(cmd: *mut ffi::cmd_parms, _mconfig: *mut c_void, user: *const c_char, group: *const c_char) -> *const c_char
        [entry "DirGuardUser", instead "the directive is refused", log Sink::Startup,
         fallback INTERNAL_ERROR.as_ptr()]
    {
        directive(
            cmd,
            || {
                // Whose access the checks stand for is the server administrator's to say.
                not_in_htaccess(cmd)?;
                let group = (!group.is_null()).then(|| string_arg(group));
                crate::core::settings::check_user_group(&string_arg(user), group.as_deref())
            },
            // Nothing to store: core::wiring reads the directive where it stands in the parsed
            // configuration, for the requirements of its section and those nested in it.
            |()| (),
        )
    }
}

entry! {
    /// `DirGuardPhpFpmPools GLOB…`
    pub fn cmd_fpm_pools(cmd: *mut ffi::cmd_parms, _mconfig: *mut c_void, argc: c_int, argv: *const *mut c_char) -> *const c_char
        [entry "DirGuardPhpFpmPools", instead "the directive is refused", log Sink::Startup,
         fallback INTERNAL_ERROR.as_ptr()]
    {
        directive(
            cmd,
            || {
                global_only(cmd)?;
                // SAFETY: Apache's argc and argv for this directive (S6).
                let args = unsafe { argv_strings(argc, argv) };
                crate::core::settings::parse_pool_globs(&args)
            },
            |v| with_server(cmd, |sc| sc.fpm_pools = Some(v)),
        )
    }
}

entry! {
    /// `DirGuardApps off|detect|NAME…`
    pub fn cmd_apps(cmd: *mut ffi::cmd_parms, _mconfig: *mut c_void, argc: c_int, argv: *const *mut c_char) -> *const c_char
        [entry "DirGuardApps", instead "the directive is refused", log Sink::Startup,
         fallback INTERNAL_ERROR.as_ptr()]
    {
        directive(
            cmd,
            || {
                not_in_htaccess(cmd)?;
                // SAFETY: Apache's argc and argv for this directive (S6).
                let args = unsafe { argv_strings(argc, argv) };
                crate::core::derive::Apps::parse(&args.iter().map(String::as_str).collect::<Vec<_>>())
            },
            // Read where it stands in the parsed configuration (core::derive), for the served
            // directories of its section and those nested in it.
            |_| (),
        )
    }
}

entry! {
    /// `DirGuardDerive on|off`
    pub fn cmd_derive(cmd: *mut ffi::cmd_parms, _mconfig: *mut c_void, arg: *const c_char) -> *const c_char
        [entry "DirGuardDerive", instead "the directive is refused", log Sink::Startup,
         fallback INTERNAL_ERROR.as_ptr()]
    {
        directive(
            cmd,
            || {
                let v = string_arg(arg);
                if v.eq_ignore_ascii_case("on") || v.eq_ignore_ascii_case("off") {
                    Ok(())
                } else {
                    Err(format!(
                        "DirGuardDerive: '{}' is not one of on, off",
                        crate::core::text::shown(v.as_bytes())
                    ))
                }
            },
            // Read where it stands in the parsed configuration (core::derive).
            |()| (),
        )
    }
}

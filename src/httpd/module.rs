//! The module record Apache's LoadModule looks up (`dirguard_module`), the directive table and
//! the hook registrations. Each hook is a trampoline: guard against panics, delegate.

use super::boundary::{self, entry, Server};
use super::config::{self, DirConfig, ServerConfig};
use super::log::Sink;
use crate::ffi;
use std::os::raw::{c_int, c_ulong};
use std::ptr;

/// The directive table, terminated by an all-null entry. Apache only reads it.
#[repr(transparent)]
struct CommandTable([ffi::command_rec; 15]);

// SAFETY: the table is immutable; its raw pointers refer to 'static C string literals and
// functions, so sharing it between threads is sound.
unsafe impl Sync for CommandTable {}

const ANY_SCOPE: c_int = (ffi::RSRC_CONF | ffi::ACCESS_CONF) as c_int;
const SERVER_SCOPE: c_int = ffi::RSRC_CONF as c_int;

static COMMANDS: CommandTable = CommandTable([
    ffi::command_rec {
        name: c"DirGuardRequire".as_ptr(),
        func: ffi::cmd_func { take_argv: Some(config::cmd_require) },
        cmd_data: ptr::null_mut(),
        req_override: ANY_SCOPE,
        args_how: ffi::TAKE_ARGV,
        errmsg: c"PATH [access=none|r|rw] [owner=USER|#UID] [group=GROUP|#GID] [mode=OCTAL] [min-free=SIZE] [min-inodes=N]: a directory the site needs".as_ptr(),
    },
    ffi::command_rec {
        name: c"DirGuardStartup".as_ptr(),
        func: ffi::cmd_func { take1: Some(config::cmd_startup) },
        cmd_data: ptr::null_mut(),
        req_override: SERVER_SCOPE,
        args_how: ffi::TAKE1,
        errmsg: c"warn|fail|off: what the startup check does with failing directories (default warn)".as_ptr(),
    },
    ffi::command_rec {
        name: c"DirGuardRepair".as_ptr(),
        func: ffi::cmd_func { take1: Some(config::cmd_repair) },
        cmd_data: ptr::null_mut(),
        req_override: SERVER_SCOPE,
        args_how: ffi::TAKE1,
        errmsg: c"off|create|enforce: create missing directories, and correct declared owner/group/mode (default off)".as_ptr(),
    },
    ffi::command_rec {
        name: c"DirGuardInterval".as_ptr(),
        func: ffi::cmd_func {
            take1: Some(config::cmd_interval),
        },
        cmd_data: ptr::null_mut(),
        req_override: SERVER_SCOPE,
        args_how: ffi::TAKE1,
        errmsg: c"SECONDS: how often the required directories are re-audited while serving (default 5, 0 = off)".as_ptr(),
    },
    ffi::command_rec {
        name: c"DirGuardCheckTimeout".as_ptr(),
        func: ffi::cmd_func {
            take1: Some(config::cmd_check_timeout),
        },
        cmd_data: ptr::null_mut(),
        req_override: SERVER_SCOPE,
        args_how: ffi::TAKE1,
        errmsg: c"SECONDS: how long one directory's check may take before its filesystem counts as not answering (default 3)".as_ptr(),
    },
    ffi::command_rec {
        name: c"DirGuardOnFailure".as_ptr(),
        func: ffi::cmd_func {
            take1: Some(config::cmd_on_failure),
        },
        cmd_data: ptr::null_mut(),
        req_override: ANY_SCOPE,
        args_how: ffi::TAKE1,
        errmsg: c"continue|503: answer 503 before the handler when a required directory in scope is failing (default continue)".as_ptr(),
    },
    ffi::command_rec {
        name: c"DirGuardRetryAfter".as_ptr(),
        func: ffi::cmd_func {
            take1: Some(config::cmd_retry_after),
        },
        cmd_data: ptr::null_mut(),
        req_override: ANY_SCOPE,
        args_how: ffi::TAKE1,
        errmsg: c"SECONDS: the Retry-After of DirGuardOnFailure 503 answers (default 30)".as_ptr(),
    },
    ffi::command_rec {
        name: c"DirGuardExplain".as_ptr(),
        func: ffi::cmd_func {
            take_argv: Some(config::cmd_explain),
        },
        cmd_data: ptr::null_mut(),
        req_override: ANY_SCOPE,
        args_how: ffi::TAKE_ARGV,
        errmsg: c"off|5xx|4xx|STATUS...: which final statuses get an explanation in the error log (default 5xx)".as_ptr(),
    },
    // No OR_* bit: Apache itself refuses it in .htaccess ("not allowed here"), so only the
    // server's own configuration can widen a status page to every virtual host.
    ffi::command_rec {
        name: c"DirGuardStatusView".as_ptr(),
        func: ffi::cmd_func {
            take1: Some(config::cmd_status_view),
        },
        cmd_data: ptr::null_mut(),
        req_override: ANY_SCOPE,
        args_how: ffi::TAKE1,
        errmsg: c"vhost|all: what a dirguard-status page here shows: the serving virtual host's requirements, or every virtual host's (default vhost)".as_ptr(),
    },
    ffi::command_rec {
        name: c"DirGuardSafeMethods".as_ptr(),
        func: ffi::cmd_func {
            take_argv: Some(config::cmd_safe_methods),
        },
        cmd_data: ptr::null_mut(),
        req_override: ANY_SCOPE,
        args_how: ffi::TAKE_ARGV,
        errmsg: c"METHOD...|none: the methods DirGuardOnFailure 503 lets through while an access=rw requirement fails (default GET HEAD OPTIONS TRACE PROPFIND)".as_ptr(),
    },
    ffi::command_rec {
        name: c"DirGuardUser".as_ptr(),
        func: ffi::cmd_func {
            take2: Some(config::cmd_user),
        },
        cmd_data: ptr::null_mut(),
        req_override: ANY_SCOPE,
        args_how: ffi::TAKE12,
        errmsg: c"USER [GROUP]: the identity the application in this scope runs as; its requirements are checked for it (default: found from SuexecUserGroup, AssignUserID or the PHP-FPM pool, else the server's User)".as_ptr(),
    },
    ffi::command_rec {
        name: c"DirGuardPhpFpmPools".as_ptr(),
        func: ffi::cmd_func {
            take_argv: Some(config::cmd_fpm_pools),
        },
        cmd_data: ptr::null_mut(),
        req_override: SERVER_SCOPE,
        args_how: ffi::TAKE_ARGV,
        errmsg: c"GLOB...: where PHP-FPM pool files are read to find the user a pool runs as (default /etc/php/*/fpm/pool.d/*.conf /etc/php-fpm.d/*.conf)".as_ptr(),
    },
    ffi::command_rec {
        name: c"DirGuardApps".as_ptr(),
        func: ffi::cmd_func {
            take_argv: Some(config::cmd_apps),
        },
        cmd_data: ptr::null_mut(),
        req_override: ANY_SCOPE,
        args_how: ffi::TAKE_ARGV,
        errmsg: c"off|detect|NAME...: the applications whose documented directories are required where Apache serves them (default detect)".as_ptr(),
    },
    ffi::command_rec {
        name: c"DirGuardDerive".as_ptr(),
        func: ffi::cmd_func {
            take1: Some(config::cmd_derive),
        },
        cmd_data: ptr::null_mut(),
        req_override: SERVER_SCOPE,
        args_how: ffi::TAKE1,
        errmsg: c"on|off: require the directories Apache's own configuration uses (DocumentRoot, Alias, DAVLockDB, CacheRoot, logs; default on)".as_ptr(),
    },
    ffi::command_rec {
        name: ptr::null(),
        func: ffi::cmd_func { no_args: None },
        cmd_data: ptr::null_mut(),
        req_override: 0,
        args_how: ffi::RAW_ARGS,
        errmsg: ptr::null(),
    },
]);

/// A NULL-terminated list of module names for hook ordering. APR keeps the pointer and sorts
/// the hooks later, so the list must live as long as the module: a static.
#[repr(transparent)]
struct ModuleNames([*const std::os::raw::c_char; 2]);

// SAFETY: immutable pointers to 'static C string literals.
unsafe impl Sync for ModuleNames {}

static BEFORE_LOG_CONFIG: ModuleNames = ModuleNames([c"mod_log_config.c".as_ptr(), ptr::null()]);

/// The record LoadModule finds by name. Apache writes into it (module_index, next, handle),
/// hence `static mut`; this crate only ever reads `module_index`, by value (no reference to the
/// static is ever formed).
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mut dirguard_module: ffi::module = ffi::module {
    version: ffi::MODULE_MAGIC_NUMBER_MAJOR as c_int,
    minor_version: ffi::MODULE_MAGIC_NUMBER_MINOR as c_int,
    module_index: -1,
    name: c"mod_dirguard.c".as_ptr(),
    dynamic_load_handle: ptr::null_mut(),
    next: ptr::null_mut(),
    magic: ffi::MODULE_MAGIC_COOKIE as c_ulong,
    rewrite_args: None,
    create_dir_config: Some(boundary::create_dir::<DirConfig>),
    merge_dir_config: Some(boundary::merge::<DirConfig>),
    create_server_config: Some(boundary::create_server::<ServerConfig>),
    merge_server_config: Some(boundary::merge::<ServerConfig>),
    cmds: &raw const COMMANDS as *const ffi::command_rec,
    register_hooks: Some(register_hooks),
    flags: 0,
};

/// This module's index in Apache's per-module vectors (set by Apache when the module is added).
pub fn index() -> c_int {
    // SAFETY: Apache writes module_index while adding the module, before any hook or directive
    // of ours runs; afterwards the field is only read (S8). A plain read of the field by value.
    unsafe { dirguard_module.module_index }
}

entry! {
    fn check_config(pconf: *mut ffi::apr_pool_t, _plog: *mut ffi::apr_pool_t, _ptemp: *mut ffi::apr_pool_t, s: *mut ffi::server_rec) -> c_int
        [entry "the check_config hook", instead "Apache will not start", log Sink::Startup,
         fallback ffi::HTTP_INTERNAL_SERVER_ERROR as c_int]
    {
        super::test_panic::maybe("check_config");
        super::log::configure(s, pconf);
        let _records = super::log::scope(Sink::Server(s));
        // SAFETY: the live main server of the generation being configured (S6).
        match unsafe { Server::from_raw(s) } {
            Some(s) => super::startup::check_config(s),
            None => ffi::OK as c_int,
        }
    }
}

entry! {
    fn post_config(pconf: *mut ffi::apr_pool_t, _plog: *mut ffi::apr_pool_t, _ptemp: *mut ffi::apr_pool_t, s: *mut ffi::server_rec) -> c_int
        [entry "the post_config hook", instead "Apache will not start", log Sink::Server(s),
         fallback ffi::HTTP_INTERNAL_SERVER_ERROR as c_int]
    {
        super::test_panic::maybe("post_config");
        super::log::configure(s, pconf);
        let _records = super::log::scope(Sink::Server(s));
        // SAFETY: the live main server of the generation (S6).
        match unsafe { Server::from_raw(s) } {
            // SAFETY: the generation's live configuration pool (S6); what post_config stores
            // there is dropped before the DSO is unloaded (S1), the shared region included (S2).
            Some(s) => super::startup::post_config(s, unsafe { boundary::Pool::from_raw(pconf) }),
            None => ffi::OK as c_int,
        }
    }
}

entry! {
    fn register_hooks(_p: *mut ffi::apr_pool_t) -> ()
        [entry "register_hooks", instead "mod_dirguard's hooks are not registered",
         log Sink::Startup, fallback ()]
    {
            super::log::install();
            super::guard::install_panic_hook();
            // SAFETY: registering hook functions of the right signatures with Apache's hook
            // tables during module load; the ordering list is a static (APR keeps the pointer).
            unsafe {
                ffi::ap_hook_check_config(
                    Some(check_config),
                    ptr::null(),
                    ptr::null(),
                    ffi::APR_HOOK_MIDDLE as c_int,
                );
                ffi::ap_hook_handler(
                    Some(super::status::handler),
                    ptr::null(),
                    ptr::null(),
                    ffi::APR_HOOK_MIDDLE as c_int,
                );
                ffi::ap_hook_fixups(
                    Some(super::request::fixups),
                    ptr::null(),
                    ptr::null(),
                    ffi::APR_HOOK_MIDDLE as c_int,
                );
                // Before mod_log_config, so access logs can show the dirguard-cause note.
                ffi::ap_hook_log_transaction(
                    Some(super::request::log_transaction),
                    ptr::null(),
                    BEFORE_LOG_CONFIG.0.as_ptr(),
                    ffi::APR_HOOK_FIRST as c_int,
                );
                ffi::ap_hook_error_log(
                    Some(super::request::error_log),
                    ptr::null(),
                    ptr::null(),
                    ffi::APR_HOOK_MIDDLE as c_int,
                );
                ffi::ap_hook_post_config(
                    Some(post_config),
                    ptr::null(),
                    ptr::null(),
                    ffi::APR_HOOK_MIDDLE as c_int,
                );
            }
            super::test_panic::register();
    }
}

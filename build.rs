//! Generates the httpd/APR bindings from the installed headers. The include directories come from
//! `apxs -q INCLUDEDIR` and `apr-1-config --includes` (override the tools with `APXS=` and
//! `APR_CONFIG=`, or the directories with `DIRGUARD_HTTPD_INCLUDE=` / `DIRGUARD_APR_INCLUDE=`),
//! so the struct layouts and magic numbers always match the httpd the module will be loaded into.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const DEBIAN_HINT: &str =
    "install it with: apt-get install apache2-dev (or run `make deps` as root)";

fn main() {
    for var in [
        "APXS",
        "APR_CONFIG",
        "DIRGUARD_HTTPD_INCLUDE",
        "DIRGUARD_APR_INCLUDE",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=include/wrapper.h");
    if env::var_os("CARGO_FEATURE_HTTPD").is_none() {
        return; // the Apache-free core alone (micro-benchmarks) needs no bindings
    }

    let httpd_include = env::var("DIRGUARD_HTTPD_INCLUDE")
        .ok()
        .unwrap_or_else(|| tool_output(&env_or("APXS", "apxs"), &["-q", "INCLUDEDIR"]));
    let apr_flags = env::var("DIRGUARD_APR_INCLUDE")
        .map(|dir| format!("-I{dir}"))
        .unwrap_or_else(|_| tool_output(&env_or("APR_CONFIG", "apr-1-config"), &["--includes"]));

    let httpd_include = PathBuf::from(httpd_include.trim());
    if !httpd_include.join("httpd.h").is_file() {
        fail(&format!(
            "httpd.h not found in {} (from apxs -q INCLUDEDIR); {DEBIAN_HINT}",
            httpd_include.display()
        ));
    }

    let mut clang_args = vec![format!("-I{}", httpd_include.display())];
    clang_args.extend(apr_flags.split_whitespace().map(str::to_owned));
    // The same defines apr-1-config --cppflags gives Debian's build; they select the LFS layouts.
    clang_args.extend(["-DLINUX", "-D_REENTRANT", "-D_GNU_SOURCE"].map(str::to_owned));

    let builder = bindgen::Builder::default()
        .header("include/wrapper.h")
        .clang_args(&clang_args)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .derive_default(false)
        .derive_debug(false)
        .layout_tests(false)
        .generate_comments(false)
        .merge_extern_blocks(true)
        .prepend_enum_name(false);

    let builder = allowlist(builder);
    let bindings = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| builder.generate())) {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => fail(&format!(
            "bindgen could not generate the httpd bindings: {e}; are the headers complete? {DEBIAN_HINT}"
        )),
        Err(_) => fail(
            "bindgen could not load libclang; install it with: apt-get install libclang-dev \
             (or run `make deps` as root)",
        ),
    };
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    bindings
        .write_to_file(out.join("httpd_bindings.rs"))
        .unwrap_or_else(|e| fail(&format!("cannot write bindings: {e}")));
}

/// Only what the module uses: the allowlist is the inventory of our dependence on httpd and APR.
fn allowlist(b: bindgen::Builder) -> bindgen::Builder {
    const FUNCTIONS: &[&str] = &[
        "ap_log_error_",
        "ap_log_rerror_",
        "ap_get_server_module_loglevel",
        "ap_get_request_module_loglevel",
        "ap_hook_pre_config",
        "ap_hook_check_config",
        "ap_hook_post_config",
        "ap_hook_fixups",
        "ap_hook_handler",
        "ap_hook_log_transaction",
        // A request's own error lines, read for their causes (core::clues).
        "ap_hook_error_log",
        "ap_find_module_short_name",
        "ap_run_generate_log_id",
        "apr_table_get",
        "ap_rwrite",
        "ap_set_content_type",
        "apr_table_setn",
        "apr_shm_create",
        "apr_shm_baseaddr_get",
        "apr_dynamic_fn_retrieve",
        "ap_state_query",
        // `apachectl -t -D DUMP_DIRGUARD`.
        "ap_exists_config_define",
        "ap_server_root_relative",
        "ap_check_cmd_context",
        "ap_escape_logitem",
        "apr_palloc",
        "apr_pstrdup",
        "apr_pool_cleanup_register",
        "apr_pool_cleanup_null",
        "apr_pool_userdata_get",
        "apr_pool_userdata_set",
        // A startup check's process that has not exited yet is reaped by the MPM.
        "ap_mpm_query",
        "ap_register_extra_mpm_process",
    ];
    const TYPES: &[&str] = &[
        "module_struct",
        "module",
        "command_rec",
        "command_struct",
        "cmd_parms",
        "cmd_how",
        "server_rec",
        "request_rec",
        "ap_errorlog_info",
        "ap_logconf",
        // LogLevel of every section, for the `log` crate's filter (httpd/log.rs).
        "core_server_config",
        "core_dir_config",
        "apr_array_header_t",
        "ap_conf_vector_t",
        "process_rec",
        "ap_directive_t",
        "unixd_config_rec",
        "apr_pool_t",
        "apr_status_t",
        "apr_shm_t",
        "ap_watchdog_t",
        "ap_watchdog_callback_fn_t",
        "apr_OFN_ap_watchdog_get_instance_t",
        "apr_OFN_ap_watchdog_register_callback_t",
    ];
    const VARS: &[&str] = &[
        "ap_unixd_config",
        "ap_server_conf",
        "ap_server_root",
        // The parsed configuration: sections around a requirement, how PHP runs (core::wiring).
        "ap_conftree",
        "MODULE_MAGIC_NUMBER_MAJOR",
        "MODULE_MAGIC_NUMBER_MINOR",
        "MODULE_MAGIC_COOKIE",
        "APLOG_.*",
        "AP_SQ_.*",
        "AP_MPMQ_GENERATION",
        "APR_HOOK_.*",
        "APR_SUCCESS",
        "OK",
        "DECLINED",
        "DONE",
        "HTTP_INTERNAL_SERVER_ERROR",
        "HTTP_METHOD_NOT_ALLOWED",
        "HTTP_BAD_REQUEST",
        "HTTP_SERVICE_UNAVAILABLE",
        "M_GET",
        "AP_WATCHDOG_STATE_.*",
        "RSRC_CONF",
        "ACCESS_CONF",
        "OR_.*",
        "GLOBAL_ONLY",
        "NOT_IN_.*",
    ];
    let mut b = b;
    for f in FUNCTIONS {
        b = b.allowlist_function(f);
    }
    for t in TYPES {
        b = b.allowlist_type(t);
    }
    for v in VARS {
        b = b.allowlist_var(v);
    }
    b
}

fn env_or(var: &str, default: &str) -> String {
    env::var(var).unwrap_or_else(|_| default.to_owned())
}

fn tool_output(tool: &str, args: &[&str]) -> String {
    let output = Command::new(tool).args(args).output();
    match output {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        Ok(o) => fail(&format!(
            "`{tool} {}` failed: {}; {DEBIAN_HINT}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => fail(&format!(
            "cannot run `{tool}` ({e}); {DEBIAN_HINT}{}",
            if Path::new(tool).is_absolute() {
                ""
            } else {
                " or set APXS=/path/to/apxs"
            }
        )),
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("\nmod_dirguard build: {msg}\n");
    println!("cargo:warning=mod_dirguard build: {msg}");
    std::process::exit(1);
}

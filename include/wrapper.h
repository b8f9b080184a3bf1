/* The httpd and APR declarations mod_dirguard binds to. bindgen reads this file with the include
 * paths of the installed httpd (apxs -q INCLUDEDIR) and APR (apr-1-config --includes); build.rs
 * allowlists only what the module uses, so no httpd or APR layout is ever written by hand. */
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_main.h>
#include <http_protocol.h>
#include <http_request.h>
#include <ap_mpm.h>
#include <mpm_common.h>
#include <unixd.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_shm.h>
#include <apr_optional.h>
#include <mod_watchdog.h>

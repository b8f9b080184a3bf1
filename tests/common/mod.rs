//! The real-Apache test harness: each test writes a self-contained config into its own
//! directory, starts Debian's /usr/sbin/apache2 (or $APACHE2) on a free 127.0.0.1 port with
//! the freshly built module, and stops it and cleans up even when the test fails. At the end
//! every [error]/[crit]/[alert]/[emerg] line in the error log must carry a tag the test allowed.

#![allow(dead_code)]

pub mod wordpress;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// What every MPM logs (at notice, so whatever the LogLevel) once a generation is up.
const RESUMED: &str = "resuming normal operations";

pub fn apache2() -> String {
    std::env::var("APACHE2").unwrap_or_else(|_| "/usr/sbin/apache2".into())
}

pub fn mpm() -> String {
    std::env::var("DIRGUARD_TEST_MPM").unwrap_or_else(|_| "event".into())
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Skips the rest of a test that needs root, saying so on the test's output.
#[macro_export]
macro_rules! require_root {
    ($why:expr) => {
        if !common::is_root() {
            eprintln!("SKIPPED (needs root): {}", $why);
            return;
        }
    };
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The module under test: $DIRGUARD_MODULE, or what `make` built.
pub fn module_path() -> PathBuf {
    let p = std::env::var("DIRGUARD_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| manifest_dir().join("target/release/libmod_dirguard.so"));
    assert!(
        p.is_file(),
        "module {} not built: run `make` (or make test) first",
        p.display()
    );
    p
}

/// The build with the test-only `test-panic` feature (`make test` builds it).
pub fn panic_module_path() -> PathBuf {
    let p = std::env::var("DIRGUARD_PANIC_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| manifest_dir().join("target/test-panic/release/libmod_dirguard.so"));
    assert!(
        p.is_file(),
        "test-panic module {} not built: run `make test`",
        p.display()
    );
    p
}

/// A port for a test server, below the kernel's ephemeral range. A port from `bind(:0)` is
/// ephemeral: once released, the clients of a concurrent load test (wrk reconnecting thousands
/// of times) can take it as their local port before Apache binds it (EADDRINUSE). Each test
/// process walks its own stretch of the range, and a port is used only if it binds now.
pub fn free_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<usize>().ok())
        .unwrap_or(32768);
    let (first, span) = (10_000, low.saturating_sub(10_000));
    if span < 1000 {
        return TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
    }
    let start = (std::process::id() as usize * 97) % span;
    for _ in 0..span {
        let port = (first + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {first} and {low}");
}

pub struct Apache {
    pub dir: PathBuf,
    pub port: u16,
    pub conf: PathBuf,
    pub error_log: PathBuf,
    module: PathBuf,
    with_module: bool,
    body: String,
    env: Vec<(String, String)>,
    allowed: Vec<String>,
    running: bool,
    /// Run apache2 as this user from the start (no root, no `User` switch).
    run_as: Option<String>,
    /// Presets and derived requirements on (`zero_config`); off by default, so a test sees
    /// exactly what it declares.
    zero_config: bool,
}

impl Apache {
    /// A fresh server directory (mode 0755 so the server's User can enter it) with `htdocs/`.
    pub fn new(name: &str) -> Apache {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("dirguard-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("htdocs")).unwrap();
        for d in [dir.as_path(), &dir.join("htdocs")] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        // Children that die on a signal leave a core here (CoreDumpDirectory), so a crash can
        // be attributed (`assert_no_child_crash_in_module`); the children run as www-data.
        std::fs::create_dir(dir.join("cores")).unwrap();
        std::fs::set_permissions(dir.join("cores"), std::fs::Permissions::from_mode(0o1777))
            .unwrap();
        allow_core_dumps();
        std::fs::write(dir.join("htdocs/index.html"), "hello\n").unwrap();
        std::fs::set_permissions(
            dir.join("htdocs/index.html"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        Apache {
            conf: dir.join("httpd.conf"),
            error_log: dir.join("error.log"),
            dir,
            port: free_port(),
            module: module_path(),
            with_module: true,
            body: String::new(),
            env: Vec::new(),
            allowed: Vec::new(),
            running: false,
            run_as: None,
            zero_config: false,
        }
    }

    /// Runs Apache as `user` from the start, as an unprivileged administrator would (through
    /// `setpriv`, with the user's groups): no `User`/`Group` lines, runtime files in the test
    /// directory, which is given to the user.
    pub fn unprivileged(&mut self, user: &str) -> &mut Self {
        sh(&format!("chown -R {user}: '{}'", self.dir.display()));
        self.run_as = Some(user.to_owned());
        self
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// CGI under this MPM (mod_cgid for threaded MPMs, mod_cgi for prefork), mod_alias, and a
    /// `cgi-bin/` holding `script` as `name`, mapped at /cgi-bin/.
    pub fn cgi(&mut self, name: &str, script: &str) -> &mut Self {
        let bin = self.dir.join("cgi-bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(bin.join(name), script).unwrap();
        std::fs::set_permissions(bin.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
        let cgi = if mpm() == "prefork" {
            "LoadModule cgi_module /usr/lib/apache2/modules/mod_cgi.so".to_owned()
        } else {
            format!(
                "LoadModule cgid_module /usr/lib/apache2/modules/mod_cgid.so\nScriptSock {}/cgisock",
                self.dir.display()
            )
        };
        let text = format!(
            "LoadModule alias_module /usr/lib/apache2/modules/mod_alias.so\n{cgi}\nScriptAlias /cgi-bin/ {}/\n",
            bin.display()
        );
        self.config(&text)
    }

    /// Configuration after the module is loaded (directives of the test).
    pub fn config(&mut self, text: &str) -> &mut Self {
        self.body.push_str(text);
        self.body.push('\n');
        self
    }

    pub fn use_module(&mut self, path: PathBuf) -> &mut Self {
        self.module = path;
        self
    }

    pub fn without_module(&mut self) -> &mut Self {
        self.with_module = false;
        self
    }

    pub fn env(&mut self, k: &str, v: &str) -> &mut Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// The module as `LoadModule` alone leaves it: applications' presets detected and the
    /// directories Apache's configuration uses required (by default the harness turns both off,
    /// so a test sees exactly what it declares).
    pub fn zero_config(&mut self) -> &mut Self {
        self.zero_config = true;
        self
    }

    /// Error-log lines carrying this tag are expected by the test.
    pub fn allow(&mut self, tag: &str) -> &mut Self {
        self.allowed.push(tag.into());
        self
    }

    fn write_config(&self) {
        let mpm = mpm();
        let mut c = format!(
            "ServerRoot {dir}\nServerName localhost\nListen 127.0.0.1:{port}\nPidFile {dir}/httpd.pid\n\
             ErrorLog {dir}/error.log\nLogLevel warn\n\
             LoadModule mpm_{mpm}_module /usr/lib/apache2/modules/mod_mpm_{mpm}.so\n\
             LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so\n\
             LoadModule authz_host_module /usr/lib/apache2/modules/mod_authz_host.so\n\
             LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so\n\
             TypesConfig /etc/mime.types\nDocumentRoot {dir}/htdocs\n\
             StartServers 1\nMaxRequestWorkers 8\nServerLimit 8\nGracefulShutdownTimeout 2\n\
             CoreDumpDirectory {dir}/cores\n",
            dir = self.dir.display(),
            port = self.port,
        );
        if mpm != "prefork" {
            c.push_str("ThreadsPerChild 4\nThreadLimit 4\nMinSpareThreads 1\nMaxSpareThreads 8\n");
        }
        if self.run_as.is_some() {
            c.push_str(&format!("DefaultRuntimeDir {}\n", self.dir.display()));
        } else if is_root() {
            c.push_str("User www-data\nGroup www-data\n");
        }
        if self.with_module {
            c.push_str(&format!(
                "LoadModule dirguard_module {}\n",
                self.module.display()
            ));
        }
        c.push_str(&self.body);
        if self.with_module && !self.zero_config {
            // After the test's own lines, so their line numbers stay what the test expects.
            c.push_str("\nDirGuardApps off\nDirGuardDerive off\n");
        }
        std::fs::write(&self.conf, c).unwrap();
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.write_config();
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("setpriv");
                c.args(["--reuid", user, "--regid", user, "--init-groups", "--"]);
                c.arg(apache2());
                c
            }
            None => Command::new(apache2()),
        };
        cmd.arg("-f")
            .arg(&self.conf)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("apache2 runs")
    }

    /// `apache2 -t`: the output (stdout and stderr) and whether it passed.
    pub fn configtest(&self) -> (bool, String) {
        let out = self.run(&["-t"]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// `apache2 -t`: the exit code (None when killed by a signal) and the output.
    pub fn configtest_code(&self) -> (Option<i32>, String) {
        let out = self.run(&["-t"]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    }

    /// `apache2 -M`
    pub fn modules(&self) -> String {
        let out = self.run(&["-M"]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// Starts the server and waits until its generation is up: it answers, has written its pid
    /// file and has logged that it resumed normal operations. (The listener answers from the
    /// first configuration pass on, before the daemon has finished its second one; a restart
    /// signalled in between would be counted against the wrong generation.) Err carries
    /// apache2's output and the log.
    pub fn try_start(&mut self) -> Result<(), String> {
        let resumed = self.log().matches(RESUMED).count();
        let out = self.run(&["-k", "start"]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            return Err(text);
        }
        self.running = true;
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if self.log().matches(RESUMED).count() > resumed
                && TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && self.pid().is_some()
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "apache2 did not answer within 15 s\n{text}\n{}",
            self.log()
        ))
    }

    pub fn start(&mut self) -> &mut Self {
        if let Err(e) = self.try_start() {
            panic!(
                "apache2 failed to start:\n{e}\n--- error log:\n{}",
                self.log()
            );
        }
        self
    }

    pub fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join("httpd.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn signal(&self, how: &str) {
        let out = self.run(&["-k", how]);
        assert!(
            out.status.success(),
            "apache2 -k {how}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `apache2 -k graceful`, waiting until the new generation has logged it resumed.
    pub fn graceful(&mut self) {
        self.restart_with("graceful");
    }

    /// `apache2 -k restart` (full restart of the children, same parent).
    pub fn restart(&mut self) {
        self.restart_with("restart");
    }

    fn restart_with(&mut self, how: &str) {
        let before = self.log().matches(RESUMED).count();
        self.signal(how);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if self.log().matches(RESUMED).count() > before
                && TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no new generation after -k {how}:\n{}", self.log());
    }

    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        let pid = self.pid();
        let _ = self.run(&["-k", "stop"]);
        if let Some(pid) = pid {
            let deadline = Instant::now() + Duration::from_secs(10);
            // SAFETY: kill with signal 0 only probes whether the process exists.
            while Instant::now() < deadline && unsafe { libc::kill(pid, 0) } == 0 {
                std::thread::sleep(Duration::from_millis(50));
            }
            // SAFETY: pid is the server's parent, which we started; kill it if it hangs.
            if unsafe { libc::kill(pid, 0) } == 0 {
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        self.running = false;
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.error_log).unwrap_or_default()
    }

    /// Error-log lines containing `needle` written after byte `offset` of the log.
    pub fn lines_since(&self, offset: usize, needle: &str) -> Vec<String> {
        let log = self.log();
        log.get(offset..)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }

    /// Error-log lines containing `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }

    /// One HTTP/1.0 GET: (status, headers and body).
    pub fn get(&self, path: &str) -> (u16, String) {
        http(
            self.port,
            &format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n"),
        )
    }

    /// GET returning (status, body).
    pub fn get_body(&self, path: &str) -> (u16, String) {
        let (status, resp) = self.get(path);
        (status, body_of(&resp))
    }

    /// The parent's open descriptors, shared mappings and resident memory (KiB).
    pub fn parent_resources(&self) -> (usize, usize, u64) {
        let pid = self.pid().expect("running");
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0);
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
        let shared = maps
            .lines()
            .filter(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|p| p.ends_with('s'))
            })
            .count();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let rss = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        (fds, shared, rss)
    }

    fn unexpected_lines(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| {
                [
                    "[error]", "[crit]", "[alert]", "[emerg]", ":error]", ":crit]", ":alert]",
                    ":emerg]",
                ]
                .iter()
                .any(|lvl| l.contains(lvl))
            })
            .filter(|l| !self.allowed.iter().any(|t| l.contains(t.as_str())))
            .map(str::to_owned)
            .collect()
    }
}

/// Why this machine cannot attribute a child's crash from its core, if it cannot: the kernel
/// pipes cores to a program instead of writing them (`core_pattern` starting with `|`), or gdb
/// is missing.
pub fn crashes_unattributable() -> Option<String> {
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    let gdb = Command::new("gdb").arg("--version").output().is_ok();
    (pattern.starts_with('|') || !gdb).then(|| {
        format!(
            "core_pattern {:?}, gdb {}",
            pattern.trim(),
            if gdb { "present" } else { "missing" }
        )
    })
}

/// Raises this test process's core-size limit to its hard limit once; the servers it starts
/// inherit it.
fn allow_core_dumps() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit with a valid, initialised rlimit struct.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_CORE, &mut lim) == 0 {
                lim.rlim_cur = lim.rlim_max;
                libc::setrlimit(libc::RLIMIT_CORE, &lim);
            }
        }
    });
}

impl Apache {
    /// Every child that died on a signal ("exit signal" in the log) is attributed by its core
    /// dump: if the crashing thread has a frame in this module, the test fails with the
    /// backtrace. A crash wholly inside Apache is printed, not failed: httpd's event MPM itself
    /// segfaults now and then in a child's main thread (`apr_os_sock_get` under
    /// `ap_run_mpm`) during full restarts, without this module loaded too (reproduced: once in
    /// 300 to 1,000 `-k restart`s). A crash with no core to read fails, unless this machine
    /// cannot write cores at all (a piped `core_pattern`, or no gdb), which is printed.
    pub fn assert_no_child_crash_in_module(&self) {
        let log = self.log();
        let crashes: Vec<&str> = log.lines().filter(|l| l.contains("exit signal")).collect();
        if crashes.is_empty() {
            return;
        }
        let cores: Vec<PathBuf> = std::fs::read_dir(self.dir.join("cores"))
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with("core"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        eprintln!("children that died on a signal:\n{}", crashes.join("\n"));
        if cores.is_empty() {
            let why = crashes_unattributable();
            assert!(
                why.is_some(),
                "a child crashed and left no core in {}/cores:\n{}",
                self.dir.display(),
                crashes.join("\n")
            );
            eprintln!("cannot attribute the crash: {}", why.unwrap_or_default());
            return;
        }
        for core in &cores {
            let out = Command::new("gdb")
                .args([
                    "-batch",
                    "-nx",
                    "-ex",
                    "bt 40",
                    "-ex",
                    "thread apply all bt 40",
                ])
                .arg(apache2())
                .arg(core)
                .output()
                .expect("gdb (make deps installs it)");
            let text = String::from_utf8_lossy(&out.stdout);
            // The crashing thread: gdb's current one (its backtrace comes first, before the
            // "Thread N (...)" listings), and any thread that was inside a signal handler, from
            // the frames under the handler on. Apache's fatal-signal handler re-sends the signal
            // to the process, so the core may name another thread than the faulting one.
            let mut crashing: Vec<&str> = text
                .lines()
                .take_while(|l| !l.starts_with("Thread "))
                .filter(|l| l.starts_with('#'))
                .collect();
            for block in text.split("\nThread ").skip(1) {
                if let Some((_, under)) = block.split_once("<signal handler called>") {
                    crashing.extend(under.lines().filter(|l| l.starts_with('#')));
                }
            }
            // This module's frames: its library, its crate's symbols, or (with its debug info)
            // its own, std's or a dependency's sources. Apache and libc never show these.
            let ours = |l: &&str| {
                [
                    "libmod_dirguard",
                    "mod_dirguard::",
                    " at src/",
                    "/rustc/",
                    "/.cargo/registry/",
                ]
                .iter()
                .any(|m| l.contains(m))
            };
            assert!(
                !crashing.is_empty(),
                "gdb read no backtrace from {}:\n{text}",
                core.display()
            );
            assert!(
                !crashing.iter().any(ours),
                "a child crashed inside mod_dirguard ({}):\n{text}",
                core.display()
            );
            let others_in_ours = text
                .lines()
                .filter(|l| l.starts_with('#'))
                .any(|l| ours(&l));
            eprintln!(
                "crash in Apache's own code (no mod_dirguard frame in the crashing thread{}):\n{}",
                if others_in_ours {
                    "; another thread was inside mod_dirguard"
                } else {
                    ""
                },
                crashing.join("\n")
            );
        }
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        self.stop();
        let unexpected = self.unexpected_lines();
        let keep = std::env::var_os("DIRGUARD_KEEP_TEST_DIRS").is_some();
        if !keep && (unexpected.is_empty() || std::thread::panicking()) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        if !std::thread::panicking() && !unexpected.is_empty() {
            panic!(
                "unexpected error-log lines (allow their tag if the test expects them):\n{}\n(log kept in {})",
                unexpected.join("\n"),
                self.dir.display()
            );
        }
    }
}

/// Runs a shell command as root (for pasting `fix:` commands); panics on failure.
pub fn sh(cmd: &str) {
    let out = Command::new("bash").arg("-c").arg(cmd).output().unwrap();
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The text after "fix: " on the first error-log line carrying `tag`.
pub fn fix_of(line: &str) -> String {
    line.split("fix: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no fix in {line}"))
        .trim()
        .to_owned()
}

pub fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).unwrap().mode() & 0o7777
}

/// Runs tests/tools/check_status.py over `body`; Ok(its output) or Err(the parser's complaint).
pub fn check_status(kind: &str, body: &str) -> Result<String, String> {
    let root = manifest_dir();
    // Debian's interpreter, where `make deps` installs python3-jsonschema and
    // python3-prometheus-client (another python3 may come first on PATH).
    let python = std::env::var("DIRGUARD_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
    let mut cmd = Command::new(python);
    cmd.arg(root.join("tests/tools/check_status.py")).arg(kind);
    if kind == "json" {
        cmd.arg(root.join("docs/status-json.schema.json"));
    }
    let out = with_input(&mut cmd, body);
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{}\n--- input:\n{body}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Creates a directory (and its parents) with exactly this mode.
pub fn mkdir(p: &Path, mode: u32) {
    std::fs::create_dir_all(p).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A tmpfs for a test, unmounted when dropped (also when the test fails).
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// None (and a clear message) where mounting is not permitted.
    pub fn mount(at: &Path, opts: &str) -> Option<Tmpfs> {
        mkdir(at, 0o755);
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "dirguard-test"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "SKIPPED (mounting a tmpfs is not permitted here): {}",
                at.display()
            );
        }
        ok.then(|| Tmpfs(at.to_path_buf()))
    }

    /// Remounts read-only or read-write, retrying while a writer holds a file open (EBUSY);
    /// returns the number of attempts.
    pub fn remount(&self, how: &str) -> u32 {
        for attempt in 1..=500 {
            let ok = std::process::Command::new("mount")
                .args(["-o", &format!("remount,{how}")])
                .arg(&self.0)
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return attempt;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("could not remount {} {how}", self.0.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

impl Apache {
    /// One raw HTTP/1.0 request (ending in an empty line): (status, headers and body).
    pub fn send(&self, request: &str) -> (u16, String) {
        http(self.port, request)
    }

    /// A request with `method` and an empty body: (status, headers and body).
    pub fn request(&self, method: &str, path: &str) -> (u16, String) {
        self.send(&format!(
            "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"
        ))
    }

    /// GET with this Host header (a name-based virtual host): (status, body).
    pub fn get_host(&self, host: &str, path: &str) -> (u16, String) {
        let (status, resp) = self.send(&format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n"));
        (status, body_of(&resp))
    }
}

/// One raw HTTP/1.0 request to 127.0.0.1:`port` (ending in an empty line): (status, headers and
/// body); status 0 when nothing answered within 10 s.
pub fn http(port: u16, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, resp)
}

/// A system user (and its group) the application runs as in a test, created once if this
/// machine does not have it (no home, no shell).
pub fn ensure_user(user: &str) {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let exists = Command::new("id")
        .arg("-u")
        .arg(user)
        .output()
        .is_ok_and(|o| o.status.success());
    if exists {
        return;
    }
    let out = Command::new("useradd")
        .args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "--user-group",
            user,
        ])
        .output()
        .expect("useradd runs");
    // 9: the name exists (another test binary created it meanwhile).
    assert!(
        out.status.success() || out.status.code() == Some(9),
        "useradd {user}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `cmd` with `input` on its stdin; its whole output.
pub fn with_input(cmd: &mut Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// The body of a whole response.
pub fn body_of(resp: &str) -> String {
    resp.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

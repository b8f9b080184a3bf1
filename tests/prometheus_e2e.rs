//! The fleet-monitoring path end to end, with the real Prometheus server (Debian's
//! `prometheus`, started privately): two Apache servers with the module are scraped at
//! `/dirguard-status?format=prometheus`, the alert rules shipped in conf/prometheus are loaded
//! from where they are, and removing a required directory on one server makes
//! `DirGuardDirectoryFailing` fire for that host and that path only, within its documented
//! delay; recreating the directory resolves it. (The rules' promtool unit tests:
//! tests/alert_rules.rs; the exposition format itself: tests/monitoring.rs.)

mod common;
use common::{http, Apache};
use std::fs::File;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The shipped rules file, loaded as it is (never copied, unless a `for:` must be shortened:
/// see `rules_for_the_test`).
const RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/conf/prometheus/dirguard-alerts.yml"
);
const ALERT: &str = "DirGuardDirectoryFailing";
/// `DirGuardInterval` of both servers, seconds.
const INTERVAL: u64 = 1;
/// Prometheus' `scrape_interval` and `evaluation_interval`, seconds.
const SCRAPE: u64 = 1;
/// The longest `for:` this test waits out as shipped (it must stay under ~40 s in all).
const MAX_HOLD: Duration = Duration::from_secs(15);
/// Slack for a loaded 2-core CI machine (process scheduling, the poll's own period).
const MARGIN: Duration = Duration::from_secs(2);

const STATUS: &str = "<Location /dirguard-status>\n  SetHandler dirguard-status\n  \
                      DirGuardStatusView all\n  Require local\n</Location>";

/// A private Prometheus server; killed (and waited for) when dropped, its directory removed.
struct Prometheus {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Prometheus {
    fn start(dir: &Path, config: &str) -> Prometheus {
        let port = common::free_port();
        let conf = dir.join("prometheus.yml");
        std::fs::write(&conf, config).unwrap();
        let log = File::create(dir.join("prometheus.log")).unwrap();
        let child =
            Command::new(std::env::var("PROMETHEUS").unwrap_or_else(|_| "prometheus".into()))
                .arg(format!("--config.file={}", conf.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("prometheus runs (Debian package prometheus, installed by make deps)");
        Prometheus {
            child,
            dir: dir.to_path_buf(),
            port,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// GET `path`: (status, body), or None while nothing listens.
    fn get(&self, path: &str) -> Option<(u16, String)> {
        TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        let (status, resp) = http(
            self.port,
            &format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"),
        );
        Some((status, common::body_of(&resp)))
    }

    /// GET an API `path` and print its JSON through `script` (python3, `d` the parsed
    /// document): one line per item.
    fn api(&self, path: &str, script: &str) -> Vec<String> {
        let (status, body) = self
            .get(path)
            .unwrap_or_else(|| panic!("prometheus stopped answering:\n{}", self.log()));
        assert_eq!(status, 200, "GET {path}: {body}");
        json_lines(&body, script)
    }

    /// Waits until `/-/ready` answers 200; panics with Prometheus' log if it exits or hangs.
    fn wait_ready(&mut self, limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            if let Some((200, _)) = self.get("/-/ready") {
                return start.elapsed();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited ({status}):\n{}", self.log());
            }
            assert!(
                start.elapsed() < limit,
                "prometheus not ready after {limit:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- prometheus log:\n{}", self.log());
        }
        if std::env::var_os("DIRGUARD_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Runs `script` under python3 with `d` the JSON document `body`; its output lines.
fn json_lines(body: &str, script: &str) -> Vec<String> {
    let python = std::env::var("DIRGUARD_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
    let out = common::with_input(
        Command::new(python).arg("-c").arg(format!(
            "import json, sys\nd = json.load(sys.stdin)\n{script}"
        )),
        body,
    );
    assert!(
        out.status.success(),
        "python3 could not read the JSON: {}\n--- input:\n{body}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Polls `probe` every 100 ms until it returns Some, for at most `limit`; the value and how
/// long it took.
fn wait_for<T>(
    what: &str,
    limit: Duration,
    mut probe: impl FnMut() -> Option<T>,
    last: impl Fn() -> String,
) -> (T, Duration) {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return (v, start.elapsed());
        }
        assert!(
            start.elapsed() < limit,
            "{what}: not within {limit:?}; last seen:\n{}",
            last()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A Prometheus duration (`90s`, `1m`, `1h30m`, `500ms`).
fn prom_duration(text: &str) -> Duration {
    let (mut total, mut num) = (Duration::ZERO, String::new());
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num
            .parse()
            .unwrap_or_else(|_| panic!("bad duration {text:?}"));
        num.clear();
        total += match c {
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                Duration::from_millis(n)
            }
            's' => Duration::from_secs(n),
            'm' => Duration::from_secs(60 * n),
            'h' => Duration::from_secs(3600 * n),
            'd' => Duration::from_secs(86400 * n),
            'w' => Duration::from_secs(7 * 86400 * n),
            'y' => Duration::from_secs(365 * 86400 * n),
            _ => panic!("bad duration {text:?}"),
        };
    }
    assert!(num.is_empty(), "bad duration {text:?}");
    total
}

/// The text of `alert`'s rule in a rules file: from its `- alert:` line to the next one.
fn rule_block<'a>(rules: &'a str, alert: &str) -> (usize, &'a str) {
    let start = rules
        .find(&format!("- alert: {alert}\n"))
        .unwrap_or_else(|| panic!("no rule {alert} in {RULES}"));
    let rest = &rules[start + 1..];
    let end = rest.find("- alert:").map_or(rules.len(), |e| start + 1 + e);
    (start, &rules[start..end])
}

/// The `for:` of `alert`'s rule (zero when it has none) and its line.
fn hold_of(rules: &str, alert: &str) -> (Duration, Option<String>) {
    let (_, block) = rule_block(rules, alert);
    block
        .lines()
        .find(|l| l.trim_start().starts_with("for:"))
        .map_or((Duration::ZERO, None), |l| {
            (
                prom_duration(l.trim_start().trim_start_matches("for:")),
                Some(l.to_owned()),
            )
        })
}

/// The rules text to load when `ALERT`'s `for:` in `shipped` is longer than this test can wait
/// (`MAX_HOLD`): a copy in which only that rule's `for:` line is replaced by `for: 1s` (a plain
/// string replace; expression, labels and annotations stay the shipped ones). None when the
/// shipped text can be loaded as it is.
fn shortened(shipped: &str) -> Option<String> {
    let (hold, line) = hold_of(shipped, ALERT);
    if hold <= MAX_HOLD {
        return None;
    }
    let line = line.unwrap();
    let (start, block) = rule_block(shipped, ALERT);
    let short = line.replace(line.trim_start(), "for: 1s");
    Some(format!(
        "{}{}{}",
        &shipped[..start],
        block.replacen(&line, &short, 1),
        &shipped[start + block.len()..]
    ))
}

/// The rules file Prometheus loads, and `ALERT`'s `for:` in it: the shipped file itself when the
/// test can wait out that `for:` (as shipped the rule has none: its expression waits for one
/// audit interval instead). Should a later edit give it a `for:` of minutes, the test loads a
/// copy from its own directory with only that `for:` shortened (`shortened`), and says so; the
/// shipped file is never edited.
fn rules_for_the_test(dir: &Path) -> (PathBuf, Duration) {
    let shipped = std::fs::read_to_string(RULES).unwrap();
    let (hold, line) = hold_of(&shipped, ALERT);
    eprintln!(
        "{ALERT} as shipped: for: {}",
        line.as_deref().map_or("(none; zero)", |l| l
            .trim_start()
            .trim_start_matches("for:")
            .trim())
    );
    let Some(copy) = shortened(&shipped) else {
        return (PathBuf::from(RULES), hold);
    };
    let path = dir.join("dirguard-alerts.for-shortened.yml");
    std::fs::write(&path, &copy).unwrap();
    eprintln!(
        "{ALERT}'s `for:` ({hold:?}) is longer than this test can wait ({MAX_HOLD:?}): loading {} \
         with only that line replaced by `for: 1s`",
        path.display()
    );
    (path, hold_of(&copy, ALERT).0)
}

/// `ALERT`s Prometheus reports: (state, instance, path) with the other labels checked.
fn failing_alerts(prom: &Prometheus) -> Vec<(String, String, String)> {
    prom.api(
        "/api/v1/alerts",
        r#"
for a in d["data"]["alerts"]:
    l = a["labels"]
    if l.get("alertname") == "DirGuardDirectoryFailing":
        print("\t".join([a["state"], l.get("instance", ""), l.get("path", ""),
                         l.get("scope", ""), l.get("severity", ""), l.get("job", "")]))
"#,
    )
    .iter()
    .map(|l| {
        let f: Vec<&str> = l.split('\t').collect();
        assert_eq!(
            f[3..],
            ["server", "critical", "apache"],
            "the shipped rule's labels: {l}"
        );
        (f[0].to_owned(), f[1].to_owned(), f[2].to_owned())
    })
    .collect()
}

#[test]
fn prometheus_fires_the_shipped_alert_for_the_failing_host_and_path_and_resolves_it() {
    if common::mpm() != "event" {
        eprintln!(
            "SKIPPED under the {} MPM: the path under test is the status page and Prometheus, \
             not the MPM; it runs once, under event, to keep CI time down",
            common::mpm()
        );
        return;
    }
    let began = Instant::now();
    // Two hosts of a fleet. `a` loses its directory; `b` stays healthy throughout.
    let mut a = Apache::new("prom-a");
    let mut b = Apache::new("prom-b");
    let mut required = Vec::new();
    for (server, failing) in [(&mut a, true), (&mut b, false)] {
        let d = server.path("data");
        common::mkdir(&d, 0o755);
        server.config(&format!(
            "DirGuardInterval {INTERVAL}\nDirGuardRequire {}\n{STATUS}",
            d.display()
        ));
        if failing {
            server.allow("DG01301");
        }
        server.start();
        required.push(d);
    }
    let (dir_a, dir_b) = (required[0].clone(), required[1].clone());
    let (inst_a, inst_b) = (
        format!("127.0.0.1:{}", a.port),
        format!("127.0.0.1:{}", b.port),
    );

    let pdir = std::env::temp_dir().join(format!("dirguard-prometheus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&pdir);
    std::fs::create_dir_all(&pdir).unwrap();
    let (rules, hold) = rules_for_the_test(&pdir);
    let config = format!(
        "global:\n  scrape_interval: {SCRAPE}s\n  scrape_timeout: {SCRAPE}s\n  evaluation_interval: {SCRAPE}s\n\
         rule_files:\n  - {rules}\n\
         scrape_configs:\n  - job_name: apache\n    metrics_path: /dirguard-status\n    params:\n      format: [prometheus]\n    \
         static_configs:\n      - targets: ['{inst_a}', '{inst_b}']\n",
        rules = rules.display()
    );
    // Declared after the servers: dropped (killed) first, so it stops scraping before they stop.
    let mut prom = Prometheus::start(&pdir, &config);
    let ready = prom.wait_ready(Duration::from_secs(20));
    eprintln!(
        "prometheus ready on 127.0.0.1:{} after {ready:?}",
        prom.port
    );

    // The shipped rules are loaded from where they are, with the `for:` the test expects.
    let loaded = prom.api(
        "/api/v1/rules",
        r#"
for g in d["data"]["groups"]:
    for r in g["rules"]:
        print("\t".join([g["file"], r["name"], str(r.get("duration", 0)), r["health"]]))
"#,
    );
    assert_eq!(loaded.len(), 3, "the three shipped rules: {loaded:?}");
    let ours = loaded
        .iter()
        .find(|l| l.split('\t').nth(1) == Some(ALERT))
        .unwrap_or_else(|| panic!("{ALERT} not loaded: {loaded:?}"));
    let f: Vec<&str> = ours.split('\t').collect();
    assert_eq!(f[0], rules.display().to_string(), "{ours}");
    assert_eq!(f[2].parse::<f64>().unwrap(), hold.as_secs_f64(), "{ours}");
    assert_ne!(f[3], "err", "{ours}");

    // Both targets up, and both directories scraped as healthy, under their path label.
    let targets = || {
        prom.api(
            "/api/v1/targets",
            r#"
for t in d["data"]["activeTargets"]:
    print("\t".join([t["labels"]["instance"], t["health"], t.get("lastError", "")]))
"#,
        )
    };
    let (_, took) = wait_for(
        "both targets up",
        // Prometheus' scrape manager applies new targets on a 5 s tick.
        Duration::from_secs(15),
        || {
            let t = targets();
            (t.len() == 2 && t.iter().all(|l| l.split('\t').nth(1) == Some("up"))).then_some(())
        },
        || targets().join("\n"),
    );
    eprintln!("both targets up after {took:?}: {inst_a} {inst_b}");
    let healthy = || {
        let mut v = prom.api(
            "/api/v1/query?query=dirguard_directory_healthy",
            r#"
for s in d["data"]["result"]:
    m = s["metric"]
    print("\t".join([m["instance"], m["path"], s["value"][1]]))
"#,
        );
        v.sort();
        v
    };
    let mut expected = vec![
        format!("{inst_a}\t{}\t1", dir_a.display()),
        format!("{inst_b}\t{}\t1", dir_b.display()),
    ];
    expected.sort();
    wait_for(
        "both directories scraped healthy",
        Duration::from_secs(5),
        || (healthy() == expected).then_some(()),
        || healthy().join("\n"),
    );
    // Two evaluations over the healthy data: nothing fires.
    std::thread::sleep(Duration::from_secs(2 * SCRAPE));
    assert_eq!(failing_alerts(&prom), vec![], "nothing fails yet");

    // A host loses its directory. The rule's expression itself waits for the state to outlive
    // one audit interval (its shipped `for:` is none), so the delay is: the next audit
    // (<= INTERVAL), that hold (INTERVAL) plus any `for:`, the scrape and the evaluation that
    // see it (<= 2 SCRAPE), and a margin.
    let fire_limit = Duration::from_secs(2 * INTERVAL + 2 * SCRAPE) + hold + MARGIN;
    let removed = Instant::now();
    std::fs::remove_dir(&dir_a).unwrap();
    let path_a = dir_a.display().to_string();
    let mut seen_b = Vec::new();
    let mut check = |alerts: &[(String, String, String)]| {
        seen_b.extend(alerts.iter().filter(|x| x.1 == inst_b).cloned());
        for (_, inst, path) in alerts {
            assert_eq!(
                (inst.as_str(), path.as_str()),
                (inst_a.as_str(), path_a.as_str()),
                "an alert for another host or path: {alerts:?}"
            );
        }
    };
    let (_, fired) = wait_for(
        &format!("{ALERT} firing for {inst_a} {path_a}"),
        fire_limit,
        || {
            let alerts = failing_alerts(&prom);
            check(&alerts);
            alerts
                .iter()
                .any(|(state, ..)| state == "firing")
                .then_some(())
        },
        || format!("{:?}\n{}", failing_alerts(&prom), healthy().join("\n")),
    );
    eprintln!(
        "{ALERT} firing for {inst_a} {path_a} {fired:?} after the removal (limit {fire_limit:?}: \
         audit {INTERVAL} s + the rule's hold of one audit interval + for: {hold:?} + 2 x {SCRAPE} s \
         scrape/evaluation + {MARGIN:?})"
    );
    assert_eq!(
        healthy(),
        {
            let mut v = vec![
                format!("{inst_a}\t{path_a}\t0"),
                format!("{inst_b}\t{}\t1", dir_b.display()),
            ];
            v.sort();
            v
        },
        "only {inst_a}'s directory fails"
    );
    assert_eq!(a.lines_with("DG01301").len(), 1, "{}", a.log());
    assert!(a.lines_with("DG01301")[0].contains(&path_a), "{}", a.log());

    // The directory is back: resolved after the next audit, scrape and evaluation.
    let resolve_limit = Duration::from_secs(INTERVAL + 2 * SCRAPE) + MARGIN;
    common::mkdir(&dir_a, 0o755);
    let (_, resolved) = wait_for(
        &format!("{ALERT} resolved for {inst_a}"),
        resolve_limit,
        || {
            let alerts = failing_alerts(&prom);
            check(&alerts);
            alerts.is_empty().then_some(())
        },
        || format!("{:?}\n{}", failing_alerts(&prom), healthy().join("\n")),
    );
    eprintln!(
        "{ALERT} resolved {resolved:?} after the directory was recreated (limit \
         {resolve_limit:?}); {:?} from removal to resolution",
        removed.elapsed()
    );
    assert!(seen_b.is_empty(), "{inst_b} never alerted: {seen_b:?}");
    assert_eq!(
        a.lines_with("DG01302").len(),
        1,
        "RECOVERED once: {}",
        a.log()
    );
    assert!(b.lines_with("DG013").is_empty(), "{}", b.log());
    drop(prom);
    eprintln!("wall time {:?}", began.elapsed());
}

/// The fallback above, on the shipped rules with a long `for:` given to `ALERT`: only that line
/// changes (pure text; runs under every MPM).
#[test]
fn a_long_for_is_shortened_on_that_rule_only() {
    let shipped = std::fs::read_to_string(RULES).unwrap();
    assert_eq!(
        prom_duration("1h30m") + prom_duration("500ms"),
        Duration::from_millis(5_400_500)
    );
    assert_eq!(
        hold_of(&shipped, "DirGuardAuditsStalled").0,
        prom_duration("1m")
    );
    let (start, block) = rule_block(&shipped, ALERT);
    let expr = block.find("        expr:").unwrap();
    let long = format!(
        "{}{}        for: 10m\n{}{}",
        &shipped[..start],
        &block[..expr],
        &block[expr..],
        &shipped[start + block.len()..]
    );
    assert_eq!(hold_of(&long, ALERT).0, Duration::from_secs(600));
    let short = shortened(&long).expect("10m is too long to wait");
    assert_eq!(hold_of(&short, ALERT).0, Duration::from_secs(1));
    let changed: Vec<(&str, &str)> = long
        .lines()
        .zip(short.lines())
        .filter(|(l, s)| l != s)
        .collect();
    assert_eq!(changed, [("        for: 10m", "        for: 1s")]);
    assert_eq!(long.lines().count(), short.lines().count());
    // The other rules' `for:` are untouched; the shipped text needs no copy.
    assert_eq!(
        hold_of(&short, "DirGuardFreeSpaceLow").0,
        prom_duration("5m")
    );
    assert!(shortened(&shipped).is_none() || hold_of(&shipped, ALERT).0 > MAX_HOLD);
}

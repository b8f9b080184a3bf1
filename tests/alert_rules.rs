//! The Prometheus alert rules shipped in conf/prometheus load in Prometheus' own checker and
//! fire as documented (promtool's rule unit tests).

use std::process::Command;

fn promtool(args: &[&str]) -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/conf/prometheus");
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool runs (Debian package prometheus, installed by make deps)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn the_alert_rules_are_valid_for_promtool() {
    let out = promtool(&["check", "rules", "dirguard-alerts.yml"]);
    assert!(out.contains("SUCCESS: 3 rules found"), "{out}");
}

#[test]
fn the_alert_rules_fire_on_failing_directories_stalled_audits_and_low_space() {
    let out = promtool(&["test", "rules", "dirguard-alerts.test.yml"]);
    assert!(out.contains("SUCCESS"), "{out}");
}

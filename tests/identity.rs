//! Checks made for the application's own identity, not the server's User: `DirGuardUser`, and
//! suEXEC's `SuexecUserGroup` found automatically (PHP-FPM pools: tests/wordpress.rs). A
//! directory writable by www-data but not by the application's user is a fault, named for that
//! user with where the identity came from, and the pasted fix makes it pass.

mod common;
use common::{ensure_user, fix_of, Apache};
use std::time::Duration;

const APP: &str = "dgwp";

/// A required uploads directory owned by www-data, mode 0755: fine for Apache's User, not
/// writable by the application's.
fn www_data_uploads(a: &Apache) -> std::path::PathBuf {
    let uploads = a.path("htdocs/uploads");
    std::fs::create_dir(&uploads).unwrap();
    common::sh(&format!(
        "chown www-data:www-data '{0}' && chmod 0755 '{0}'",
        uploads.display()
    ));
    uploads
}

#[test]
fn dirguard_user_checks_and_fixes_the_directory_for_the_application_user() {
    require_root!("checks for another user need Apache started as root");
    ensure_user(APP);
    let mut a = Apache::new("dirguard-user");
    let uploads = www_data_uploads(&a);
    a.config(&format!(
        "LogLevel warn dirguard:info\n\
         <Directory {root}/htdocs>\n  DirGuardUser {APP}\n  DirGuardRequire uploads access=rw\n</Directory>",
        root = a.dir.display()
    ))
    .allow("DG01105")
    .allow("DG01301")
    .start();
    let failing = a.lines_with("DG01105");
    assert_eq!(failing.len(), 1, "{}", a.log());
    let line = &failing[0];
    let conf = a.conf.display().to_string();
    assert!(
        line.contains(&format!(
            "required directory '{}' does not grant access=rw",
            uploads.display()
        )) && line.contains(&format!("for User {APP} (uid "))
            && line.contains(&format!("from DirGuardUser at {conf}:")),
        "the line names the application's user and where it came from: {line}"
    );
    let identity = a.lines_with("DG00008");
    assert_eq!(identity.len(), 1, "{}", a.log());
    assert!(
        identity[0].contains(&format!("is checked for User {APP}")),
        "{}",
        identity[0]
    );
    assert!(
        a.lines_with("DG01120").iter().any(|l| l.contains(&format!(
            "(1 of them for the application's own user: {APP})"
        ))),
        "{}",
        a.log()
    );
    // The fix is for the application's user, and works as pasted.
    let fix = fix_of(line);
    assert!(fix.contains(&format!("u:{APP}:rwx")), "{fix}");
    common::sh(&fix);
    a.graceful();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        a.lines_with("DG01120")
            .last()
            .unwrap()
            .contains(": 0 failing"),
        "{}",
        a.log()
    );
}

/// A virtual host whose application runs as `APP` by `directive` (with the module `load`
/// line it needs), and a required directory only www-data can write: the startup check
/// reports it for `APP`, naming `origin` as where that identity came from. The server it
/// started, for more checks.
fn host_identity(name: &str, load: &str, directive: &str, origin: &str) -> Apache {
    ensure_user(APP);
    let mut a = Apache::new(name);
    let uploads = www_data_uploads(&a);
    let port = a.port;
    a.config(&format!(
        "LogLevel warn dirguard:info\n{load}\n\
         <VirtualHost 127.0.0.1:{port}>\n  ServerName app.test\n  {directive} {APP} {APP}\n\
         DirGuardRequire {} access=rw\n</VirtualHost>",
        uploads.display()
    ))
    .allow("DG01105")
    .allow("DG01301")
    .start();
    let failing = a.lines_with("DG01105");
    assert_eq!(failing.len(), 1, "{}", a.log());
    assert!(
        failing[0].contains(&format!("for User {APP} (uid ")) && failing[0].contains(origin),
        "{}",
        failing[0]
    );
    a
}

#[test]
fn suexec_user_group_is_the_identity_of_its_virtual_host() {
    require_root!("checks for another user need Apache started as root");
    host_identity(
        "suexec",
        "LoadModule suexec_module /usr/lib/apache2/modules/mod_suexec.so",
        "SuexecUserGroup",
        "suEXEC's SuexecUserGroup at ",
    );
}

#[test]
fn without_anything_said_the_server_user_is_checked() {
    require_root!("the server's User is www-data when Apache starts as root");
    let mut a = Apache::new("server-user");
    let uploads = www_data_uploads(&a);
    a.config(&format!(
        "LogLevel warn dirguard:info\nDirGuardRequire {} access=rw",
        uploads.display()
    ))
    .start();
    assert!(a.lines_with("DG01105").is_empty(), "{}", a.log());
    assert!(a.lines_with("DG00008").is_empty(), "{}", a.log());
    assert!(
        a.lines_with("DG01120")
            .iter()
            .any(|l| l.contains("for User www-data") && l.contains(": 0 failing")),
        "{}",
        a.log()
    );
}

#[test]
fn mpm_itk_assign_user_id_is_the_identity_of_its_virtual_host() {
    require_root!("mpm-itk switches to the assigned user, which needs root");
    if common::mpm() != "prefork" {
        eprintln!("mpm-itk runs on top of prefork: covered by the prefork run");
        return;
    }
    let a = host_identity(
        "itk",
        "LoadModule mpm_itk_module /usr/lib/apache2/modules/mpm_itk.so",
        "AssignUserID",
        "mpm-itk's AssignUserID at ",
    );
    // The host still serves under mpm-itk with the module loaded.
    assert_eq!(a.get_body("/index.html").0, 200);
}

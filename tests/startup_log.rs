//! What the switch says at start, read from its real output: no colour codes when the output
//! is not a terminal, which settings file was loaded, and a clear message when the data
//! directory is held by another switch.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn switch(config: &std::path::Path, data: &std::path::Path) -> Child {
    switch_with(config, data, "first-password-1")
}

fn switch_with(config: &std::path::Path, data: &std::path::Path, admin_password: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_vpbx"))
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .args(["--sip-addr", &format!("127.0.0.1:{}", free_port())])
        .args(["--http-addr", &format!("127.0.0.1:{}", free_port())])
        .args(["--rtp-port-min", "36000", "--rtp-port-max", "36099"])
        .env_remove("RUST_LOG")
        .env_remove("VPBX_CONFIG")
        .env_remove("VPBX_DATA_DIR")
        .env("VPBX_LOG_LEVEL", "info")
        .env("VPBX_ADMIN_PASSWORD", admin_password)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Lines of the child's stdout until one contains `until` (bounded by a generous timeout).
fn read_until(child: &mut Child, until: &str) -> Vec<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        let done = line.contains(until);
        lines.push(line);
        if done {
            break;
        }
    }
    lines
}

#[test]
fn plain_logs_name_the_settings_file_and_a_held_data_directory_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vpbx.toml");
    std::fs::write(&config, "log_level = \"info\"\n").unwrap();
    let data = dir.path().join("data");
    let mut first = switch(&config, &data);
    let lines = read_until(&mut first, "vpbx is up");
    let text = lines.join("\n");
    assert!(text.contains("vpbx is up"), "{text}");
    // Where the API reference is.
    let up = lines.iter().find(|l| l.contains("vpbx is up")).unwrap();
    assert!(
        up.contains("api_docs=http://127.0.0.1:") && up.contains("/api/docs"),
        "{up}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in a log that is not a terminal: {text}"
    );
    assert!(
        text.contains("settings loaded") && text.contains("vpbx.toml"),
        "{text}"
    );

    // A second switch on the same data directory: a clear message and a failure exit.
    let second = switch(&dir.path().join("none.toml"), &data);
    let out = second.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        stderr.contains("is in use") && stderr.contains("stop it first"),
        "{stderr}"
    );
    assert!(stdout.contains("no settings file"), "{stdout}");
    first.kill().unwrap();
    first.wait().unwrap();

    // A later start with another VPBX_ADMIN_PASSWORD says it is ignored and how to change it;
    // the same one says nothing.
    let mut again = switch_with(&config, &data, "another-password-2");
    let text = read_until(&mut again, "vpbx is up").join("\n");
    assert!(
        text.contains("is ignored") && text.contains("vpbx admin set-password"),
        "{text}"
    );
    again.kill().unwrap();
    again.wait().unwrap();
    let mut same = switch_with(&config, &data, "first-password-1");
    let text = read_until(&mut same, "vpbx is up").join("\n");
    assert!(!text.contains("is ignored"), "{text}");
    same.kill().unwrap();
    same.wait().unwrap();
}

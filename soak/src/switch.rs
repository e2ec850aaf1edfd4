//! The switch process: its configuration for `--mode bridged`, starting it on free ports and
//! stopping it.

use crate::{MediaArgs, Mode, BRIDGE_NUMBER};
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

impl MediaArgs {
    pub(crate) fn number(&self) -> String {
        self.number.clone().unwrap_or_else(|| {
            match self.mode {
                Mode::Echo => "74950000001",
                Mode::Bridged => BRIDGE_NUMBER,
            }
            .to_string()
        })
    }
}

/// The company of `--mode bridged`: `number` runs a `forward` to `agent@<agent>`.
pub(crate) fn bridge_company(agent: SocketAddr, number: &str) -> String {
    format!(
        r#"# Written by vpbx-soak media --mode bridged: one number forwarded to the soak agent.
company: Soak bridge
time_zone: Europe/Moscow
scenarios:
  - id: 9
    name: Bridge to the soak agent
    start: dial
    operations:
      dial:
        action:
          kind: forward
          targets:
            - {{ kind: sip_uri, uri: "agent@{agent}", timeout_s: 10 }}
        exits: {{}}
numbers:
  - number: "{number}"
    rules:
      - id: 9
        name: Bridged benchmark
        scenario: 9
"#
    )
}

/// Writes `<dir>/bridge/vpbx.toml` (only `demo = "company.yaml"`: a fresh data dir loads it) and
/// the company; returns the TOML's path.
pub(crate) fn write_bridge_config(
    dir: &std::path::Path,
    agent: SocketAddr,
    number: &str,
) -> Result<PathBuf, String> {
    let d = dir.join("bridge");
    std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
    let toml = d.join("vpbx.toml");
    std::fs::write(
        &toml,
        "# vpbx-soak media --mode bridged: the company below is loaded into the empty data dir.\n\
         demo = \"company.yaml\"\n",
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(d.join("company.yaml"), bridge_company(agent, number))
        .map_err(|e| e.to_string())?;
    Ok(toml)
}

/// A loopback port free for UDP and TCP now, never one this process handed out before (the
/// kernel may offer a port again once the probe sockets are closed).
pub(crate) fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let udp = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            let mut given = GIVEN.lock().unwrap();
            if !given.contains(&port) {
                given.push(port);
                return port;
            }
        }
    }
}

pub(crate) struct Switch {
    pub(crate) child: Option<Child>,
    pub(crate) pid: Option<u32>,
    pub(crate) sip: SocketAddr,
    pub(crate) http: SocketAddr,
    pub(crate) dir: Option<PathBuf>,
    pub(crate) log: Option<PathBuf>,
}

/// How to start a switch: everything but the ports is the caller's choice.
pub(crate) struct Launch<'a> {
    pub(crate) bin: &'a std::path::Path,
    /// The work directory (data dir and log go under it).
    pub(crate) dir: PathBuf,
    pub(crate) config: PathBuf,
    pub(crate) sip: SocketAddr,
    pub(crate) http: SocketAddr,
    pub(crate) rtp: (u16, u16),
    /// Extra arguments, after the tool's own.
    pub(crate) args: &'a [String],
    pub(crate) env: &'a [(&'a str, &'a str)],
    /// Start it in its own session (`setsid`).
    pub(crate) setsid: bool,
}

/// A fresh work directory in the temp dir.
pub(crate) fn work_dir(what: &str) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!(
        "vpbx-{what}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

impl Switch {
    pub(crate) fn start(a: &MediaArgs) -> Result<Switch, String> {
        let dir = work_dir("soak")?;
        let sip = a
            .sip
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], free_port())));
        let http = a
            .http
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], free_port())));
        let config = match (&a.switch_config, a.mode) {
            (Some(c), _) => c.clone(),
            (None, Mode::Echo) => PathBuf::from("/nonexistent.toml"),
            (None, Mode::Bridged) => write_bridge_config(&dir, a.agent_addr, &a.number())?,
        };
        Switch::launch(Launch {
            bin: &a.switch_bin,
            dir,
            config,
            sip,
            http,
            rtp: (a.switch_rtp_min, a.switch_rtp_max),
            args: &a.switch_arg,
            env: &[],
            setsid: a.setsid,
        })
    }

    /// Starts the switch (log level warn, the per-source flood ban and the auth-failure ban off:
    /// every call of a load comes from 127.0.0.1; `args` can override).
    pub(crate) fn launch(l: Launch<'_>) -> Result<Switch, String> {
        let log = l.dir.join("switch.log");
        let logf = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let mut cmd = if l.setsid {
            let mut c = Command::new("setsid");
            c.arg(l.bin);
            c
        } else {
            Command::new(l.bin)
        };
        let child = cmd
            .arg("--config")
            .arg(&l.config)
            .arg("--data-dir")
            .arg(l.dir.join("data"))
            .arg("--sip-addr")
            .arg(l.sip.to_string())
            .arg("--http-addr")
            .arg(l.http.to_string())
            .arg("--rtp-port-min")
            .arg(l.rtp.0.to_string())
            .arg("--rtp-port-max")
            .arg(l.rtp.1.to_string())
            .args(["--pike-requests", "0", "--auth-fail-max", "0"])
            .args(l.args)
            .envs(l.env.iter().copied())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(logf.try_clone().map_err(|e| e.to_string())?)
            .stderr(logf)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", l.bin.display()))?;
        let pid = child.id();
        Ok(Switch {
            child: Some(child),
            pid: Some(pid),
            sip: l.sip,
            http: l.http,
            dir: Some(l.dir),
            log: Some(log),
        })
    }

    pub(crate) fn pid_str(&self) -> Option<String> {
        self.pid.map(|p| p.to_string())
    }

    /// SIGTERM, up to 5 s for a clean exit, then SIGKILL. Returns the exit status text.
    pub(crate) fn stop(&mut self) -> Option<String> {
        let mut child = self.child.take()?;
        let pid = child.id().to_string();
        let _ = Command::new("kill").arg("-TERM").arg(&pid).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return Some(format!("{st}"));
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Some("killed after 5 s (no exit on SIGTERM)".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn log_tail(&self, lines: usize) -> String {
        let Some(log) = &self.log else {
            return String::new();
        };
        let t = std::fs::read_to_string(log).unwrap_or_default();
        let v: Vec<&str> = t.lines().collect();
        v[v.len().saturating_sub(lines)..].join("\n")
    }

    pub(crate) fn cleanup(&self, keep: bool) {
        if let Some(d) = &self.dir {
            if keep {
                eprintln!("kept switch data and log in {}", d.display());
            } else {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_company_document() {
        let y = bridge_company("127.0.0.1:25099".parse().unwrap(), BRIDGE_NUMBER);
        assert!(y.contains(r#"- { kind: sip_uri, uri: "agent@127.0.0.1:25099", timeout_s: 10 }"#));
        assert!(y.contains(r#"  - number: "74950000009""#));
        assert!(y.contains("kind: forward") && y.contains("exits: {}"));
    }
}

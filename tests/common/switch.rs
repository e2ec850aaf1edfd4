//! A live switch on free loopback ports with its own data directory, started through
//! [`TestSwitch::builder`].

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, Ordering};
use vpbx::app::Running;
use vpbx::settings::Settings;

/// A free UDP+TCP port pair on loopback (same number).
pub fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

static RTP_BASE: AtomicU16 = AtomicU16::new(0);

/// A distinct RTP range per switch in this process, keyed by the process id so parallel test
/// binaries do not collide either.
fn rtp_range() -> (u16, u16) {
    let base = 32000 + (std::process::id() % 40) as u16 * 600;
    let slot = RTP_BASE.fetch_add(1, Ordering::SeqCst) % 6;
    let lo = base + slot * 100;
    (lo, lo + 98)
}

/// A switch under test.
pub struct TestSwitch {
    pub running: Option<Running>,
    pub sip: SocketAddr,
    pub http: SocketAddr,
    pub data: tempfile::TempDir,
}

/// How to start a [`TestSwitch`]: the built-in demo company and the harness's settings unless
/// told otherwise.
#[must_use]
pub struct SwitchBuilder {
    company: Option<String>,
    /// The settings changes asked for, in order.
    tune: Box<dyn FnOnce(&mut Settings)>,
}

impl SwitchBuilder {
    /// `yaml` as the company instead of the built-in demo (files relative to the repo's
    /// `config/`).
    pub fn company(mut self, yaml: &str) -> Self {
        self.company = Some(yaml.to_owned());
        self
    }

    /// A fixed number of call arbiters (default: the switch's own choice).
    pub fn call_threads(self, n: usize) -> Self {
        self.settings(move |s| s.call_threads = Some(n))
    }

    /// The RTP inactivity timeout (default 30 s).
    pub fn rtp_timeout_s(self, secs: u64) -> Self {
        self.settings(move |s| s.rtp_timeout_s = secs)
    }

    /// Any other settings change, applied after the harness's own.
    pub fn settings(mut self, tune: impl FnOnce(&mut Settings) + 'static) -> Self {
        let before = self.tune;
        self.tune = Box::new(move |s| {
            before(s);
            tune(s);
        });
        self
    }

    /// Starts the switch.
    pub async fn start(self) -> TestSwitch {
        let data = tempfile::tempdir().unwrap();
        let demo = self.company.map(|y| {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
            let p = data.path().join("company.yaml");
            std::fs::write(&p, y).unwrap();
            // Files in test documents refer to the repo's prompts.
            std::fs::create_dir_all(data.path().join("prompts")).unwrap();
            std::fs::copy(
                dir.join("prompts/greeting.wav"),
                data.path().join("prompts/greeting.wav"),
            )
            .unwrap();
            p
        });
        let sip = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let http = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut settings = Settings {
            data_dir: data.path().join("data"),
            sip_addr: sip,
            http_addr: http,
            rtp_ip: "127.0.0.1".parse().unwrap(),
            rtp_ports: rtp_range(),
            rtp_timeout_s: 30,
            log_level: "warn".into(),
            log_json: false,
            demo,
            call_threads: None,
            sip_threads: Some(2),
            digest_algorithms: vec!["SHA-256".into(), "MD5".into()],
            digest_md5_only_user_agents: vec!["baresip".into(), "SIPp".into()],
            // The tests send hundreds of requests per second from 127.0.0.1: no flood or
            // auth-failure bans here; the security tests set their own thresholds.
            security: vpbx::settings::SecuritySettings {
                pike_requests: 0,
                auth_fail_max: 0,
                ..Default::default()
            },
            http: Default::default(),
            admin_password: None,
            min_session_expires_s: 2,
            max_calls_in_setup: vpbx::settings::DEFAULT_MAX_CALLS_IN_SETUP,
            max_sip_backlog: vpbx::settings::DEFAULT_MAX_SIP_BACKLOG,
            qualify_interval_s: 0,
            sip_user_agent: "vpbx".into(),
            sip_tcp: Default::default(),
            // The tests' phones use the demo document's passwords (`P101`, `P102`).
            demo_passwords: vpbx::settings::DemoPasswords::Document,
            // No mail relay; the voicemail e-mail tests point one at their SMTP sink.
            smtp: Default::default(),
            speech_url: None,
        };
        (self.tune)(&mut settings);
        let running = vpbx::app::start(&settings).await.unwrap();
        TestSwitch {
            running: Some(running),
            sip,
            http,
            data,
        }
    }
}

impl TestSwitch {
    /// A switch to configure, then [`start`](SwitchBuilder::start).
    pub fn builder() -> SwitchBuilder {
        SwitchBuilder {
            company: None,
            tune: Box::new(|_| {}),
        }
    }

    /// Starts with the built-in demo company and the harness's settings.
    pub async fn start() -> TestSwitch {
        Self::builder().start().await
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().unwrap()
    }

    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
    }

    /// The value of `name` (with its labels, as printed) in the switch's `/metrics`, 0 when
    /// absent.
    pub async fn metric(&self, name: &str) -> f64 {
        let (code, body) = self.get("/metrics").await;
        assert_eq!(code, 200);
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0.0)
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        http_get(self.http, path).await
    }
}

/// A plain HTTP/1.0 GET (the tests need no HTTP client dependency).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    (code, body)
}

/// The demo company (`config/demo.yaml`) with `scenarios` (YAML list items, indented by two
/// spaces) added to its scenarios and `numbers` added to its numbers; `extra` is appended at
/// the top level (e.g. `trunks:` or `talk_options:`).
pub fn demo_company_with(scenarios: &str, numbers: &str, extra: &str) -> String {
    let demo = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/demo.yaml"),
    )
    .unwrap();
    let mut y = demo.replacen("numbers:\n", &format!("{scenarios}numbers:\n"), 1);
    y.push_str(numbers);
    y.push_str(extra);
    y
}

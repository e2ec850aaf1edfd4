//! Settings: `config/vpbx.toml`, overridden by environment variables, overridden by flags.

use clap::Parser;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// Command line of `vpbx` (running the switch).
#[derive(Debug, Clone, Parser, Default)]
#[command(
    name = "vpbx",
    version,
    about = "vpbx: virtual PBX and contact-center switch"
)]
pub struct Flags {
    /// Settings file.
    #[arg(long, env = "VPBX_CONFIG", default_value = "config/vpbx.toml")]
    pub config: PathBuf,
    /// Data directory (store, recordings).
    #[arg(long, env = "VPBX_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// SIP listen address (UDP and TCP).
    #[arg(long, env = "VPBX_SIP_ADDR")]
    pub sip_addr: Option<SocketAddr>,
    /// HTTP listen address.
    #[arg(long, env = "VPBX_HTTP_ADDR")]
    pub http_addr: Option<SocketAddr>,
    /// Address for RTP sockets and SDP.
    #[arg(long, env = "VPBX_RTP_IP")]
    pub rtp_ip: Option<IpAddr>,
    /// Lowest RTP port.
    #[arg(long, env = "VPBX_RTP_PORT_MIN")]
    pub rtp_port_min: Option<u16>,
    /// Highest RTP port.
    #[arg(long, env = "VPBX_RTP_PORT_MAX")]
    pub rtp_port_max: Option<u16>,
    /// Default log filter when RUST_LOG is unset (e.g. `info`, `vpbx=debug`).
    #[arg(long, env = "VPBX_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "VPBX_LOG_JSON")]
    pub log_json: bool,
    /// Digest algorithms offered to phones, in order of preference, e.g. `SHA-256,MD5`.
    #[arg(long, env = "VPBX_DIGEST_ALGORITHMS", value_delimiter = ',')]
    pub digest_algorithms: Option<Vec<String>>,
    /// `User-Agent` substrings (case-insensitive, comma separated) offered MD5 only.
    #[arg(long, env = "VPBX_DIGEST_MD5_ONLY_USER_AGENTS", value_delimiter = ',')]
    pub digest_md5_only_user_agents: Option<Vec<String>>,
    /// Trusted networks (CIDR, comma separated): never banned nor throttled, still authenticated.
    #[arg(long, env = "VPBX_TRUSTED_NETWORKS", value_delimiter = ',')]
    pub trusted_networks: Option<Vec<crate::cidr::Cidr>>,
    /// SIP flood limit: more than this many requests from one IP in the window bans it (0: off).
    #[arg(long, env = "VPBX_PIKE_REQUESTS")]
    pub pike_requests: Option<u32>,
    /// SIP flood limit of a verified source (a digest from it verified recently; 0: none).
    #[arg(long, env = "VPBX_PIKE_VERIFIED_REQUESTS")]
    pub pike_verified_requests: Option<u32>,
    /// SIP flood window in seconds.
    #[arg(long, env = "VPBX_PIKE_WINDOW_S")]
    pub pike_window_s: Option<u64>,
    /// SIP flood ban in seconds.
    #[arg(long, env = "VPBX_PIKE_BAN_S")]
    pub pike_ban_s: Option<u64>,
    /// More than this many failed authentications from one IP in the window bans it (0: off).
    #[arg(long, env = "VPBX_AUTH_FAIL_MAX")]
    pub auth_fail_max: Option<u32>,
    /// Auth-failure window in seconds.
    #[arg(long, env = "VPBX_AUTH_FAIL_WINDOW_S")]
    pub auth_fail_window_s: Option<u64>,
    /// Auth-failure ban in seconds.
    #[arg(long, env = "VPBX_AUTH_BAN_S")]
    pub auth_ban_s: Option<u64>,
    /// This many failed digest authentications of one SIP account (from any untrusted
    /// addresses) within its window block the account (0: off).
    #[arg(long, env = "VPBX_ACCOUNT_FAIL_MAX")]
    pub account_fail_max: Option<u32>,
    /// Block of a SIP account in seconds.
    #[arg(long, env = "VPBX_ACCOUNT_BLOCK_S")]
    pub account_block_s: Option<u64>,
    /// `User-Agent`/`Server` value of SIP messages (default `vpbx`, no version).
    #[arg(long, env = "VPBX_SIP_USER_AGENT")]
    pub sip_user_agent: Option<String>,
    /// Passwords of the demo lines on first start: `random` (default) or `document` (as written
    /// in the demo document; for labs and tests).
    #[arg(long, env = "VPBX_DEMO_PASSWORDS")]
    pub demo_passwords: Option<DemoPasswords>,
    /// Serve the admin API over HTTPS (`true`/`false`).
    #[arg(long, env = "VPBX_TLS")]
    pub tls: Option<bool>,
    /// HTTPS listen address.
    #[arg(long, env = "VPBX_HTTPS_ADDR")]
    pub https_addr: Option<SocketAddr>,
    /// Certificate chain (PEM) for HTTPS.
    #[arg(long, env = "VPBX_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) for HTTPS.
    #[arg(long, env = "VPBX_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// With TLS, what the plain HTTP address does: `redirect` or `off`.
    #[arg(long, env = "VPBX_PLAIN_HTTP")]
    pub plain_http: Option<PlainHttp>,
    /// Plain-HTTP address serving only /health and /metrics.
    #[arg(long, env = "VPBX_MONITORING_ADDR")]
    pub monitoring_addr: Option<SocketAddr>,
    /// SMTP relay for voicemail e-mail (unset: no e-mail).
    #[arg(long, env = "VPBX_SMTP_HOST")]
    pub smtp_host: Option<String>,
    /// SMTP relay port (default by `--smtp-tls`: 25, 587 or 465).
    #[arg(long, env = "VPBX_SMTP_PORT")]
    pub smtp_port: Option<u16>,
    /// SMTP connection security: `none`, `starttls` or `tls`.
    #[arg(long, env = "VPBX_SMTP_TLS")]
    pub smtp_tls: Option<SmtpTlsMode>,
    /// SMTP user name (the password comes from `VPBX_SMTP_PASSWORD` or the file).
    #[arg(long, env = "VPBX_SMTP_USERNAME")]
    pub smtp_username: Option<String>,
    /// `From` address of voicemail e-mail.
    #[arg(long, env = "VPBX_SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// Certificates (PEM) trusted for the SMTP relay besides the system's roots.
    #[arg(long, env = "VPBX_SMTP_CA_FILE")]
    pub smtp_ca_file: Option<PathBuf>,
    /// Speech service of voice assistants, `http(s)://...` (unset: they take `not_recognised`).
    #[arg(long, env = "VPBX_SPEECH_URL")]
    pub speech_url: Option<String>,
}

/// Where the demo lines' passwords come from on first start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum DemoPasswords {
    /// A fresh random password per line, logged once (and readable through the API).
    #[default]
    Random,
    /// The passwords written in the demo document.
    Document,
}

/// SIP over TCP (`[sip_tcp]`): connection caps and timeouts. A connection costs a file
/// descriptor; the caps keep enough of them for UDP, RTP, HTTP and the store.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipTcpSettings {
    /// Most TCP connections at once (0: derived from the open-file limit, see `fd_reserve`).
    pub max_connections: u32,
    /// Most TCP connections from one address (an IPv6 /64) at once (0: derived from
    /// `max_connections`). Trusted networks are exempt; the total cap still applies.
    pub max_connections_per_ip: u32,
    /// Descriptors kept out of the derived total for HTTP, the store, UDP and RTP.
    pub fd_reserve: u32,
    /// A new connection that sends no valid request within this many seconds is closed.
    pub first_request_timeout_s: u64,
    /// A connection that did is closed after this many seconds without a valid message or an
    /// RFC 5626 keep-alive (CRLF ping).
    pub idle_timeout_s: u64,
}

impl Default for SipTcpSettings {
    fn default() -> Self {
        SipTcpSettings {
            max_connections: 0,
            max_connections_per_ip: 0,
            fd_reserve: 512,
            first_request_timeout_s: 20,
            idle_timeout_s: 300,
        }
    }
}

/// Per-source defences of the SIP edge (`[security]` in the settings file). 0 disables a limit.
/// Defaults follow Kamailio's stock pike (more than 16 requests in 2 s → 300 s ban) and
/// fail2ban's Asterisk jail (10 failed authentications in 10 minutes → 10 minute ban).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecuritySettings {
    /// Networks whose sources are never banned nor throttled (SIP flood and auth-failure bans,
    /// admin login throttling); their requests are still authenticated. Empty by default.
    pub trusted_networks: Vec<crate::cidr::Cidr>,
    /// More than this many requests from one IP within `pike_window_s` bans it.
    pub pike_requests: u32,
    /// Flood window, seconds.
    pub pike_window_s: u64,
    /// Flood ban, seconds.
    pub pike_ban_s: u64,
    /// The flood limit of a verified source (one from which a digest authentication verified
    /// within `verified_source_s`) instead of `pike_requests` (0: no limit for them).
    pub pike_verified_requests: u32,
    /// How long a source stays verified after its last verified digest, seconds (0: sources
    /// are never verified; every request counts against `pike_requests`).
    pub verified_source_s: u64,
    /// More than this many failed authentications from one IP within `auth_fail_window_s` bans it.
    pub auth_fail_max: u32,
    /// Auth-failure window, seconds.
    pub auth_fail_window_s: u64,
    /// Auth-failure ban, seconds.
    pub auth_ban_s: u64,
    /// Failed digest authentications of one SIP account, from untrusted addresses, that go
    /// unanswered by delays; later ones wait 1 s, 2 s, 4 s… (capped at 60 s) before the next
    /// attempt of that account is verified.
    pub account_fail_free: u32,
    /// This many failures of one account within `account_fail_window_s` block it from
    /// untrusted addresses for `account_block_s` (0: no per-account limit).
    pub account_fail_max: u32,
    /// Per-account failure window, seconds.
    pub account_fail_window_s: u64,
    /// Per-account block, seconds.
    pub account_block_s: u64,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        SecuritySettings {
            trusted_networks: Vec::new(),
            pike_requests: 16,
            pike_window_s: 2,
            pike_ban_s: 300,
            pike_verified_requests: 400,
            verified_source_s: 3600,
            auth_fail_max: 10,
            auth_fail_window_s: 600,
            auth_ban_s: 600,
            account_fail_free: 3,
            account_fail_max: 10,
            account_fail_window_s: 900,
            account_block_s: 900,
        }
    }
}

/// How the connection to the SMTP relay is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTlsMode {
    /// Plain SMTP: only for a relay on this host or a trusted network (port 25).
    None,
    /// STARTTLS required: a relay that does not offer it is an error, never a downgrade
    /// (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte, "implicit TLS" (port 465).
    Tls,
}

/// The SMTP relay of voicemail e-mail (`[smtp]` in the settings file). Without `host` no
/// e-mail is sent: a voicemail that asks for one logs that no relay is configured.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpSettings {
    /// Relay host name (its certificate is checked against it); none: e-mail off.
    pub host: Option<String>,
    /// Relay port; 0: the usual port of `tls` (25, 587, 465).
    pub port: u16,
    /// Connection security; default `starttls`.
    pub tls: SmtpTlsMode,
    /// SMTP AUTH user name; none: no authentication.
    pub username: Option<String>,
    /// SMTP AUTH password (`VPBX_SMTP_PASSWORD` wins over the file).
    pub password: Option<Secret>,
    /// `From` of the e-mail; default `vpbx@localhost`.
    pub from: String,
    /// Certificates (PEM, relative to the settings file) trusted for the relay besides the
    /// system's roots: a private CA or the relay's self-signed certificate.
    pub ca_file: Option<PathBuf>,
    /// Limit of one SMTP command (connect, each reply), seconds; default 30.
    pub timeout_s: u64,
    /// Most messages waiting for the relay; a full queue drops its oldest; default 1000.
    pub queue_max: usize,
    /// Attempts per message before it is given up; default 5.
    pub attempts: u32,
    /// Wait before the first retry, seconds, doubled for each further retry; default 30.
    pub retry_s: u64,
    /// Longest wait between two attempts, seconds; default 600.
    pub retry_max_s: u64,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        SmtpSettings {
            host: None,
            port: 0,
            tls: SmtpTlsMode::Starttls,
            username: None,
            password: None,
            from: "vpbx@localhost".into(),
            ca_file: None,
            timeout_s: 30,
            queue_max: 1000,
            attempts: 5,
            retry_s: 30,
            retry_max_s: 600,
        }
    }
}

impl SmtpSettings {
    /// The mailer's configuration, or `None` when no relay is configured.
    pub fn mailer(&self) -> Option<vpbx_actors::mailer::MailerConfig> {
        use vpbx_actors::mailer::SmtpTls;
        let host = self.host.clone()?;
        let tls = match self.tls {
            SmtpTlsMode::None => SmtpTls::None,
            SmtpTlsMode::Starttls => SmtpTls::Starttls,
            SmtpTlsMode::Tls => SmtpTls::Tls,
        };
        Some(vpbx_actors::mailer::MailerConfig {
            host,
            port: if self.port == 0 {
                tls.default_port()
            } else {
                self.port
            },
            tls,
            credentials: self.username.clone().map(|u| {
                (
                    u,
                    self.password
                        .as_ref()
                        .map(|p| p.expose().to_owned())
                        .unwrap_or_default(),
                )
            }),
            ca_file: self.ca_file.clone(),
            from: self.from.clone(),
            timeout: std::time::Duration::from_secs(self.timeout_s),
            capacity: self.queue_max,
            retry: vpbx_actors::core::mail::RetryPolicy {
                attempts: self.attempts,
                first_retry: std::time::Duration::from_secs(self.retry_s),
                max_retry: std::time::Duration::from_secs(self.retry_max_s.max(self.retry_s)),
            },
        })
    }
}

/// What the plain-HTTP address does when the admin API is served over TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum PlainHttp {
    /// Answers every request with a permanent redirect to the HTTPS address.
    #[default]
    Redirect,
    /// Not bound at all.
    Off,
}

/// The HTTP edge (`[http]` in the settings file).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Worker threads of the API server (at least 1); default 2.
    pub workers: usize,
    /// Admin password verifications (argon2, 19 MiB each) running at once; default 2.
    pub login_verifies: usize,
    /// Serve the admin API over HTTPS (rustls) at `https_addr`; default off.
    pub tls: bool,
    /// HTTPS listen address; default 127.0.0.1:8443.
    pub https_addr: SocketAddr,
    /// Certificate chain (PEM). With `tls` and no `cert`, a self-signed certificate is
    /// generated into `<data_dir>/tls/` at first start and reused.
    pub cert: Option<PathBuf>,
    /// Private key (PEM) of `cert`.
    pub key: Option<PathBuf>,
    /// With `tls`: what `http_addr` does (`redirect` or `off`).
    pub plain_http: PlainHttp,
    /// A separate plain-HTTP address serving only `/health` and `/metrics`, on its own thread,
    /// so monitoring answers whatever the API's load (and without TLS).
    pub monitoring_addr: Option<SocketAddr>,
    /// Show the version in the `Server` header (`vpbx/0.1.0`); default the name only.
    pub server_version: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            workers: 2,
            login_verifies: 2,
            tls: false,
            https_addr: SocketAddr::from(([127, 0, 0, 1], 8443)),
            cert: None,
            key: None,
            plain_http: PlainHttp::Redirect,
            monitoring_addr: None,
            server_version: false,
        }
    }
}

/// The default bound of calls in setup (D73): a few hundred milliseconds of this machine's
/// capacity, far above what normal running ever has in setup.
pub const DEFAULT_MAX_CALLS_IN_SETUP: usize = 500;

/// The default bound of the SIP stack's backlog (D73): a few tenths of a second of this
/// machine's message rate, where normal running has a handful queued.
pub const DEFAULT_MAX_SIP_BACKLOG: usize = 2_000;

/// The settings file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct File {
    data_dir: Option<PathBuf>,
    sip_addr: Option<SocketAddr>,
    http_addr: Option<SocketAddr>,
    rtp_ip: Option<IpAddr>,
    rtp_port_min: Option<u16>,
    rtp_port_max: Option<u16>,
    rtp_timeout_s: Option<u64>,
    log_level: Option<String>,
    demo: Option<PathBuf>,
    call_threads: Option<usize>,
    sip_threads: Option<usize>,
    digest_algorithms: Option<Vec<String>>,
    digest_md5_only_user_agents: Option<Vec<String>>,
    security: Option<SecuritySettings>,
    http: Option<HttpSettings>,
    admin_password: Option<String>,
    min_session_expires_s: Option<u32>,
    max_calls_in_setup: Option<usize>,
    max_sip_backlog: Option<usize>,
    qualify_interval_s: Option<u64>,
    sip_user_agent: Option<String>,
    sip_tcp: Option<SipTcpSettings>,
    demo_passwords: Option<DemoPasswords>,
    smtp: Option<SmtpSettings>,
    speech_url: Option<String>,
}

/// Effective settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Data directory.
    pub data_dir: PathBuf,
    /// SIP listen address.
    pub sip_addr: SocketAddr,
    /// HTTP listen address.
    pub http_addr: SocketAddr,
    /// RTP address.
    pub rtp_ip: IpAddr,
    /// RTP port range.
    pub rtp_ports: (u16, u16),
    /// RTP inactivity timeout.
    pub rtp_timeout_s: u64,
    /// Default log filter.
    pub log_level: String,
    /// Log as JSON.
    pub log_json: bool,
    /// Demo company document to load into an empty store (None: the built-in one).
    pub demo: Option<PathBuf>,
    /// Arbiters (threads) carrying call actors; default one per core.
    pub call_threads: Option<usize>,
    /// Worker threads of the SIP edge's runtime; default one per core.
    pub sip_threads: Option<usize>,
    /// Digest algorithms offered, in order of preference (`MD5`, `SHA-256`); default
    /// `SHA-256, MD5`.
    pub digest_algorithms: Vec<String>,
    /// `User-Agent` substrings (case-insensitive) offered MD5 alone, as are requests without a
    /// `User-Agent`; default `baresip, SIPp` (both abort on a SHA-256 challenge).
    pub digest_md5_only_user_agents: Vec<String>,
    /// Flood and auth-failure bans of the SIP edge.
    pub security: SecuritySettings,
    /// The HTTP edge: workers, login verifies, TLS, monitoring address.
    pub http: HttpSettings,
    /// Admin password for the first start (`VPBX_ADMIN_PASSWORD`, else the file's
    /// `admin_password`); ignored once a password is stored.
    pub admin_password: Option<Secret>,
    /// Smallest session interval (RFC 4028 `Min-SE`) accepted from callers; default 90 s.
    pub min_session_expires_s: u32,
    /// Calls in setup at once (an INVITE taken whose call has not answered it yet) before new
    /// INVITEs get 503 with `Retry-After` (0: no bound); default [`DEFAULT_MAX_CALLS_IN_SETUP`].
    pub max_calls_in_setup: usize,
    /// SIP messages received over UDP that the SIP stack has not taken up yet before new
    /// INVITEs get 503 at the gate and retransmissions are dropped (0: no bound); default
    /// [`DEFAULT_MAX_SIP_BACKLOG`].
    pub max_sip_backlog: usize,
    /// Seconds between OPTIONS probes of registered contacts (0: no probing); default 30.
    pub qualify_interval_s: u64,
    /// `User-Agent`/`Server` of SIP messages; default `vpbx` (no version: it helps attackers).
    pub sip_user_agent: String,
    /// SIP over TCP: connection caps and timeouts.
    pub sip_tcp: SipTcpSettings,
    /// Where the demo lines' passwords come from on first start; default random.
    pub demo_passwords: DemoPasswords,
    /// The SMTP relay of voicemail e-mail (none by default: no e-mail).
    pub smtp: SmtpSettings,
    /// The speech service voice assistants post the caller's answer to (none by default: they
    /// take `not_recognised`).
    pub speech_url: Option<String>,
}

/// A secret setting: never printed by `Debug`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file exists but cannot be read or parsed.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A value is out of range.
    #[error("{field}: {reason}")]
    Invalid {
        /// Setting name.
        field: &'static str,
        /// The rule.
        reason: String,
    },
}

impl Settings {
    /// Loads the file named by `flags.config` (a missing default file means built-in defaults)
    /// and applies the flags and environment on top.
    pub fn load(flags: &Flags) -> Result<Settings, SettingsError> {
        let file = match std::fs::read_to_string(&flags.config) {
            Ok(text) => toml::from_str::<File>(&text).map_err(|e| SettingsError::File {
                path: flags.config.display().to_string(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => File::default(),
            Err(e) => {
                return Err(SettingsError::File {
                    path: flags.config.display().to_string(),
                    reason: e.to_string(),
                })
            }
        };
        let config_dir = flags.config.parent().unwrap_or(Path::new("."));
        let s = Settings {
            data_dir: flags
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("./data")),
            sip_addr: flags
                .sip_addr
                .or(file.sip_addr)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5060))),
            http_addr: flags
                .http_addr
                .or(file.http_addr)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            rtp_ip: flags
                .rtp_ip
                .or(file.rtp_ip)
                .unwrap_or(IpAddr::from([127, 0, 0, 1])),
            rtp_ports: (
                flags.rtp_port_min.or(file.rtp_port_min).unwrap_or(20000),
                flags.rtp_port_max.or(file.rtp_port_max).unwrap_or(29999),
            ),
            rtp_timeout_s: file.rtp_timeout_s.unwrap_or(60),
            log_level: flags
                .log_level
                .clone()
                .or(file.log_level)
                .unwrap_or_else(|| "info,rsipstack=warn".into()),
            log_json: flags.log_json,
            demo: file.demo.map(|d| config_dir.join(d)),
            call_threads: file.call_threads.filter(|n| *n > 0),
            sip_threads: file.sip_threads.filter(|n| *n > 0),
            min_session_expires_s: file.min_session_expires_s.unwrap_or(90).max(1),
            max_calls_in_setup: file
                .max_calls_in_setup
                .unwrap_or(DEFAULT_MAX_CALLS_IN_SETUP),
            max_sip_backlog: file.max_sip_backlog.unwrap_or(DEFAULT_MAX_SIP_BACKLOG),
            qualify_interval_s: file.qualify_interval_s.unwrap_or(30),
            digest_algorithms: flags
                .digest_algorithms
                .clone()
                .or(file.digest_algorithms)
                .unwrap_or_else(|| vec!["SHA-256".into(), "MD5".into()]),
            digest_md5_only_user_agents: flags
                .digest_md5_only_user_agents
                .clone()
                .or(file.digest_md5_only_user_agents)
                .unwrap_or_else(|| vec!["baresip".into(), "SIPp".into()]),
            security: {
                let f = file.security.unwrap_or_default();
                SecuritySettings {
                    trusted_networks: flags.trusted_networks.clone().unwrap_or(f.trusted_networks),
                    pike_requests: flags.pike_requests.unwrap_or(f.pike_requests),
                    pike_window_s: flags.pike_window_s.unwrap_or(f.pike_window_s),
                    pike_ban_s: flags.pike_ban_s.unwrap_or(f.pike_ban_s),
                    pike_verified_requests: flags
                        .pike_verified_requests
                        .unwrap_or(f.pike_verified_requests),
                    auth_fail_max: flags.auth_fail_max.unwrap_or(f.auth_fail_max),
                    auth_fail_window_s: flags.auth_fail_window_s.unwrap_or(f.auth_fail_window_s),
                    auth_ban_s: flags.auth_ban_s.unwrap_or(f.auth_ban_s),
                    account_fail_max: flags.account_fail_max.unwrap_or(f.account_fail_max),
                    account_block_s: flags.account_block_s.unwrap_or(f.account_block_s),
                    ..f
                }
            },
            http: {
                let f = file.http.unwrap_or_default();
                HttpSettings {
                    tls: flags.tls.unwrap_or(f.tls),
                    https_addr: flags.https_addr.unwrap_or(f.https_addr),
                    cert: flags
                        .tls_cert
                        .clone()
                        .or(f.cert)
                        .map(|p| config_dir.join(p)),
                    key: flags.tls_key.clone().or(f.key).map(|p| config_dir.join(p)),
                    plain_http: flags.plain_http.unwrap_or(f.plain_http),
                    monitoring_addr: flags.monitoring_addr.or(f.monitoring_addr),
                    ..f
                }
            },
            admin_password: std::env::var("VPBX_ADMIN_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty())
                .or(file.admin_password)
                .map(Secret),
            sip_user_agent: flags
                .sip_user_agent
                .clone()
                .or(file.sip_user_agent)
                .unwrap_or_else(|| "vpbx".into()),
            sip_tcp: file.sip_tcp.unwrap_or_default(),
            demo_passwords: flags
                .demo_passwords
                .or(file.demo_passwords)
                .unwrap_or_default(),
            smtp: {
                let f = file.smtp.unwrap_or_default();
                SmtpSettings {
                    host: flags.smtp_host.clone().or(f.host).filter(|h| !h.is_empty()),
                    port: flags.smtp_port.unwrap_or(f.port),
                    tls: flags.smtp_tls.unwrap_or(f.tls),
                    username: flags.smtp_username.clone().or(f.username),
                    password: std::env::var("VPBX_SMTP_PASSWORD")
                        .ok()
                        .filter(|p| !p.is_empty())
                        .map(Secret)
                        .or(f.password),
                    from: flags.smtp_from.clone().unwrap_or(f.from),
                    ca_file: flags
                        .smtp_ca_file
                        .clone()
                        .or(f.ca_file)
                        .map(|p| config_dir.join(p)),
                    ..f
                }
            },
            speech_url: flags
                .speech_url
                .clone()
                .or(file.speech_url)
                .filter(|u| !u.is_empty()),
        };
        if let Some(url) = &s.speech_url {
            let rest = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"))
                .unwrap_or("");
            if rest.is_empty()
                || rest.starts_with('/')
                || !url.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(SettingsError::Invalid {
                    field: "speech_url",
                    reason: format!("need an http:// or https:// URL with a host, got {url:?}"),
                });
            }
        }
        let ua = &s.sip_user_agent;
        if ua.is_empty() || ua.len() > 64 || !ua.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
            return Err(SettingsError::Invalid {
                field: "sip_user_agent",
                reason: format!("need 1 to 64 printable ASCII characters, got {ua:?}"),
            });
        }
        if s.sip_tcp.first_request_timeout_s == 0 || s.sip_tcp.idle_timeout_s == 0 {
            return Err(SettingsError::Invalid {
                field: "sip_tcp.first_request_timeout_s/idle_timeout_s",
                reason: "must be at least 1 second".into(),
            });
        }
        if s.rtp_ports.0 >= s.rtp_ports.1 || s.rtp_ports.0 < 1024 {
            return Err(SettingsError::Invalid {
                field: "rtp_port_min/rtp_port_max",
                reason: format!(
                    "need 1024 <= min < max, got {}..{}",
                    s.rtp_ports.0, s.rtp_ports.1
                ),
            });
        }
        for ua in &s.digest_md5_only_user_agents {
            if ua.trim().is_empty()
                || ua.len() > 64
                || !ua.chars().all(|c| c.is_ascii_graphic() || c == ' ')
            {
                return Err(SettingsError::Invalid {
                    field: "digest_md5_only_user_agents",
                    reason: format!(
                        "each entry needs 1 to 64 printable ASCII characters, got {ua:?}"
                    ),
                });
            }
        }
        for a in &s.digest_algorithms {
            if crate::sip::digest::Algorithm::parse(a).is_none() {
                return Err(SettingsError::Invalid {
                    field: "digest_algorithms",
                    reason: format!("unknown algorithm {a:?}; use MD5 and/or SHA-256"),
                });
            }
        }
        if s.http.workers == 0 || s.http.login_verifies == 0 {
            return Err(SettingsError::Invalid {
                field: "http.workers/http.login_verifies",
                reason: "must be at least 1".into(),
            });
        }
        if s.http.cert.is_some() != s.http.key.is_some() {
            return Err(SettingsError::Invalid {
                field: "http.cert/http.key",
                reason: "give both the certificate and its key, or neither".into(),
            });
        }
        if s.rtp_timeout_s == 0 {
            return Err(SettingsError::Invalid {
                field: "rtp_timeout_s",
                reason: "must be at least 1 second".into(),
            });
        }
        let m = &s.smtp;
        if m.timeout_s == 0 || m.queue_max == 0 || m.attempts == 0 || m.retry_s == 0 {
            return Err(SettingsError::Invalid {
                field: "smtp.timeout_s/queue_max/attempts/retry_s",
                reason: "must be at least 1".into(),
            });
        }
        if m.password.is_some() && m.username.is_none() {
            return Err(SettingsError::Invalid {
                field: "smtp.username",
                reason: "a password needs a user name".into(),
            });
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vpbx.toml");
        std::fs::write(
            &path,
            "sip_addr = \"127.0.0.1:5070\"\nrtp_port_min = 30000\nrtp_port_max = 30100\n",
        )
        .unwrap();
        let flags = Flags {
            config: path,
            sip_addr: Some("127.0.0.1:5080".parse().unwrap()),
            ..Default::default()
        };
        let s = Settings::load(&flags).unwrap();
        assert_eq!(s.sip_addr.port(), 5080);
        assert_eq!(s.rtp_ports, (30000, 30100));
        assert_eq!(s.http_addr.port(), 8080);
    }

    #[test]
    fn bad_values_name_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vpbx.toml");
        std::fs::write(&path, "rtp_port_min = 5000\nrtp_port_max = 4000\n").unwrap();
        let flags = Flags {
            config: path.clone(),
            ..Default::default()
        };
        let e = Settings::load(&flags).unwrap_err();
        assert!(e.to_string().contains("rtp_port_min"), "{e}");
        std::fs::write(&path, "sip_adr = 1\n").unwrap();
        assert!(Settings::load(&flags)
            .unwrap_err()
            .to_string()
            .contains("sip_adr"));
    }

    #[test]
    fn security_table_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vpbx.toml");
        std::fs::write(&path, "[security]\npike_requests = 50\nauth_ban_s = 60\n").unwrap();
        let flags = Flags {
            config: path.clone(),
            auth_fail_max: Some(0),
            ..Default::default()
        };
        let s = Settings::load(&flags).unwrap();
        assert_eq!(s.security.pike_requests, 50);
        assert_eq!(s.security.pike_window_s, 2);
        assert_eq!(s.security.auth_ban_s, 60);
        assert_eq!(s.security.auth_fail_max, 0);
        let none = Flags {
            config: dir.path().join("missing.toml"),
            ..Default::default()
        };
        assert_eq!(
            Settings::load(&none).unwrap().security,
            SecuritySettings::default()
        );
        // The verified-source limit: file, then flag.
        std::fs::write(
            &path,
            "[security]\npike_verified_requests = 100\nverified_source_s = 60\n",
        )
        .unwrap();
        let s = Settings::load(&flags).unwrap();
        assert_eq!(
            (
                s.security.pike_verified_requests,
                s.security.verified_source_s
            ),
            (100, 60)
        );
        let flagged = Flags {
            pike_verified_requests: Some(7),
            ..flags.clone()
        };
        assert_eq!(
            Settings::load(&flagged)
                .unwrap()
                .security
                .pike_verified_requests,
            7
        );
        std::fs::write(&path, "[security]\npike = 1\n").unwrap();
        assert!(Settings::load(&flags).is_err());
        std::fs::write(&path, "[security]\ntrusted_networks = [\"10.0.0.0/8\"]\n").unwrap();
        let s = Settings::load(&flags).unwrap();
        assert_eq!(
            s.security.trusted_networks,
            vec!["10.0.0.0/8".parse().unwrap()]
        );
        std::fs::write(&path, "[security]\ntrusted_networks = [\"10.0.0.1/8\"]\n").unwrap();
        let e = Settings::load(&flags).unwrap_err().to_string();
        assert!(e.contains("host bits"), "{e}");
    }

    #[test]
    fn sip_edge_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vpbx.toml");
        let flags = Flags {
            config: path.clone(),
            ..Default::default()
        };
        std::fs::write(&path, "").unwrap();
        let s = Settings::load(&flags).unwrap();
        assert_eq!(s.sip_user_agent, "vpbx");
        assert_eq!(s.sip_tcp, SipTcpSettings::default());
        assert_eq!(s.demo_passwords, DemoPasswords::Random);
        std::fs::write(
            &path,
            "sip_user_agent = \"Acme\"\ndemo_passwords = \"document\"\n\
             [sip_tcp]\nmax_connections_per_ip = 8\nfirst_request_timeout_s = 5\n\
             [security]\naccount_fail_max = 4\n",
        )
        .unwrap();
        let s = Settings::load(&flags).unwrap();
        assert_eq!(s.sip_user_agent, "Acme");
        assert_eq!(s.demo_passwords, DemoPasswords::Document);
        assert_eq!(s.sip_tcp.max_connections_per_ip, 8);
        assert_eq!(s.sip_tcp.first_request_timeout_s, 5);
        assert_eq!(s.sip_tcp.idle_timeout_s, 300);
        assert_eq!(s.security.account_fail_max, 4);
        assert_eq!(s.security.account_block_s, 900);
        // The shipped settings file reads.
        let shipped = Flags {
            config: Path::new(env!("CARGO_MANIFEST_DIR")).join("config/vpbx.toml"),
            ..Default::default()
        };
        let s = Settings::load(&shipped).unwrap();
        assert_eq!(s.sip_tcp, SipTcpSettings::default());
        assert_eq!(s.security, SecuritySettings::default());
        assert_eq!(s.speech_url, None);
        for (text, field) in [
            ("sip_user_agent = \"\"\n", "sip_user_agent"),
            ("sip_user_agent = \"a\\nb\"\n", "sip_user_agent"),
            ("[sip_tcp]\nidle_timeout_s = 0\n", "idle_timeout_s"),
            ("[sip_tcp]\nmax_conns = 1\n", "max_conns"),
            ("demo_passwords = \"known\"\n", "known"),
            (
                "digest_md5_only_user_agents = [\"\"]\n",
                "digest_md5_only_user_agents",
            ),
            ("digest_algorithms = [\"SHA-512\"]\n", "digest_algorithms"),
            ("speech_url = \"ftp://x/\"\n", "speech_url"),
            ("speech_url = \"http:///recognize\"\n", "speech_url"),
        ] {
            std::fs::write(&path, text).unwrap();
            let e = Settings::load(&flags).unwrap_err().to_string();
            assert!(e.contains(field), "{text}: {e}");
        }
    }

    #[test]
    fn digest_offer_defaults_and_shipped_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vpbx.toml");
        std::fs::write(&path, "").unwrap();
        let flags = Flags {
            config: path,
            ..Default::default()
        };
        let s = Settings::load(&flags).unwrap();
        assert_eq!(s.digest_algorithms, ["SHA-256", "MD5"]);
        assert_eq!(s.digest_md5_only_user_agents, ["baresip", "SIPp"]);
        let shipped = Flags {
            config: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/config/vpbx.toml")),
            ..Default::default()
        };
        let shipped = Settings::load(&shipped).unwrap();
        assert_eq!(shipped.digest_algorithms, s.digest_algorithms);
        assert_eq!(
            shipped.digest_md5_only_user_agents,
            s.digest_md5_only_user_agents
        );
    }

    #[test]
    fn smtp_table_flags_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vpbx.toml");
        let flags = Flags {
            config: path.clone(),
            ..Default::default()
        };
        std::fs::write(&path, "").unwrap();
        let s = Settings::load(&flags).unwrap();
        assert_eq!(s.smtp, SmtpSettings::default());
        assert!(s.smtp.mailer().is_none(), "no host: no e-mail");
        // The shipped file states the defaults.
        let shipped = Flags {
            config: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/config/vpbx.toml")),
            ..Default::default()
        };
        assert_eq!(
            Settings::load(&shipped).unwrap().smtp,
            SmtpSettings::default()
        );
        std::fs::write(
            &path,
            "[smtp]\nhost = \"mail.example.com\"\ntls = \"tls\"\nusername = \"pbx\"\n\
             password = \"s3cret\"\nfrom = \"pbx@example.com\"\nattempts = 3\n\
             ca_file = \"tls/relay.pem\"\n",
        )
        .unwrap();
        let s = Settings::load(&flags).unwrap();
        let m = s.smtp.mailer().unwrap();
        assert_eq!((m.host.as_str(), m.port), ("mail.example.com", 465));
        assert_eq!(m.tls, vpbx_actors::mailer::SmtpTls::Tls);
        assert_eq!(m.credentials, Some(("pbx".into(), "s3cret".into())));
        assert_eq!(m.retry.attempts, 3);
        assert_eq!(m.capacity, 1000);
        assert_eq!(m.ca_file, Some(dir.path().join("tls/relay.pem")));
        assert!(!format!("{m:?}").contains("s3cret"));
        assert!(!format!("{:?}", s.smtp).contains("s3cret"));
        // Flags win over the file; the default port follows the mode.
        let flagged = Flags {
            smtp_tls: Some(SmtpTlsMode::Starttls),
            smtp_from: Some("other@example.com".into()),
            ..flags.clone()
        };
        let m = Settings::load(&flagged).unwrap().smtp.mailer().unwrap();
        assert_eq!((m.port, m.from.as_str()), (587, "other@example.com"));
        for (text, field) in [
            (
                "[smtp]\nattempts = 0\n",
                "smtp.timeout_s/queue_max/attempts/retry_s",
            ),
            ("[smtp]\npassword = \"x\"\n", "smtp.username"),
            ("[smtp]\ntls = \"ssl\"\n", "ssl"),
            ("[smtp]\nrelay = \"x\"\n", "relay"),
        ] {
            std::fs::write(&path, text).unwrap();
            let e = Settings::load(&flags).unwrap_err().to_string();
            assert!(e.contains(field), "{text}: {e}");
        }
    }

    #[test]
    fn http_table_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vpbx.toml");
        let flags = Flags {
            config: path.clone(),
            ..Default::default()
        };
        std::fs::write(&path, "").unwrap();
        let s = Settings::load(&flags).unwrap();
        assert_eq!(s.http, HttpSettings::default());
        assert!(!s.http.tls);
        // The shipped file states the defaults.
        let shipped = Flags {
            config: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/config/vpbx.toml")),
            ..Default::default()
        };
        assert_eq!(
            Settings::load(&shipped).unwrap().http,
            HttpSettings::default()
        );
        std::fs::write(
            &path,
            "[http]\ntls = true\nworkers = 4\ncert = \"tls/c.pem\"\nkey = \"tls/k.pem\"\n\
             plain_http = \"off\"\nmonitoring_addr = \"127.0.0.1:9100\"\n",
        )
        .unwrap();
        let s = Settings::load(&flags).unwrap();
        assert!(s.http.tls);
        assert_eq!(s.http.workers, 4);
        assert_eq!(s.http.plain_http, PlainHttp::Off);
        assert_eq!(s.http.cert, Some(dir.path().join("tls/c.pem")));
        assert_eq!(
            s.http.monitoring_addr,
            Some("127.0.0.1:9100".parse().unwrap())
        );
        let off = Flags {
            tls: Some(false),
            ..flags.clone()
        };
        assert!(!Settings::load(&off).unwrap().http.tls);
        std::fs::write(&path, "[http]\ncert = \"c.pem\"\n").unwrap();
        let e = Settings::load(&flags).unwrap_err().to_string();
        assert!(e.contains("http.cert"), "{e}");
        std::fs::write(&path, "[http]\nworkers = 0\n").unwrap();
        let e = Settings::load(&flags).unwrap_err().to_string();
        assert!(e.contains("http.workers"), "{e}");
    }
}

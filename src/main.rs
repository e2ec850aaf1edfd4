//! `vpbx`: runs the switch (no subcommand), or works on a stopped switch's data directory:
//! `vpbx admin set-password`, `vpbx config export FILE`, `vpbx config import FILE`; or talks to
//! the running switch's admin API: `vpbx bans list`, `vpbx bans lift ADDRESS|--all`.

use clap::{Parser, Subcommand};
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;
use vpbx::settings::{Flags, Settings};
use vpbx_store::import::{
    parse_import, ImportOptions, ImportOutcome, ImportPlan, MAX_DOCUMENT_BYTES,
};
use vpbx_store::Store;

/// jemalloc instead of glibc's allocator (docs/decisions.md D74): on the shared ruler it costs
/// less CPU per call than glibc and mimalloc, and with its decay tuned (compiled in from
/// `.cargo/config.toml`: freed pages go back to the system after a second, purged by its own
/// background thread) it gives the memory of an overload back within a minute.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(
    name = "vpbx",
    version,
    about = "vpbx: virtual PBX and contact-center switch (no subcommand: run the switch)"
)]
struct Cli {
    #[command(flatten)]
    flags: Flags,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The admin account (works on the data directory; stop the switch first).
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The whole configuration as one YAML document (stop the switch first).
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// SIP sources the running switch has banned (flood, failed authentications): list and
    /// lift them through its admin API.
    Bans {
        #[command(subcommand)]
        command: BansCommand,
        #[command(flatten)]
        api: ApiArgs,
    },
}

/// How to reach the running switch's admin API.
#[derive(Debug, clap::Args)]
struct ApiArgs {
    /// The admin API's URL (default: the settings' http_addr, or https_addr with [http] tls).
    #[arg(long, env = "VPBX_API", global = true)]
    api: Option<String>,
    /// For an https:// API: the certificate to trust, PEM (default: the settings' [http] cert,
    /// else the one the switch generated, <data dir>/tls/cert.pem).
    #[arg(long, env = "VPBX_API_CACERT", global = true)]
    cacert: Option<PathBuf>,
    /// An API token (POST /api/v1/auth/token issues one); without it the admin password in
    /// VPBX_ADMIN_PASSWORD is used.
    #[arg(long, env = "VPBX_ADMIN_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// Print the API's JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum BansCommand {
    /// The sources banned now: address, reason, since, until, seconds left.
    List,
    /// Lifts the ban of ADDRESS (an IPv4 or IPv6 address), or every ban with --all; the
    /// source is answered again at once.
    Lift {
        /// The banned address.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        address: Option<String>,
        /// Lift every ban.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Sets the admin password (read from stdin unless --password is given); revokes every
    /// session and API token.
    SetPassword {
        /// The new password (visible in the process list: prefer stdin).
        #[arg(long)]
        password: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Writes the configuration to FILE (`-`: stdout).
    Export {
        /// Destination.
        file: PathBuf,
    },
    /// Validates FILE (a whole configuration) and makes it the configuration, all or nothing.
    /// Prints what changes; deleting entities needs --confirm-delete; the replaced
    /// configuration is kept in <data dir>/backups.
    Import {
        /// Source (`-`: stdin).
        file: PathBuf,
        /// Only validate and print the changes; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Allow the import to delete employees, numbers, scenarios and other entities.
        #[arg(long)]
        confirm_delete: bool,
    },
}

fn init_logs(settings: &Settings) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(settings.log_level.clone()));
    // Colour only on a terminal: a log file or journald gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    if settings.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Raises the soft open-file limit to the hard one: every SIP TCP connection, RTP socket and
/// HTTP client holds a descriptor, and the common soft default of 1,024 is easily exhausted. The
/// SIP edge derives its connection caps from the result.
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::info!(open_files = n, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
}

fn run_switch(settings: Settings, config: &Path) -> ExitCode {
    init_logs(&settings);
    if config.is_file() {
        tracing::info!(file = %config.display(), "settings loaded");
    } else {
        tracing::info!(
            file = %config.display(),
            "no settings file there: built-in defaults, environment and flags"
        );
    }
    raise_open_file_limit();
    let system = actix_rt::System::with_tokio_rt(vpbx::alloc::actor_runtime);
    let result = system.block_on(async move {
        let running = vpbx::app::start(&settings).await?;
        wait_for_signal().await;
        tracing::info!("signal received, shutting down");
        running.shutdown().await;
        Ok::<(), vpbx::app::StartError>(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vpbx: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Opens the data directory's store (a lock held by a running switch is explained by the
/// store's own error).
fn open_store(dir: &Path) -> Result<Store, String> {
    Store::open(dir).map_err(|e| match e {
        vpbx_store::StoreError::InUse(_) => e.to_string(),
        other => format!("opening the store in {}: {other}", dir.display()),
    })
}

fn set_password(settings: &Settings, password: Option<String>) -> Result<String, String> {
    let password = match password {
        Some(p) => p,
        None => {
            eprint!("New admin password: ");
            let _ = std::io::stderr().flush();
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| format!("reading the password from stdin: {e}"))?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let store = open_store(&settings.data_dir)?;
    vpbx::http::auth::set_admin_password(&store, &password).map_err(|e| e.to_string())?;
    Ok("admin password changed; every session and API token was revoked".into())
}

fn export(settings: &Settings, file: &Path) -> Result<String, String> {
    let store = open_store(&settings.data_dir)?;
    let cfg = store.snapshot().map_err(|e| e.to_string())?;
    let yaml = vpbx_store::render_document(&cfg).map_err(|e| e.to_string())?;
    if file == Path::new("-") {
        print!("{yaml}");
        return Ok(String::new());
    }
    std::fs::write(file, yaml).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(format!("configuration exported to {}", file.display()))
}

fn import(settings: &Settings, file: &Path, options: ImportOptions) -> Result<String, String> {
    let text = if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .take(MAX_DOCUMENT_BYTES as u64 + 1)
            .read_to_string(&mut text)
            .map_err(|e| format!("stdin: {e}"))?;
        text
    } else {
        let len = std::fs::metadata(file)
            .map_err(|e| format!("{}: {e}", file.display()))?
            .len();
        if len > MAX_DOCUMENT_BYTES as u64 {
            return Err(format!(
                "{}: {len} bytes, the limit is {MAX_DOCUMENT_BYTES}",
                file.display()
            ));
        }
        std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?
    };
    let cfg = parse_import(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let store = open_store(&settings.data_dir)?;
    let now_unix_ms = vpbx_actors::clock::Clock::unix_ms(&vpbx::clock::RealClock);
    let outcome = store
        .import(&cfg, options, now_unix_ms)
        .map_err(|e| e.to_string())?;
    let changes = |plan: &ImportPlan| serde_json::to_string_pretty(plan).unwrap_or_default() + "\n";
    match outcome {
        ImportOutcome::Applied { plan, backup } => {
            eprint!("{}", changes(&plan));
            Ok(match backup {
                Some(b) => format!(
                    "configuration imported from {}; the previous one is in {}",
                    file.display(),
                    b.display()
                ),
                None => format!("configuration imported from {}", file.display()),
            })
        }
        ImportOutcome::DryRun { plan } => {
            eprint!("{}", changes(&plan));
            Ok("dry run: the document is valid; nothing was written".into())
        }
        ImportOutcome::NeedsConfirmation { plan } => {
            eprint!("{}", changes(&plan));
            Err(format!(
                "this import deletes {}; nothing was written. Repeat with --confirm-delete to apply it",
                plan.deletion_summary()
            ))
        }
        ImportOutcome::Invalid { errors } => Err(format!(
            "the document is invalid; nothing was written:\n  {}",
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n  ")
        )),
    }
}

fn utc(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

fn ban_line(b: &serde_json::Value) -> String {
    format!(
        "{:<40} {:<14} {:<21} {:<21} {}",
        b["address"].as_str().unwrap_or("?"),
        b["reason"].as_str().unwrap_or("?"),
        utc(b["banned_at_unix_ms"].as_u64().unwrap_or(0)),
        utc(b["until_unix_ms"].as_u64().unwrap_or(0)),
        b["remaining_s"].as_u64().unwrap_or(0)
    )
}

fn bans(settings: &Settings, command: BansCommand, args: ApiArgs) -> Result<String, String> {
    use vpbx::admin_client::{AdminApi, Credentials};
    let url = args.api.clone().unwrap_or_else(|| {
        if settings.http.tls {
            vpbx::admin_client::base_url(settings.http.https_addr).replacen("http:", "https:", 1)
        } else {
            vpbx::admin_client::base_url(settings.http_addr)
        }
    });
    let cacert = args.cacert.clone().unwrap_or_else(|| {
        settings
            .http
            .cert
            .clone()
            .unwrap_or_else(|| vpbx::http::tls::generated_paths(&settings.data_dir).0)
    });
    let credentials = match (args.token, &settings.admin_password) {
        (Some(t), _) if !t.is_empty() => Credentials::Token(t),
        (_, Some(p)) => Credentials::Password(p.expose().to_string()),
        _ => {
            return Err(
                "no credentials for the admin API: give an API token with --token or VPBX_ADMIN_TOKEN (POST /api/v1/auth/token issues one), or the admin password in VPBX_ADMIN_PASSWORD"
                    .into(),
            )
        }
    };
    let api = AdminApi::connect(&url, Some(&cacert), credentials)?;
    let outcome = bans_with(&api, command, args.json);
    api.close();
    outcome
}

fn bans_with(
    api: &vpbx::admin_client::AdminApi,
    command: BansCommand,
    json: bool,
) -> Result<String, String> {
    let header = format!(
        "{:<40} {:<14} {:<21} {:<21} {}",
        "ADDRESS", "REASON", "SINCE (UTC)", "UNTIL (UTC)", "LEFT_S"
    );
    match command {
        BansCommand::List => {
            let a = api.request("GET", "/api/v1/sip/bans", None)?;
            if a.status != 200 {
                return Err(api.failure("listing the bans", a.status, &a.json));
            }
            let items = a.json["items"].as_array().cloned().unwrap_or_default();
            if json {
                println!("{}", a.json);
                return Ok(String::new());
            }
            if items.is_empty() {
                return Ok("no SIP source is banned".into());
            }
            println!("{header}");
            for b in &items {
                println!("{}", ban_line(b));
            }
            Ok(format!("{} banned", items.len()))
        }
        BansCommand::Lift { all: true, .. } => {
            let a = api.request("DELETE", "/api/v1/sip/bans", None)?;
            if a.status != 200 {
                return Err(api.failure("lifting the bans", a.status, &a.json));
            }
            if json {
                println!("{}", a.json);
                return Ok(String::new());
            }
            let items = a.json["items"].as_array().cloned().unwrap_or_default();
            for b in &items {
                println!("{}", ban_line(b));
            }
            Ok(format!("{} ban(s) lifted", items.len()))
        }
        BansCommand::Lift { address, .. } => {
            let address = address.unwrap_or_default();
            let encoded: String = address
                .chars()
                .map(|c| match c {
                    'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | ':' | '-' | '_' => c.to_string(),
                    c => format!("%{:02X}", c as u32 & 0xff),
                })
                .collect();
            let a = api.request("DELETE", &format!("/api/v1/sip/bans/{encoded}"), None)?;
            match a.status {
                200 if json => {
                    println!("{}", a.json);
                    Ok(String::new())
                }
                200 => Ok(format!(
                    "ban of {} lifted ({}, {} s were left)",
                    a.json["lifted"]["address"].as_str().unwrap_or(&address),
                    a.json["lifted"]["reason"].as_str().unwrap_or("?"),
                    a.json["lifted"]["remaining_s"].as_u64().unwrap_or(0)
                )),
                404 if a.json["error"] == "not_found" => Err(format!("{address} is not banned")),
                400 => Err(a.json["message"]
                    .as_str()
                    .unwrap_or("bad address")
                    .to_string()),
                s => Err(api.failure("lifting the ban", s, &a.json)),
            }
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(&cli.flags) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("vpbx: bad settings: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = match cli.command {
        None => return run_switch(settings, &cli.flags.config),
        Some(Command::Admin {
            command: AdminCommand::SetPassword { password },
        }) => set_password(&settings, password),
        Some(Command::Config {
            command: ConfigCommand::Export { file },
        }) => export(&settings, &file),
        Some(Command::Bans { command, api }) => bans(&settings, command, api),
        Some(Command::Config {
            command:
                ConfigCommand::Import {
                    file,
                    dry_run,
                    confirm_delete,
                },
        }) => import(
            &settings,
            &file,
            ImportOptions {
                dry_run,
                confirm_delete,
            },
        ),
    };
    match outcome {
        Ok(msg) => {
            if !msg.is_empty() {
                eprintln!("vpbx: {msg}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vpbx: {e}");
            ExitCode::FAILURE
        }
    }
}

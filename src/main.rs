//! `vpbx`: runs the switch (no subcommand), or works on a stopped switch's data directory:
//! `vpbx admin set-password`, `vpbx config export FILE`, `vpbx config import FILE`.

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
    let system = actix_rt::System::new();
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

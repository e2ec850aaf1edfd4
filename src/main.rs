//! `vpbx`: runs the switch.

use clap::Parser;
use tracing_subscriber::EnvFilter;
use vpbx::settings::{Flags, Settings};

fn init_logs(settings: &Settings) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(settings.log_level.clone()));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
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

fn main() -> std::process::ExitCode {
    let flags = Flags::parse();
    let settings = match Settings::load(&flags) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("vpbx: bad settings: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    init_logs(&settings);
    let system = actix_rt::System::new();
    let result = system.block_on(async move {
        let running = vpbx::app::start(&settings).await?;
        wait_for_signal().await;
        tracing::info!("signal received, shutting down");
        running.shutdown().await;
        Ok::<(), vpbx::app::StartError>(())
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vpbx: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

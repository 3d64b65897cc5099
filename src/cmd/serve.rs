//! `mist serve`: settings from the command line and the config file, bind, print where to
//! go, serve until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use mist::serve::config::{Account, Config, StreamConfig};
use mist::serve::{Bound, Server, Settings};

use super::UsageError;
use crate::cli::ServeArgs;

/// Runs the server.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = settings(&args)?;
    // Every viewer is a descriptor: take what the hard limit allows (as nginx's
    // worker_rlimit_nofile does), rather than the 1024 a shell usually starts with.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::debug!("open files limit: {n}"),
        Err(e) => tracing::warn!("cannot raise the open files limit: {e}"),
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let shutdown = shutdown_signal();
        let server = Server::bind(settings.clone()).await?;
        print_urls(server.bound(), &settings);
        server.run(shutdown).await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn settings(args: &ServeArgs) -> anyhow::Result<Settings> {
    let addr = |s: &str, what: &str| -> anyhow::Result<Option<SocketAddr>> {
        if s == "off" {
            return Ok(None);
        }
        s.parse::<SocketAddr>().map(Some).map_err(|_| {
            UsageError(format!("--{what} {s}: not an address like 127.0.0.1:8080")).into()
        })
    };
    let mut config = match &args.config {
        Some(p) if p.exists() => {
            let text = std::fs::read_to_string(p).with_context(|| p.display().to_string())?;
            Config::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
        }
        _ => Config::default(),
    };
    for s in &args.streams {
        let Some((name, source)) = s.split_once('=') else {
            return Err(UsageError(format!("--stream {s}: expected NAME=SOURCE")).into());
        };
        let Some(n) = mist::serve::names::StreamName::parse(name) else {
            return Err(UsageError(format!("--stream {s}: '{name}' is not a stream name")).into());
        };
        config.streams.insert(
            n.as_str().to_string(),
            StreamConfig {
                name: n.as_str().to_string(),
                source: source.to_string(),
                ..StreamConfig::default()
            },
        );
    }
    match &args.path {
        Some(p) if p.is_file() => {
            let file = p.file_name().and_then(|f| f.to_str()).unwrap_or("file");
            let n = mist::serve::names::StreamName::parse(file).ok_or_else(|| {
                UsageError(format!("{}: no stream name in this file name", p.display()))
            })?;
            config.streams.insert(
                n.as_str().to_string(),
                StreamConfig {
                    name: n.as_str().to_string(),
                    source: p.display().to_string(),
                    ..StreamConfig::default()
                },
            );
        }
        Some(p) if p.is_dir() => config.folder = Some(p.clone()),
        Some(p) => {
            return Err(UsageError(format!("{}: no such file or folder", p.display())).into())
        }
        None if config.folder.is_none() && args.config.is_none() => {
            config.folder = Some(PathBuf::from("."))
        }
        None => {}
    }
    if let Some(a) = &args.account {
        let (user, pass) = a
            .split_once(':')
            .filter(|(u, p)| !u.is_empty() && !p.is_empty())
            .ok_or_else(|| UsageError(format!("--account {a}: expected USER:PASSWORD")))?;
        config.account.insert(
            user.to_string(),
            Account {
                password: mist::serve::api::auth::md5_hex(pass.as_bytes()),
                ..Account::default()
            },
        );
    }
    if args.api_token.as_deref().is_some_and(str::is_empty) {
        return Err(UsageError("--api-token: the token is empty".into()).into());
    }
    Ok(Settings {
        http: addr(&args.http, "http")?,
        rtmp: addr(&args.rtmp, "rtmp")?,
        api: addr(&args.api, "api")?,
        dtsc: addr(&args.dtsc, "dtsc")?,
        config,
        config_path: args.config.clone(),
        api_token: args.api_token.clone(),
        access_log: args.access_log.clone(),
    })
}

/// A URL host for a bound address: the loopback address for "any".
fn host(a: SocketAddr) -> String {
    let ip = if a.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        a.ip().to_string()
    };
    if ip.contains(':') {
        format!("[{ip}]:{}", a.port())
    } else {
        format!("{ip}:{}", a.port())
    }
}

#[allow(clippy::print_stdout)]
fn print_urls(bound: Bound, settings: &Settings) {
    println!("mist serve: listening");
    if let Some(a) = bound.http {
        println!("  HTTP  http://{}/", host(a));
    }
    if let Some(a) = bound.rtmp {
        println!("  RTMP  rtmp://{}/live/STREAM", host(a));
    }
    if let Some(a) = bound.api {
        println!("  API   http://{}/api", host(a));
    }
    if let Some(a) = bound.dtsc {
        println!("  DTSC  dtsc://{}/STREAM", host(a));
    }
    if let (Some(a), Some(dir)) = (bound.http, &settings.config.folder) {
        let files = mist::serve::input::folder::list(dir);
        if !files.is_empty() {
            println!("Streams from {}:", display(dir));
        }
        for (name, _) in files.iter().take(50) {
            println!("  http://{}/{name}.flv", host(a));
        }
        if files.len() > 50 {
            println!("  ... and {} more at http://{}/", files.len() - 50, host(a));
        }
    }
    if let Some(a) = bound.rtmp {
        println!(
            "Publish: ffmpeg -re -i IN -c copy -f flv rtmp://{}/live/STREAM",
            host(a)
        );
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when this is called,
/// not when the future is first polled, so a signal that arrives right after the server
/// said where it listens stops it cleanly instead of killing it.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (int, term) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(int) => {}
                _ = wait(term) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

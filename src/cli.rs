//! Command line: `serve`, `translate`, `check-config`, `stub-gateway`, `healthcheck`
//! (DESIGN §2).

use crate::app::{self, ConfigSource, Overrides};
use crate::config::{Config, LogFormat};
use crate::translate::{self, Options, Route, StepsPolicy, envelope};
use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code for configuration errors (`EX_USAGE`… sysexits' `EX_CONFIG` is 78, but
/// DESIGN fixes 64).
pub const EXIT_CONFIG: u8 = 64;

/// Exit code after SIGTERM when the drain was incomplete: requests were still in flight
/// when `server.shutdown_grace` ended (they were answered "outcome unknown"). sysexits'
/// `EX_TEMPFAIL`.
pub const EXIT_DRAIN_INCOMPLETE: u8 = 75;

/// bk-job-shim: legacy BlueKing ESB JOB APIs on top of JOB v3 on the API gateway.
#[derive(Debug, Parser)]
#[command(name = "bk-job-shim", version, about)]
pub struct Args {
    /// Log format (overrides `log.format` and `BK_JOB_SHIM_LOG__FORMAT`).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy (built-in defaults when no config file is given).
    Serve {
        /// TOML configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// API listen address (default 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Admin listen address (default 127.0.0.1:9090).
        #[arg(long)]
        admin_listen: Option<SocketAddr>,
        /// Upstream gateway stage base URL, or `stub`.
        #[arg(long)]
        upstream: Option<String>,
    },
    /// Print the upstream request the shim would send for a legacy body (offline).
    Translate {
        /// Legacy path, e.g. /api/c/compapi/v2/job/execute_job/.
        #[arg(long)]
        path: String,
        /// What to do with `steps` (default: the config's `legacy.steps`, else reject).
        #[arg(long, value_enum)]
        steps: Option<StepsArg>,
        /// Configuration file to take `legacy.*` from.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Body file, or `-` / nothing for standard input.
        file: Option<PathBuf>,
    },
    /// Validate a configuration file: exit 0, or print every problem and exit 64.
    CheckConfig {
        /// TOML configuration file.
        file: PathBuf,
    },
    /// Run the built-in emulator of the bk-job v3 gateway.
    #[cfg(feature = "stub")]
    StubGateway {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: SocketAddr,
        /// Gateway stage base path; requests are accepted with and without it, so both
        /// `http://ADDR` and `http://ADDR/api/bk-job/prod` work as `upstream.url`.
        #[arg(long, default_value = "/api/bk-job/prod")]
        base_path: String,
        /// How long a started job runs before it finishes (e.g. `2s`, `0s`).
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        run_time: std::time::Duration,
    },
    /// Probe a running shim's admin `/readyz`: exit 0 when ready, 1 otherwise.
    Healthcheck {
        /// Admin base URL.
        #[arg(long, default_value = crate::healthcheck::DEFAULT_ADMIN)]
        admin: String,
        /// Deadline for the whole probe (e.g. `2s`).
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
}

/// `--steps` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StepsArg {
    /// Refuse non-empty steps.
    Reject,
    /// Drop them with a warning.
    Ignore,
}

/// Parse the command line and run it.
pub fn main() -> ExitCode {
    let args = Args::parse();
    match args.command {
        Command::Serve {
            config,
            listen,
            admin_listen,
            upstream,
        } => serve(
            ConfigSource {
                path: config,
                overrides: Overrides {
                    listen,
                    admin_listen,
                    upstream,
                },
            },
            args.log_format,
        ),
        Command::Translate {
            path,
            steps,
            config,
            file,
        } => translate_cmd(&path, steps, config, file),
        Command::CheckConfig { file } => check_config(&file),
        #[cfg(feature = "stub")]
        Command::StubGateway {
            listen,
            base_path,
            run_time,
        } => stub_gateway(
            listen,
            crate::stub::StubOptions {
                run_time,
                base_path,
            },
            args.log_format,
        ),
        Command::Healthcheck { admin, timeout } => crate::healthcheck::run(&admin, timeout),
    }
}

fn serve(source: ConfigSource, log_format: Option<LogFormat>) -> ExitCode {
    let config = match source.load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bk-job-shim: invalid configuration:\n{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let _log = crate::telemetry::init(log_format.unwrap_or(config.log.format), &config.log.filter);
    for w in config.warnings() {
        tracing::warn!("{w}");
    }
    // The API is served on cores of its own (`crate::cores`); this runtime, on the main
    // thread, runs the admin listener, signals and reloads.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bk-job-shim: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        // Handlers first: a signal sent as soon as the listeners answer must find them.
        let terminated = crate::shutdown::terminate();
        #[cfg(unix)]
        let hangups = crate::shutdown::hangups();
        let running = match app::start_with(config, source).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "cannot start");
                return ExitCode::FAILURE;
            }
        };
        let running = std::sync::Arc::new(tokio::sync::Mutex::new(Some(running)));
        #[cfg(unix)]
        if let Some(mut hup) = hangups {
            let r = running.clone();
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    tracing::info!("SIGHUP received: reloading configuration");
                    if let Some(running) = r.lock().await.as_ref() {
                        let _ = running.reload().await;
                    }
                }
            });
        }
        terminated.await;
        let taken = running.lock().await.take();
        match taken {
            // A drain cut short by the grace period says so in the exit status.
            Some(r) => {
                if r.shutdown().await {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(EXIT_DRAIN_INCOMPLETE)
                }
            }
            None => ExitCode::SUCCESS,
        }
    })
}

#[cfg(feature = "stub")]
fn stub_gateway(
    listen: SocketAddr,
    options: crate::stub::StubOptions,
    log_format: Option<LogFormat>,
) -> ExitCode {
    let _log = crate::telemetry::init(log_format.unwrap_or_default(), "info");
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bk-job-shim: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let terminated = crate::shutdown::terminate();
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("bk-job-shim: cannot listen on {listen}: {e}");
                return ExitCode::FAILURE;
            }
        };
        // The bound address, so `--listen 127.0.0.1:0` tells its caller where it is.
        let addr = listener.local_addr().map_or(listen, |a| a);
        tracing::info!(%addr, "stub bk-job gateway listening");
        let stub = std::sync::Arc::new(crate::stub::StubGateway::new(options));
        match crate::stub::serve(listener, stub, terminated).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bk-job-shim: stub gateway failed: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

fn check_config(file: &std::path::Path) -> ExitCode {
    let loaded = Config::load(Some(file), std::env::vars()).and_then(|c| {
        // The secret of `auth.mode = "app"` lives outside the file: check it too.
        crate::auth::AppIdentity::load(&c.auth, |k| std::env::var(k).ok())
            .map(|_| c)
            .map_err(|e| crate::config::ConfigErrors(vec![e]))
    });
    match loaded {
        Ok(c) => {
            for w in c.warnings() {
                eprintln!("{}: warning: {w}", file.display());
            }
            println!("{}: ok", file.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            for p in &e.0 {
                eprintln!("{}: {p}", file.display());
            }
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

/// The `translate` output for one legacy body: `Ok` is the upstream request, `Err` the
/// legacy error envelope.
pub fn describe(path: &str, body: &[u8], options: &Options) -> Result<Value, Value> {
    let err = |code, msg: String| envelope::error(code, &msg, "offline");
    let Some(route) = Route::from_path(path) else {
        return describe_call(path, body);
    };
    let map = translate::parse_body(body)
        .map_err(|e| err(translate::codes::ARGUMENT_ERROR, e.message()))?;
    let t = translate::translate_request(&route, map, options)
        .map_err(|e| err(translate::codes::ARGUMENT_ERROR, e.message()))?;
    Ok(describe_request(&t.request, &t.credentials))
}

/// The first upstream request of a legacy call translated by an exchange (or the error of
/// a call JOB v3 has no equivalent for).
fn describe_call(path: &str, body: &[u8]) -> Result<Value, Value> {
    use translate::calls::{self, CallOptions};
    use translate::exchange::Step;
    use translate::routes::LegacyRoute;
    let err = |code, msg: String| envelope::error(code, &msg, "offline");
    let call = match LegacyRoute::from_path(path) {
        Some(LegacyRoute::Call(c)) => c,
        Some(LegacyRoute::Unavailable(u)) => {
            return Err(err(calls::unavailable::CODE, u.message()));
        }
        None => {
            return Err(err(
                translate::codes::COMPONENT_NOT_FOUND,
                format!("component not found: {path}"),
            ));
        }
    };
    let mut map = translate::parse_body(body)
        .map_err(|e| err(translate::codes::ARGUMENT_ERROR, e.message()))?;
    let credentials = translate::Credentials::take_from(&mut map);
    let mut exchange = calls::exchange(call, map, &CallOptions::default())
        .map_err(|e| err(translate::codes::ARGUMENT_ERROR, e.message()))?;
    match exchange.start() {
        Step::Call(req) => Ok(describe_request(&req, &credentials)),
        other => Err(err(
            translate::codes::COMMON_ERROR,
            format!("no upstream request: {other:?}"),
        )),
    }
}

fn describe_request(
    req: &translate::UpstreamRequest,
    credentials: &translate::Credentials,
) -> Value {
    let query: serde_json::Map<String, Value> = req
        .query
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    json!({
        "method": req.method.as_str(),
        "path": req.path(),
        "query": query,
        "body": req.body,
        "authorization": credentials.redacted(),
        "warnings": req.warnings,
    })
}

fn translate_cmd(
    path: &str,
    steps: Option<StepsArg>,
    config: Option<PathBuf>,
    file: Option<PathBuf>,
) -> ExitCode {
    let mut options = Options::default();
    if let Some(c) = config {
        match Config::load(Some(&c), std::env::vars()) {
            Ok(c) => {
                options.steps = c.legacy.steps;
                options.routes = c.routes;
                options.calls.max_rows = c.paging.max_rows;
                options.calls.page_len = c.paging.page_length;
                if let Ok(tz) = c.legacy.tz() {
                    options.calls.tz = tz;
                }
            }
            Err(e) => {
                eprintln!("bk-job-shim: invalid configuration:\n{e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        }
    }
    if let Some(s) = steps {
        options.steps = match s {
            StepsArg::Reject => StepsPolicy::Reject,
            StepsArg::Ignore => StepsPolicy::Ignore,
        };
    }
    let mut body = Vec::new();
    let read = match file.as_deref() {
        None => std::io::stdin().read_to_end(&mut body).map(|_| ()),
        Some(p) if p.as_os_str() == "-" => std::io::stdin().read_to_end(&mut body).map(|_| ()),
        Some(p) => std::fs::read(p).map(|b| body = b),
    };
    if let Err(e) = read {
        eprintln!("bk-job-shim: cannot read the body: {e}");
        return ExitCode::FAILURE;
    }
    let (out, code) = match describe(path, &body, &options) {
        Ok(v) => (v, ExitCode::SUCCESS),
        Err(v) => (v, ExitCode::FAILURE),
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&out).unwrap_or_else(|_| out.to_string())
    );
    code
}

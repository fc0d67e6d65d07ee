//! The `headcount` command: serve, migrate, token, schema, seed, report.

// The schema's merged roots nest deep enough that computing the layout of
// their resolver futures overflows rustc's default query depth (128) in
// optimised builds.
#![recursion_limit = "256"]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use headcount::clock::{SharedClock, SystemClock};
use headcount::config::{
    Cli, Command, Limits, LogFormat, ReportCommandArgs, ServeArgs, TokenCommand, TokenCreateArgs,
};
use headcount::db::{Db, DbOptions};
use headcount::graphql::{parse_datetime, schema_sdl};
use headcount::http::{self, ServerConfig};
use headcount::jobs::ReportStore;
use headcount::service::api_tokens::NewApiToken;
use headcount::service::reports::{ReportSettings, Reports};
use headcount::service::{Principal, Scope, Services};
use tracing_subscriber::EnvFilter;

/// GraphQL responses are trees of many small allocations; mimalloc serves
/// them with less contention than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<()> {
    // mimalloc asks for transparent huge pages on its arenas: each touched
    // 2 MiB region then counts whole towards resident memory (about 20 MB
    // more under load, for no measurable speed). Off for this process,
    // before the runtime allocates anything.
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_THP_DISABLE only sets a per-process flag.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Schema => {
            print!("{}", schema_sdl());
            Ok(())
        }
        Command::Migrate => {
            connect(&cli.database_url).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Token(TokenCommand::Create(args)) => {
            let services = services(connect(&cli.database_url).await?).await?;
            create_token(&services, args).await
        }
        Command::Seed(args) => {
            let users = match (args.demo, args.users, args.changes) {
                (true, None, None) => Some(None),
                (false, Some(users), Some(changes)) => Some(Some(headcount::seed::GenerateSpec {
                    users,
                    changes,
                    realms: args.realms,
                    seed: args.seed,
                    days: args.days,
                })),
                (false, None, None)
                    if args.tokens.is_some()
                        || args.audit_events.is_some()
                        || args.requests.is_some()
                        || args.activity_days.is_some() =>
                {
                    None
                }
                _ => bail!(
                    "say what to seed: --demo, or --users N --changes M, and/or --tokens N, \
                     --audit-events N, --requests N, --activity-days D"
                ),
            };
            let db = connect(&cli.database_url).await?;
            let now = chrono::Utc::now();
            let mut summary = match users {
                Some(None) => vec![headcount::seed::demo(&db).await?],
                Some(Some(spec)) => vec![headcount::seed::generate(&db, &spec, now).await?],
                None => Vec::new(),
            };
            if let Some(tokens) = args.tokens {
                let spec = headcount::seed::TokenSpec {
                    tokens,
                    seed: args.seed,
                    days: args.days,
                };
                summary.push(headcount::seed::generate_tokens(&db, &spec, now).await?);
            }
            if args.audit_events.is_some() || args.requests.is_some() {
                let spec = headcount::seed::LogSpec {
                    audit_events: args.audit_events.unwrap_or(0),
                    requests: args.requests.unwrap_or(0),
                    seed: args.seed,
                    days: args.days,
                };
                summary.push(headcount::seed::generate_logs(&db, &spec, now).await?);
            }
            if let Some(days) = args.activity_days {
                let spec = headcount::seed::ActivitySpec {
                    days,
                    seed: args.seed,
                };
                summary.push(headcount::seed::generate_activity(&db, &spec, now).await?);
            }
            println!("{}", summary.join("\n"));
            Ok(())
        }
        Command::Serve(args) => serve(&cli.database_url, args).await,
        Command::Report(args) => report(&cli.database_url, args).await,
    }
}

/// `headcount report`: one worker in this process runs the job, writing
/// the output as it goes (or a replica's worker does, and the file is
/// copied out of the report store).
async fn report(database_url: &str, args: ReportCommandArgs) -> Result<()> {
    purge_freed_memory_soon();
    let services = services(connect(database_url).await?).await?;
    let store = report_store(args.report_store.as_deref(), &args.data_dir)?;
    let schema = headcount::graphql::build_schema(services.clone(), &Limits::default());
    let job = headcount::jobs::cli::run(&services, &schema, &store, &args).await?;
    if args.output != Path::new("-") {
        eprintln!(
            "wrote {} ({} rows, {} bytes)",
            args.output.display(),
            job.row_count.unwrap_or(0),
            job.byte_size.unwrap_or(0)
        );
    }
    Ok(())
}

/// A report streams its rows through memory it frees batch by batch, from
/// threads other than the ones that allocated it. mimalloc 3 keeps freed
/// pages for a second (`purge_delay`, 1000 ms) before returning them to the
/// system, by which time the next batches have taken new ones: a million
/// changes as JSON peaked at 110-120 MB resident. Returned after 10 ms
/// (mimalloc 2's default), the same report peaks at about 55-80 MB in the
/// same time; at once (0 ms), the system time of returning them grows by
/// half (docs/BENCHMARKS.md, "Report export").
fn purge_freed_memory_soon() {
    // MIMALLOC_PURGE_DELAY, when set, is left to decide.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // `mi_option_purge_delay` in mimalloc.h (v2 and v3), which the bindings
    // do not name.
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: sets one of mimalloc's options, which it reads on each purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10) };
}

/// The report store `--report-store` names, else `DATA_DIR/reports`: the
/// same for `serve` and `report`, so both find each other's files.
fn report_store(location: Option<&str>, data_dir: &Path) -> Result<ReportStore> {
    match location {
        Some(location) => ReportStore::at(location, &[]),
        None => ReportStore::local(&data_dir.join("reports")),
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    // Logs go to stderr: stdout carries what commands print (SDL, secrets).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

/// Connects and applies migrations (with no limit on how long a statement
/// may run: a migration may take long on a large database).
async fn connect(url: &str) -> Result<Db> {
    let db = Db::connect(url, DbOptions::default())
        .await
        .with_context(|| format!("cannot connect to the database at {url}"))?;
    db.migrate().await.context("migrations failed")?;
    Ok(db)
}

async fn services(db: Db) -> Result<Services> {
    let clock: SharedClock = Arc::new(SystemClock);
    Ok(Services::new(db, clock).await?)
}

async fn create_token(services: &Services, args: TokenCreateArgs) -> Result<()> {
    let scopes = args
        .scopes
        .iter()
        .map(|s| s.parse::<Scope>().map_err(anyhow::Error::msg))
        .collect::<Result<Vec<_>>>()?;
    let expires_at = args
        .expires
        .as_deref()
        .map(|s| parse_datetime(s).with_context(|| format!("--expires: '{s}' is not RFC 3339")))
        .transpose()?;
    let new = NewApiToken {
        name: args.name,
        scopes,
        realms: (!args.realms.is_empty()).then_some(args.realms),
        expires_at,
    };
    let (token, secret) = services
        .api_tokens
        .create(&Principal::system(), new)
        .await?;
    println!(
        "created API token {} ({}); its secret, shown once:",
        token.id, token.name
    );
    println!("{secret}");
    Ok(())
}

async fn serve(database_url: &str, args: ServeArgs) -> Result<()> {
    let db = connect(database_url).await?;
    if args.demo {
        let realms = entity_count_realms(&db).await?;
        if realms == 0 {
            tracing::info!("seeding demo data");
            tracing::info!("{}", headcount::seed::demo(&db).await?);
        }
    }
    // Served statements stop at the request timeout: a pool of its own,
    // the one above (migrations, demo data) had no limit.
    db.conn().close_by_ref().await?;
    let options = DbOptions {
        statement_timeout: Some(Duration::from_secs(args.limits.request_timeout_secs)),
    };
    let db = Db::connect(database_url, options)
        .await
        .with_context(|| format!("cannot connect to the database at {database_url}"))?;
    let mut services = services(db).await?;
    let reports = &args.reports;
    services.reports = Reports::new(
        services.db.clone(),
        services.clock.clone(),
        ReportSettings {
            max_unfinished: reports.report_max_unfinished,
            retention: chrono::Duration::days(reports.report_retention_days.into()),
            lease: chrono::Duration::seconds(reports.report_lease_secs.into()),
            public_url: reports
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", args.listen)),
        },
    );
    let report_store = report_store(reports.report_store.as_deref(), &args.data_dir)?;
    if let Some((_, secret)) = services.api_tokens.bootstrap().await? {
        announce_bootstrap_token(&secret, &args.data_dir, &args.listen.to_string())?;
    }
    let config = ServerConfig {
        request_log: (&args.request_log).into(),
        cors_origins: args.cors_origins,
        trusted_proxies: args.trusted_proxies,
        limits: args.limits,
        report_workers: reports.report_workers,
        report_store: Some(report_store),
        report_reading: Default::default(),
    };
    if let Some(addr) = args.metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} for metrics"))?;
        let router = http::metrics_router(services.clone());
        tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, router).await {
                tracing::error!(error = %err, "the metrics listener stopped");
            }
        });
        tracing::info!("serving metrics on {addr}/metrics");
    }
    let app = http::app(services, &config);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(
        "serving GraphQL on http://{}/graphql",
        listener.local_addr()?
    );
    http::serve(listener, app, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn entity_count_realms(db: &Db) -> Result<u64> {
    use sea_orm::{EntityTrait, PaginatorTrait};
    Ok(entity::realm::Entity::find().count(db.conn()).await?)
}

/// The ADMIN token issued on a database without API tokens: printed once
/// and written to a file only its owner can read.
fn announce_bootstrap_token(secret: &str, data_dir: &Path, listen: &str) -> Result<()> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let path = data_dir.join("bootstrap-token");
    write_private(&path, secret)?;
    println!();
    println!(
        "Created a bootstrap ADMIN API token (also in {}):",
        path.display()
    );
    println!("  {secret}");
    println!("Open http://{listen}/graphql and set the header:");
    println!("  {{\"Authorization\": \"Bearer {secret}\"}}");
    println!();
    Ok(())
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        // An existing file keeps its mode on open: tighten it explicitly.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    writeln!(file, "{contents}")?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

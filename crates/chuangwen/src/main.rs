//! The `chuangwen` command: serve, migrate, demo, user, backup, check-config.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use chuangwen::app;
use chuangwen::auth::audit::{AuditAction, NewAuditEntry};
use chuangwen::auth::crypto::{Cipher, PiCrypto, normalize, valid_mobile};
use chuangwen::auth::password;
use chuangwen::config::{Config, process_env};
use chuangwen::demo;
use chuangwen::domain::coords::Crs;
use chuangwen::domain::org::Role;
use chuangwen::places::import::{FileFormat, PlaceKind};
use chuangwen::progress::TerminalBar;
use chuangwen::store::Store;
use chuangwen::store::users::NewUser;

/// jemalloc, for the whole process (SQLite's allocations included): glibc's
/// per-thread arenas kept what the benchmarks freed, and `bench all` rose
/// past its memory ceiling (docs/PERFORMANCE.md, peak memory).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// 创文通 Chuangwen —— 全国文明城区创建工作平台 / the campaign platform of a National Civilized Urban District.
///
/// 配置：chuangwen.toml 与 CHUANGWEN_* 环境变量（环境变量优先）。
/// Configuration: chuangwen.toml and CHUANGWEN_* environment variables (the environment wins).
#[derive(Parser)]
#[command(name = "chuangwen", version, max_term_width = 100)]
struct Cli {
    /// 配置文件路径 / path of the TOML configuration file [默认 default: ./chuangwen.toml, 若存在 if present]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// 启动网页服务 / start the web server (migrates the database first)
    Serve(ServeArgs),
    /// 升级数据库结构 / apply database migrations
    Migrate,
    /// 创建或刷新演示区 / create or refresh the demo district
    Demo(DemoArgs),
    /// 区的管理 / manage districts
    #[command(subcommand)]
    District(DistrictCommand),
    /// 用户管理 / manage users
    #[command(subcommand)]
    User(UserCommand),
    /// 导入、导出组织架构、网格、点位、门前三包商户 / import and export units, grid cells, points, shop fronts
    #[command(subcommand)]
    Places(PlacesCommand),
    /// 审计日志 / the audit trail
    #[command(subcommand)]
    Audit(AuditCommand),
    /// 个人信息密钥 / personal-information keys
    #[command(subcommand)]
    Pi(PiCommand),
    /// 在服务运行时备份数据库到文件 / write a consistent backup while the server runs
    Backup {
        /// 备份文件（不得已存在）/ the backup file (must not exist)
        file: PathBuf,
    },
    /// 检查配置、数据库连接与文件目录 / check the configuration, the database and the file store
    CheckConfig,
    /// 性能基准 / benchmarks, each figure beside its ceiling (docs/PERFORMANCE.md)
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Open311 接入方及其 api_key / the clients of the Open311 endpoint and their api_keys
    #[command(subcommand)]
    Apikey(ApikeyCommand),
}

#[derive(Subcommand)]
enum ApikeyCommand {
    /// 新建接入方，只在标准输出打印其 api_key（仅此一次）/ add a client; prints its api_key on stdout, once, and nothing else
    Create {
        /// 接入方名称，如“12345 热线” / what the client is, e.g. "12345 热线"
        #[arg(long)]
        name: String,
        /// 限定为某单位（编码）及其下级的案卷；不填为全区 / limit it to a unit's cases (unit code); district-wide without
        #[arg(long)]
        unit: Option<String>,
        /// 区划代码（库中只有一个区时可省略）/ district code (optional when there is one district)
        #[arg(long)]
        district: Option<String>,
    },
    /// 列出接入方（不显示密钥）/ list the clients (never their keys)
    List {
        /// 区划代码 / district code
        #[arg(long)]
        district: Option<String>,
    },
    /// 吊销接入方的 api_key / revoke a client's api_key
    Revoke {
        /// 接入方编号（见 list）/ the client's id (see list)
        id: i64,
        /// 区划代码 / district code
        #[arg(long)]
        district: Option<String>,
    },
}

/// The district every benchmark measures on.
#[derive(Args)]
struct BenchDistrict {
    /// 演示区的案卷数 / cases in the demo district
    #[arg(long, default_value_t = 20_000)]
    cases: u64,
    /// 基准专用数据库（默认 data_dir/bench/pages-<cases>.db，可复用）/ the benchmark's own database (reused when present)
    #[arg(long)]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// 每个页面的服务端耗时（演示区，近一年案卷）/ server time of every page with the one-year demo district
    Pages {
        #[command(flatten)]
        district: BenchDistrict,
        /// 每个页面测量次数（p99 取最近秩：少于 100 次即最慢一次）/ requests per page (the p99 is the nearest rank: of fewer than 100, the slowest)
        #[arg(long, default_value_t = 30)]
        rounds: usize,
    },
    /// 案卷列表（街道、状态、分类、近 30 天、关键词）首页与深页的耗时 / the case list with its typical filters, first page and far down
    Cases {
        #[command(flatten)]
        district: BenchDistrict,
        /// 每个页面测量次数（p99 取最近秩：少于 100 次即最慢一次）/ requests per page (the p99 is the nearest rank: of fewer than 100, the slowest)
        #[arg(long, default_value_t = chuangwen::bench::CASE_LIST_ROUNDS)]
        rounds: usize,
    },
    /// 统计大屏与排名的耗时，及同库直接重算的耗时 / the dashboard's figures and the rankings, beside a direct recount
    Stats {
        #[command(flatten)]
        district: BenchDistrict,
        /// 每项测量次数（p99 取最近秩：少于 100 次即最慢一次）/ measurements of each figure set (the p99 is the nearest rank: of fewer than 100, the slowest)
        #[arg(long, default_value_t = chuangwen::bench::STATS_ROUNDS)]
        rounds: usize,
        /// 直接重算的测量次数 / measurements of the direct recount
        #[arg(long, default_value_t = 3)]
        recount_rounds: usize,
    },
    /// 各单位每日督察单与周报的生成耗时 / every unit's daily inspection sheet, and the weekly report
    Sheets {
        #[command(flatten)]
        district: BenchDistrict,
        /// 测量次数 / measurements
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// 批量导入一份问题清单的耗时（读取、检查、查重、立案）及撤销 / taking in a spreadsheet of findings, and undoing it
    Intake {
        #[command(flatten)]
        district: BenchDistrict,
        /// 清单行数 / rows in the spreadsheet
        #[arg(long, default_value_t = 10_000)]
        rows: usize,
        /// 测量次数 / measurements
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// 持久上报：64 个客户端经 HTTP 同时上报（提交落盘后才应答），及磁盘刷写率、同库批量直写与逐条提交 / durable intake over HTTP, beside the disk's flush rate, batched inserts and one commit per report
    Reports {
        #[command(flatten)]
        district: BenchDistrict,
        /// 同时上报的客户端数 / concurrent clients
        #[arg(long, default_value_t = 64)]
        clients: usize,
        /// 每个客户端的上报数 / reports per client
        #[arg(long, default_value_t = 100)]
        reports: usize,
    },
    /// 在同一进程、同一数据库上依次运行以上全部基准，并报告内存峰值 / every benchmark above in one process on one database, with the peak memory
    All {
        #[command(flatten)]
        district: BenchDistrict,
        /// 统计的直接重算测量次数（0 为不测）/ measurements of the statistics' direct recount (0: none)
        #[arg(long, default_value_t = 1)]
        recount_rounds: usize,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// 数据库中还没有任何区时，先创建演示区 / create the demo district first when the database holds no district
    #[arg(long)]
    demo: bool,
    /// 演示区的随机种子 / seed of the demo district
    #[arg(long, default_value_t = 2026)]
    seed: u64,
}

#[derive(Args)]
struct DemoArgs {
    /// 随机种子：同一种子生成同一个区 / seed: the same seed makes the same district
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// 所有演示用户共用的密码（默认每个角色随机生成）/ one password for every demo user (default: random per role)
    #[arg(long)]
    password: Option<String>,
    /// 生成近一年的案卷数量（可达千万级）/ cases over the last year (scales to ten million)
    #[arg(long, default_value_t = 20_000)]
    cases: u64,
}

#[derive(Subcommand)]
enum UserCommand {
    /// 新建用户，首次登录须修改密码 / add a user, who must change the password at first login
    Add(UserAddArgs),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// 校验审计日志哈希链，指出第一条被改动、删除或调换的记录 / verify the hash chain; name the first bad entry
    Verify,
}

#[derive(Subcommand)]
enum PiCommand {
    /// 生成一个新密钥（用于配置或轮换）/ print a new key for configuration or rotation
    NewKey {
        /// 密钥编号 / key id
        #[arg(long, default_value = "k2")]
        id: String,
    },
    /// 用当前密钥重新加密所有个人信息 / re-encrypt all personal information under the current key
    Rotate,
}

#[derive(Subcommand)]
enum DistrictCommand {
    /// 新建一个区；随后用 `places import --kind units` 导入街道、社区和部门 / add a district, then import its units
    Add {
        /// 6 位县级行政区划代码（GB/T 2260）/ 6-digit county code
        #[arg(long)]
        code: String,
        /// 区名 / name
        #[arg(long)]
        name: String,
        /// 地图中心 经度,纬度（WGS-84）/ map centre lon,lat
        #[arg(long, value_name = "LON,LAT")]
        center: String,
    },
}

#[derive(Subcommand)]
enum PlacesCommand {
    /// 从 GeoJSON 或 xlsx 导入；有错误行时不导入任何数据 / import; a file with a bad row imports nothing
    Import(PlacesImportArgs),
    /// 导出为 GeoJSON 或 xlsx / export as GeoJSON or xlsx
    Export(PlacesExportArgs),
}

#[derive(Args)]
struct PlacesImportArgs {
    /// 导入内容 / what the file holds: units | grids | points | shop_fronts
    #[arg(long)]
    kind: String,
    /// 文件的坐标系 / coordinate system of the file: wgs84 | gcj02 | bd09
    #[arg(long, default_value = "wgs84")]
    crs: String,
    /// 跳过错误行，只导入无误的行 / import the good rows, skipping bad ones
    #[arg(long)]
    skip_bad_rows: bool,
    /// 区划代码（只有一个区时可省略）/ district code (optional when there is one district)
    #[arg(long)]
    district: Option<String>,
    /// GeoJSON 或 xlsx 文件 / the GeoJSON or xlsx file
    file: PathBuf,
}

#[derive(Args)]
struct PlacesExportArgs {
    /// 导出内容 / what to export: units | grids | points | shop_fronts
    #[arg(long)]
    kind: String,
    /// 区划代码（只有一个区时可省略）/ district code (optional when there is one district)
    #[arg(long)]
    district: Option<String>,
    /// 输出文件，扩展名 .geojson 或 .xlsx 决定格式 / output file; .geojson or .xlsx picks the format
    file: PathBuf,
}

#[derive(Args)]
struct UserAddArgs {
    /// 登录用户名 / login name
    #[arg(long)]
    username: String,
    /// 姓名 / display name
    #[arg(long)]
    name: String,
    /// 所属单位编码 / code of the user's unit
    #[arg(long)]
    unit: String,
    /// 角色，可多次指定 / role, repeatable: admin office inspector supervisor handler unit_lead leader evaluator volunteer
    #[arg(long = "role", required = true)]
    roles: Vec<String>,
    /// 所属区的区划代码（只有一个区时可省略）/ district code (optional when there is one district)
    #[arg(long)]
    district: Option<String>,
    /// 初始密码（默认随机生成并显示一次）/ initial password (default: generated and shown once)
    #[arg(long)]
    password: Option<String>,
    /// 手机号（加密存储）/ mobile number (stored encrypted)
    #[arg(long)]
    phone: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config_file = cli.config.clone();
    let config = match Config::load(config_file.as_deref(), &process_env()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("错误 / error: {err}");
            return ExitCode::from(2);
        }
    };
    chuangwen::telemetry::init_logging(&config);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("错误 / error: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config, config_file)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("错误 / error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `config_file` is the `--config` given, for a benchmark that runs the
/// generator as a process of its own.
async fn run(command: Command, config: Config, config_file: Option<PathBuf>) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => {
            let opened = app::open(&config).await?;
            let store = opened.store.clone();
            if args.demo && store.districts().await?.is_empty() {
                create_demo(&store, args.seed, None, 20_000).await?;
            }
            if store.districts().await?.is_empty() {
                eprintln!(
                    "提示 / note: 数据库中还没有区。运行 `chuangwen demo` 创建演示区。/ No district yet: run `chuangwen demo`."
                );
            }
            app::serve(config, opened).await
        }
        Command::Migrate => {
            let store = app::open(&config).await?.store;
            println!("数据库已是最新结构 / migrations applied ({})", store.backend());
            Ok(())
        }
        Command::Demo(args) => {
            let store = app::open(&config).await?.store;
            create_demo(&store, args.seed, args.password.as_deref(), args.cases).await
        }
        Command::District(DistrictCommand::Add { code, name, center }) => {
            let store = app::open(&config).await?.store;
            add_district(&store, &code, &name, &center).await
        }
        Command::Apikey(command) => {
            let store = app::open(&config).await?.store;
            apikey(&store, command).await
        }
        Command::User(UserCommand::Add(args)) => {
            let opened = app::open(&config).await?;
            add_user(&opened, args).await
        }
        Command::Audit(AuditCommand::Verify) => {
            let store = app::open(&config).await?.store;
            match store.verify_audit().await? {
                Ok(n) => {
                    println!("审计日志完整 / audit trail intact: {n} 条记录 entries");
                    Ok(())
                }
                Err(broken) => bail!("审计日志被篡改 / audit trail broken at entry {}: {}", broken.id, broken.reason),
            }
        }
        Command::Pi(PiCommand::NewKey { id }) => {
            // The id is written before a colon in `ID:KEY`: letters, digits, - and _ only.
            if id.is_empty() || id.len() > 32 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                bail!(
                    "密钥编号只能由字母、数字、- 和 _ 组成（不超过 32 个），实际为“{id}” / key id: letters, digits, - and _"
                );
            }
            let cipher = if config.security.pi_cipher == "sm4-gcm" { Cipher::Sm4Gcm } else { Cipher::Aes256Gcm };
            // The one place a key is printed: on request, for the operator to store.
            println!("{}", PiCrypto::generate_key(cipher, &id));
            Ok(())
        }
        Command::Pi(PiCommand::Rotate) => {
            let opened = app::open(&config).await?;
            let crypto = opened.crypto.clone();
            let failures = std::sync::atomic::AtomicUsize::new(0);
            let changed = opened
                .store
                .reencrypt_phones(|old| {
                    if !crypto.needs_rotation(old) {
                        return None;
                    }
                    match crypto.decrypt(old) {
                        Ok(plain) => Some(crypto.encrypt(&plain)),
                        Err(_) => {
                            failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            None
                        }
                    }
                })
                .await?;
            let failed = failures.into_inner();
            if failed > 0 {
                bail!("{failed} 条个人信息无法解密（缺少旧密钥？），其余 {changed} 条已重新加密");
            }
            println!("已用当前密钥重新加密 {changed} 条个人信息 / re-encrypted {changed} values");
            Ok(())
        }
        Command::Places(PlacesCommand::Import(args)) => {
            let store = app::open(&config).await?.store;
            import_places(&store, args).await
        }
        Command::Places(PlacesCommand::Export(args)) => {
            let store = app::open(&config).await?.store;
            export_places(&store, args).await
        }
        Command::Backup { file } => {
            let bar = TerminalBar::new("备份 / backup");
            let done = chuangwen::backup::backup(&config, &file, &bar).await?;
            bar.finish();
            if done.integrity != "ok" {
                bail!("备份已写入，但完整性检查未通过 / integrity check failed: {}", done.integrity);
            }
            println!(
                "备份完成 / backup written: {} ({} KB)，完整性检查 / integrity: ok",
                file.display(),
                done.bytes / 1024
            );
            Ok(())
        }
        Command::CheckConfig => check_config(&config).await,
        Command::Bench(command) => bench(config, config_file, command).await,
    }
}

async fn create_demo(store: &Store, seed: u64, password: Option<&str>, cases: u64) -> anyhow::Result<()> {
    let bar = TerminalBar::new("生成演示区 / demo");
    let created = demo::create(store, seed, password, cases, &bar).await?;
    bar.finish();
    println!(
        "演示区已就绪 / demo district ready: {}（{}），种子 seed {seed}",
        created.district.name, created.district.code
    );
    println!("演示账号（密码只显示这一次）/ demo accounts (passwords are shown only now):");
    println!("  {}{}{}密码 password", pad("角色 role", 18), pad("人数 users", 12), pad("示例用户名 example", 22));
    for (role, (example, pw)) in &created.passwords {
        let n = created.users_per_role.get(role).copied().unwrap_or(0).to_string();
        println!("  {}{}{}{pw}", pad(role.label(), 18), pad(&n, 12), pad(example, 22));
    }
    Ok(())
}

/// The benchmarks' database: `url`, or a SQLite file under data_dir/bench
/// kept between runs; the demo district is made with `cases` cases when it
/// has fewer (benchmarks that file reports leave them: a few thousand more
/// do not call for making millions again). Returns the cases it holds.
///
/// The district is made by `chuangwen demo` run as a process of its own, as
/// a district office would make it: the memory the generator holds is not
/// the server's, so the peak this process prints is the server's alone.
async fn bench_state(
    mut config: Config,
    config_file: Option<&std::path::Path>,
    district: BenchDistrict,
) -> anyhow::Result<(app::AppState, i64)> {
    let BenchDistrict { cases, database_url } = district;
    let url = match database_url {
        Some(url) => url,
        None => {
            let dir = config.data_dir.join("bench");
            std::fs::create_dir_all(&dir)?;
            format!("sqlite://{}", dir.join(format!("pages-{cases}.db")).display())
        }
    };
    config.database_url = chuangwen::config::DatabaseUrl::parse(&url)?;
    config.log = "warn".into();
    let mut opened = app::open(&config).await?;
    let demo = opened.store.districts().await?.into_iter().find(|d| d.is_demo);
    let have = match &demo {
        Some(d) => {
            let all = chuangwen::store::cases::CaseFilter::default();
            opened.store.count_cases(d.id, &chuangwen::auth::policy::Scope::District, None, &all, i64::MAX).await?
        }
        None => -1,
    };
    let have = if have < cases as i64 {
        drop(opened);
        generate_bench_district(&config, config_file, &url, cases).await?;
        opened = app::open(&config).await?;
        cases as i64
    } else {
        have
    };
    Ok((app::AppState::new(opened.store, opened.files, opened.crypto, config), have))
}

/// Runs `chuangwen demo --cases <cases>` into `url`, this program as a child
/// process with the same configuration, and waits for it.
async fn generate_bench_district(
    config: &Config,
    config_file: Option<&std::path::Path>,
    url: &str,
    cases: u64,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut generator = tokio::process::Command::new(std::env::current_exe()?);
    if let Some(file) = config_file {
        generator.arg("--config").arg(file);
    }
    let status = generator
        .args(["demo", "--seed", "2026", "--password", "Bench-Pass-2026", "--cases", &cases.to_string()])
        .env("CHUANGWEN_DATABASE_URL", url)
        .env("CHUANGWEN_DATA_DIR", &config.data_dir)
        .env("CHUANGWEN_LOG", "warn")
        .status()
        .await?;
    anyhow::ensure!(status.success(), "生成演示区失败 / making the demo district failed ({status})");
    println!(
        "demo district of {cases} cases made by `chuangwen demo` in a process of its own in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs a benchmark, then prints the process's peak memory beside its ceiling.
async fn bench(config: Config, config_file: Option<PathBuf>, command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Pages { district, rounds } => {
            let (state, cases) = bench_state(config, config_file.as_deref(), district).await?;
            bench_pages(&state, cases, rounds).await?;
        }
        BenchCommand::Cases { district, rounds } => {
            let (state, cases) = bench_state(config, config_file.as_deref(), district).await?;
            bench_cases(&state, cases, rounds).await?;
        }
        BenchCommand::Stats { district, rounds, recount_rounds } => {
            let (state, cases) = bench_state(config, config_file.as_deref(), district).await?;
            bench_stats(&state, cases, rounds, recount_rounds).await?;
        }
        BenchCommand::Sheets { district, rounds } => {
            let (state, cases) = bench_state(config, config_file.as_deref(), district).await?;
            bench_sheets(&state, cases, rounds).await?;
        }
        BenchCommand::Intake { district, rows, rounds } => {
            let (state, cases) = bench_state(config, config_file.as_deref(), district).await?;
            bench_intake(&state, cases, rows, rounds).await?;
        }
        BenchCommand::Reports { district, clients, reports } => {
            let (state, cases) = bench_state(config, config_file.as_deref(), district).await?;
            bench_reports(&state, cases, clients, reports).await?;
        }
        BenchCommand::All { district, recount_rounds } => {
            let (state, cases) = bench_state(config, config_file.as_deref(), district).await?;
            // Each benchmark's own peak, then the highest of them: the
            // process's peak is reset before each where Linux allows; where
            // it does not, each figure is the peak so far, and says so.
            let mut peaks: Vec<(&str, Option<u64>)> = vec![("set-up", chuangwen::bench::peak_memory())];
            let mut each_alone = chuangwen::bench::reset_peak_memory();
            let mut measure = |name: &'static str| {
                println!();
                peaks.push((name, chuangwen::bench::peak_memory()));
                each_alone &= chuangwen::bench::reset_peak_memory();
            };
            bench_reports(&state, cases, 64, 100).await?;
            measure("reports");
            bench_cases(&state, cases, chuangwen::bench::CASE_LIST_ROUNDS).await?;
            measure("cases");
            bench_stats(&state, cases, chuangwen::bench::STATS_ROUNDS, recount_rounds).await?;
            measure("stats");
            bench_sheets(&state, cases, 5).await?;
            measure("sheets");
            bench_intake(&state, cases, 10_000, 5).await?;
            measure("intake");
            let each: Vec<String> = peaks
                .iter()
                .map(|(name, peak)| match peak {
                    Some(bytes) => format!("{name} {:.0} MB", *bytes as f64 / 1e6),
                    None => format!("{name} not known"),
                })
                .collect();
            let of = if each_alone { "each benchmark" } else { "the run so far, after each benchmark" };
            println!("peak memory of {of}: {}", each.join(", "));
            print_peak_memory(peaks.iter().filter_map(|(_, peak)| *peak).max());
            return Ok(());
        }
    }
    print_peak_memory(chuangwen::bench::peak_memory());
    Ok(())
}

/// Prints the process's peak memory beside its ceiling.
fn print_peak_memory(peak: Option<u64>) {
    match peak {
        Some(bytes) => println!(
            "peak memory of this process (server and benchmark): {:.0} MB against the {} MB ceiling: {:.2} of it",
            bytes as f64 / 1e6,
            MEMORY_CEILING_MB,
            bytes as f64 / 1e6 / MEMORY_CEILING_MB as f64
        ),
        None => println!("peak memory: not known on this system"),
    }
}

/// The server's memory ceiling while serving ten million cases (issue W1-G).
const MEMORY_CEILING_MB: u64 = 250;

async fn bench_reports(state: &app::AppState, cases: i64, clients: usize, reports: usize) -> anyhow::Result<()> {
    use chuangwen::bench::REPORT_P99_CEILING;
    println!(
        "bench reports: {clients} clients × {reports} reports over HTTP into a district of {cases} cases ({}), each answered after its commit",
        state.store.backend()
    );
    let t = chuangwen::bench::reports(state.clone(), clients, reports).await?;
    let rate = |r: f64| format!("{r:.0} /s");
    println!("{}reports per second", pad("what", 62));
    println!("{}{}", pad("ceiling: the disk's flushes (4 KiB + fdatasync)", 62), rate(t.fsync_per_s));
    println!(
        "{}{}",
        pad(&format!("ceiling: the same rows straight into the store, {} per commit", t.batch), 62),
        rate(t.batched_per_s)
    );
    println!(
        "{}{}",
        pad(&format!("one commit per report, straight into the store, {} callers", t.clients), 62),
        rate(t.single_per_s)
    );
    println!(
        "{}{}",
        pad(&format!("over HTTP, {} clients, {} commits for {} reports", t.clients, t.http_commits, t.reports), 62),
        rate(t.http_per_s)
    );
    println!(
        "{}{}",
        pad(&format!("the same rows, {} per commit as over HTTP, straight in", t.http_batch), 62),
        rate(t.batched_like_http_per_s)
    );
    println!(
        "over HTTP: {:.2} of the batched rate, {:.1}× one commit per report, {:.1} reports per commit; all {} acknowledged reports found",
        t.http_per_s / t.batched_per_s,
        t.http_per_s / t.single_per_s,
        t.reports as f64 / t.http_commits.max(1) as f64,
        t.http_found
    );
    println!(
        "that ratio, split: {} per commit against {}: {:.2}; over HTTP against the same rows {} per commit: {:.2}",
        t.http_batch,
        t.batch,
        t.batched_like_http_per_s / t.batched_per_s,
        t.http_batch,
        t.http_per_s / t.batched_like_http_per_s
    );
    let ms = |d: std::time::Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    println!(
        "answer time over HTTP: median {}, p99 {} against the {} ms ceiling: {:.2} of it",
        ms(t.http_p50),
        ms(t.http_p99),
        REPORT_P99_CEILING.as_millis(),
        t.http_p99.as_secs_f64() / REPORT_P99_CEILING.as_secs_f64()
    );
    Ok(())
}

async fn bench_pages(state: &app::AppState, cases: i64, rounds: usize) -> anyhow::Result<()> {
    use chuangwen::bench::{PAGE_CEILING, pages};
    println!(
        "bench pages: {cases} cases, {rounds} requests per page, server time in-process ({})",
        state.store.backend()
    );
    print_pages(&pages(state.clone(), rounds).await?, PAGE_CEILING)
}

async fn bench_cases(state: &app::AppState, cases: i64, rounds: usize) -> anyhow::Result<()> {
    use chuangwen::bench::{CASE_LIST_CEILING, case_list};
    println!(
        "bench cases: the case list with its typical filters, first page and far down, {cases} cases, {rounds} requests each, server time in-process ({})",
        state.store.backend()
    );
    print_header();
    let timings = case_list(state.clone(), rounds, |t| print_timing(t, CASE_LIST_CEILING)).await?;
    let (kept, recount) = chuangwen::bench::inbox_against_recount(state, rounds.min(3)).await?;
    println!(
        "the office's piles: kept counts {:.1} ms, counted from the cases {:.1} ms ({:.0}×), medians",
        kept.as_secs_f64() * 1e3,
        recount.as_secs_f64() * 1e3,
        recount.as_secs_f64() / kept.as_secs_f64().max(1e-9)
    );
    print_summary(&timings, CASE_LIST_CEILING)
}

/// Prints each page's median and p99 beside the ceiling; fails when a page
/// answered other than 200.
fn print_pages(timings: &[chuangwen::bench::PageTiming], ceiling: std::time::Duration) -> anyhow::Result<()> {
    print_header();
    for t in timings {
        print_timing(t, ceiling);
    }
    print_summary(timings, ceiling)
}

fn print_header() {
    println!(
        "{}{}{}{}{}{}ceiling  p99/ceiling",
        pad("user", 15),
        pad("page", 58),
        pad("status", 8),
        pad("median", 10),
        pad("p99", 10),
        pad("slowest", 10)
    );
}

fn print_timing(t: &chuangwen::bench::PageTiming, ceiling: std::time::Duration) {
    println!(
        "{}{}{}{}{}{}{}  {:.2}",
        pad(&t.user, 15),
        pad(&t.path, 58),
        pad(&t.status.to_string(), 8),
        pad(&format!("{:.1} ms", t.median.as_secs_f64() * 1e3), 10),
        pad(&format!("{:.1} ms", t.p99.as_secs_f64() * 1e3), 10),
        pad(&format!("{:.1} ms", t.slowest.as_secs_f64() * 1e3), 10),
        pad(&format!("{} ms", ceiling.as_millis()), 7),
        t.p99.as_secs_f64() / ceiling.as_secs_f64()
    );
}

/// The slowest page against the ceiling; fails when a page answered other than 200.
fn print_summary(timings: &[chuangwen::bench::PageTiming], ceiling: std::time::Duration) -> anyhow::Result<()> {
    let worst = timings.iter().map(|t| t.p99).max().unwrap_or_default();
    println!(
        "slowest page p99 {:.1} ms against the {} ms ceiling: {:.2} of it",
        worst.as_secs_f64() * 1e3,
        ceiling.as_millis(),
        worst.as_secs_f64() / ceiling.as_secs_f64()
    );
    if timings.iter().any(|t| t.status != 200) {
        bail!("a page did not answer 200");
    }
    Ok(())
}

async fn bench_stats(state: &app::AppState, cases: i64, rounds: usize, recount_rounds: usize) -> anyhow::Result<()> {
    use chuangwen::bench::{STATS_CEILING, stats};
    println!(
        "bench stats: {cases} cases ({}), {rounds} measurements of each figure set, {recount_rounds} of its direct recount",
        state.store.backend()
    );
    println!(
        "{}{}{}{}{}{}{}recount/kept",
        pad("what", 18),
        pad("period", 26),
        pad("median", 10),
        pad("p99", 10),
        pad("slowest", 10),
        pad("ceiling", 9),
        pad("recount median", 16)
    );
    let ms = |d: std::time::Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    let mut worst = std::time::Duration::ZERO;
    for t in stats(state, rounds, recount_rounds).await? {
        worst = worst.max(t.p99);
        println!(
            "{}{}{}{}{}{}{}{}",
            pad(t.what, 18),
            pad(&t.period, 26),
            pad(&ms(t.median), 10),
            pad(&ms(t.p99), 10),
            pad(&ms(t.slowest), 10),
            pad(&format!("{} ms", STATS_CEILING.as_millis()), 9),
            pad(&if t.recount_median.is_zero() { "not measured".into() } else { ms(t.recount_median) }, 16),
            if t.recount_median.is_zero() {
                "—".to_string()
            } else {
                format!("{:.0}×", t.recount_median.as_secs_f64() / t.median.as_secs_f64())
            }
        );
    }
    println!(
        "slowest p99 {} against the {} ms ceiling: {:.2} of it",
        ms(worst),
        STATS_CEILING.as_millis(),
        worst.as_secs_f64() / STATS_CEILING.as_secs_f64()
    );
    Ok(())
}

async fn bench_sheets(state: &app::AppState, cases: i64, rounds: usize) -> anyhow::Result<()> {
    use chuangwen::bench::{SHEETS_CEILING, SHEETS_UNITS, median, sheets};
    println!("bench sheets: a district of {cases} cases ({}), {rounds} rounds", state.store.backend());
    let t = sheets(state, rounds).await?;
    let s = |d: std::time::Duration| format!("{:.2} s", d.as_secs_f64());
    let (sheets, weekly) = (median(&t.sheets), median(&t.weekly));
    println!("{}{}slowest", pad("step", 52), pad("median", 10));
    println!(
        "{}{}{}",
        pad(&format!("daily sheets of all {} units ({} running cases)", t.units, t.running), 52),
        pad(&s(sheets), 10),
        s(*t.sheets.iter().max().unwrap())
    );
    println!("{}{}{}", pad("the weekly report", 52), pad(&s(weekly), 10), s(*t.weekly.iter().max().unwrap()));
    let per_unit = sheets.as_secs_f64() / t.units as f64;
    println!("per running case {:.1} µs", sheets.as_secs_f64() / t.running.max(1) as f64 * 1e6);
    println!(
        "per unit {:.1} ms; {SHEETS_UNITS} units at this rate (extrapolated): {:.2} s against the {} s ceiling: {:.2} of it",
        per_unit * 1e3,
        per_unit * SHEETS_UNITS as f64,
        SHEETS_CEILING.as_secs(),
        per_unit * SHEETS_UNITS as f64 / SHEETS_CEILING.as_secs_f64()
    );
    Ok(())
}

async fn bench_intake(state: &app::AppState, cases: i64, rows: usize, rounds: usize) -> anyhow::Result<()> {
    use chuangwen::bench::{INTAKE_CEILING, intake, median};
    println!(
        "bench intake: a {rows}-row xlsx of findings into a district of {cases} cases ({}), {rounds} rounds, each undone",
        state.store.backend()
    );
    let t = intake(state, rows, rounds).await?;
    let s = |d: std::time::Duration| format!("{:.2} s", d.as_secs_f64());
    let worst = t.whole.iter().max().copied().unwrap_or_default();
    println!("file: {} KB", t.bytes / 1024);
    println!("{}{}slowest", pad("step", 44), pad("median", 10));
    println!(
        "{}{}{}",
        pad("read the workbook (the upload)", 44),
        pad(&s(median(&t.read)), 10),
        s(*t.read.iter().max().unwrap())
    );
    println!("{}{}{}", pad("upload to done (read, keep, check, file)", 44), pad(&s(median(&t.whole)), 10), s(worst));
    println!("{}{}{}", pad("undo the batch", 44), pad(&s(median(&t.undo)), 10), s(*t.undo.iter().max().unwrap()));
    println!(
        "upload to done: median {} against the {} s ceiling: {:.2} of it (slowest {:.2})",
        s(median(&t.whole)),
        INTAKE_CEILING.as_secs(),
        median(&t.whole).as_secs_f64() / INTAKE_CEILING.as_secs_f64(),
        worst.as_secs_f64() / INTAKE_CEILING.as_secs_f64()
    );
    Ok(())
}

/// Pads to a terminal width, counting a Chinese character as two columns.
fn pad(text: &str, width: usize) -> String {
    let used: usize = text.chars().map(|c| if c > '\u{2e80}' { 2 } else { 1 }).sum();
    format!("{text}{}", " ".repeat(width.saturating_sub(used)))
}

async fn add_district(store: &Store, code: &str, name: &str, center: &str) -> anyhow::Result<()> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        bail!("区划代码应为 6 位数字（GB/T 2260），实际为“{code}”");
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 50 {
        bail!("请填写区名（不超过 50 个字）");
    }
    let (lon, lat) = center
        .split_once(',')
        .and_then(|(x, y)| Some((x.trim().parse::<f64>().ok()?, y.trim().parse::<f64>().ok()?)))
        .filter(|&(x, y)| chuangwen::domain::geometry::valid_position(x, y))
        .context("--center 应写成“经度,纬度”，例如 117.2,39.1")?;
    if store.district_by_code(code).await?.is_some() {
        bail!("区划代码 {code} 已存在");
    }
    let district = store.create_district(code, name, (lon, lat), false).await?;
    let root = chuangwen::store::org::NewUnit {
        parent_code: None,
        kind: "district".into(),
        code: code.into(),
        name: name.into(),
    };
    store.upsert_units(district.id, &[root]).await?;
    println!("已创建 / created: {name}（{code}）。下一步 / next: chuangwen places import --kind units 组织架构.xlsx");
    Ok(())
}

/// `chuangwen apikey create|list|revoke`: the clients of the Open311 endpoint.
async fn apikey(store: &Store, command: ApikeyCommand) -> anyhow::Result<()> {
    let entry = |district_id: i64, action: AuditAction, detail: serde_json::Value| NewAuditEntry {
        district_id: Some(district_id),
        actor_id: None,
        actor: "命令行 cli".into(),
        action,
        object: String::new(),
        detail: detail.to_string(),
        ip: String::new(),
    };
    match command {
        ApikeyCommand::Create { name, unit, district } => {
            let district = pick_district(store, district.as_deref()).await?;
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 100 {
                bail!("请填写接入方名称（不超过 100 字）/ --name is required (at most 100 characters)");
            }
            let unit_id = match unit.as_deref() {
                Some(code) => Some(
                    store
                        .unit_by_code(district.id, code)
                        .await?
                        .with_context(|| format!("{} 没有编码为 {code} 的单位", district.name))?
                        .id,
                ),
                None => None,
            };
            let key = chuangwen::open311::new_key();
            let prefix: String = key.chars().take(chuangwen::open311::KEY_PREFIX.len() + 6).collect();
            let audit = entry(
                district.id,
                AuditAction::TokenCreated,
                serde_json::json!({ "open311_client": name, "unit": unit }),
            );
            let id = store
                .create_open311_client(district.id, name, unit_id, &chuangwen::auth::token_hash(&key), &prefix, &audit)
                .await?;
            eprintln!(
                "已为“{name}”新建 Open311 接入（编号 {id}）；api_key 只显示这一次 / client {id} created; its key is shown only now:"
            );
            // The one place a key is printed: stdout, alone, for the operator to hand over.
            println!("{key}");
            Ok(())
        }
        ApikeyCommand::List { district } => {
            let district = pick_district(store, district.as_deref()).await?;
            let units: std::collections::HashMap<i64, String> =
                store.units(district.id).await?.into_iter().map(|u| (u.id, u.name)).collect();
            for c in store.open311_clients(district.id).await? {
                let scope = c.unit_id.and_then(|u| units.get(&u).cloned()).unwrap_or_else(|| "全区".into());
                let state = if c.revoked_at.is_some() { "已吊销 revoked" } else { "有效 active" };
                println!("{}\t{}\t{}…\t{}\t{}", c.id, c.name, c.prefix, scope, state);
            }
            Ok(())
        }
        ApikeyCommand::Revoke { id, district } => {
            let district = pick_district(store, district.as_deref()).await?;
            let audit = NewAuditEntry {
                object: format!("open311:{id}"),
                ..entry(district.id, AuditAction::TokenRevoked, serde_json::json!({ "open311_client": id }))
            };
            if !store.revoke_open311_client(district.id, id, &audit).await? {
                bail!("{} 没有编号为 {id} 的有效接入方 / no live client {id}", district.name);
            }
            println!("已吊销接入方 {id} 的 api_key / revoked");
            Ok(())
        }
    }
}

/// The district a command acts on: the one named, or the only one.
async fn pick_district(store: &Store, code: Option<&str>) -> anyhow::Result<chuangwen::store::org::District> {
    let districts = store.districts().await?;
    Ok(match code {
        Some(code) => {
            districts.into_iter().find(|d| d.code == code).with_context(|| format!("找不到区划代码为 {code} 的区"))?
        }
        None if districts.len() == 1 => districts.into_iter().next().expect("one district"),
        None if districts.is_empty() => {
            bail!("数据库中还没有区：先运行 `chuangwen demo` 或导入组织架构")
        }
        None => bail!("有多个区，请用 --district 指定区划代码"),
    })
}

async fn import_places(store: &Store, args: PlacesImportArgs) -> anyhow::Result<()> {
    let district = pick_district(store, args.district.as_deref()).await?;
    let kind = PlaceKind::parse(&args.kind).context("--kind 应为 units、grids、points 或 shop_fronts")?;
    let crs = Crs::parse(&args.crs).context("--crs 应为 wgs84、gcj02 或 bd09")?;
    let bytes = std::fs::read(&args.file).with_context(|| format!("无法读取 {}", args.file.display()))?;
    let bar = TerminalBar::new("导入 / import");
    let report =
        chuangwen::places::import_places(store, &district, kind, &bytes, crs, args.skip_bad_rows, &bar).await?;
    bar.finish();
    for e in &report.errors {
        let row = if e.row == 0 { "文件".to_string() } else { format!("第 {} 行", e.row) };
        eprintln!("  {}  {}：{}", pad(&row, 10), e.field, e.reason);
    }
    if report.refused {
        bail!("{}", report.summary());
    }
    println!("{}", report.summary());
    Ok(())
}

async fn export_places(store: &Store, args: PlacesExportArgs) -> anyhow::Result<()> {
    let district = pick_district(store, args.district.as_deref()).await?;
    let kind = PlaceKind::parse(&args.kind).context("--kind 应为 units、grids、points 或 shop_fronts")?;
    let format = match args.file.extension().and_then(|e| e.to_str()) {
        Some("geojson") | Some("json") => FileFormat::Geojson,
        Some("xlsx") => FileFormat::Xlsx,
        _ => bail!("输出文件的扩展名应为 .geojson 或 .xlsx"),
    };
    let bytes = chuangwen::places::export::export_places(store, district.id, kind, format).await?;
    std::fs::write(&args.file, &bytes).with_context(|| format!("无法写入 {}", args.file.display()))?;
    println!("已导出 / exported: {} ({} KB)", args.file.display(), bytes.len() / 1024);
    Ok(())
}

async fn add_user(opened: &app::Opened, args: UserAddArgs) -> anyhow::Result<()> {
    let store = &opened.store;
    let district = pick_district(store, args.district.as_deref()).await?;
    let unit = store
        .unit_by_code(district.id, &args.unit)
        .await?
        .with_context(|| format!("找不到编码为 {} 的单位", args.unit))?;
    let mut roles = Vec::new();
    for raw in &args.roles {
        let role = Role::parse(raw).with_context(|| {
            let known = Role::ALL.iter().map(|r| r.code()).collect::<Vec<_>>().join(" ");
            format!("未知角色 {raw}；可选：{known}")
        })?;
        roles.push(role.code().to_string());
    }
    if store.user_by_username(&args.username).await?.is_some() {
        bail!("用户名 {} 已被使用", args.username);
    }
    let phone = match &args.phone {
        Some(phone) if !valid_mobile(phone) => bail!("手机号应为 11 位数字，以 1 开头"),
        Some(phone) => Some((opened.crypto.encrypt(&normalize(phone)), opened.crypto.index(phone))),
        None => None,
    };
    let (plain, shown) = match args.password {
        Some(pw) => {
            if let Err(reason) = password::check_policy(&pw, &args.username) {
                bail!("{reason}");
            }
            (pw, false)
        }
        None => (password::generate(14), true),
    };
    let to_hash = plain.clone();
    let hash = tokio::task::spawn_blocking(move || password::hash(&to_hash)).await?;
    let user = NewUser {
        unit_id: unit.id,
        username: args.username.clone(),
        display_name: args.name.clone(),
        password_hash: hash,
        roles,
        must_change_password: true,
        phone,
    };
    let entry = NewAuditEntry {
        district_id: Some(district.id),
        actor_id: None,
        actor: "命令行 cli".into(),
        action: AuditAction::UserCreated,
        object: String::new(),
        detail: serde_json::json!({ "username": args.username, "unit": unit.code, "roles": user.roles }).to_string(),
        ip: String::new(),
    };
    store.create_user_audited(district.id, &user, &entry).await?;
    println!("已创建用户 / user created: {}（{}，{}）", args.username, args.name, unit.name);
    if shown {
        println!("初始密码（只显示这一次，首次登录须修改）/ initial password (shown once): {plain}");
    }
    Ok(())
}

async fn check_config(config: &Config) -> anyhow::Result<()> {
    println!("监听地址 / listen:     {}", config.listen);
    println!("数据库 / database:     {}", config.database_url.redacted());
    println!("数据目录 / data dir:   {}", config.data_dir.display());
    println!(
        "文件存储 / storage:    {}",
        match &config.storage {
            chuangwen::config::Storage::Local => "local".to_string(),
            chuangwen::config::Storage::S3(s3) =>
                format!("s3 bucket={} endpoint={}", s3.bucket, s3.endpoint.as_deref().unwrap_or("-")),
        }
    );
    let app::Opened { store, files, .. } = app::open(config).await?;
    store.ping().await.map_err(|e| anyhow::anyhow!("数据库无响应：{e}"))?;
    files.probe().await.map_err(|e| anyhow::anyhow!("文件存储不可写 (file store not writable)：{e}"))?;
    println!("配置正确，数据库与文件存储可用 / configuration OK ({})", store.backend());
    Ok(())
}

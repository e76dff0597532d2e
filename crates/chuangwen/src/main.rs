//! The `chuangwen` command: serve, migrate, demo, user, backup, check-config.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use chuangwen::app;
use chuangwen::auth::password;
use chuangwen::config::{Config, process_env};
use chuangwen::demo;
use chuangwen::domain::org::Role;
use chuangwen::progress::TerminalBar;
use chuangwen::store::Store;
use chuangwen::store::users::NewUser;

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
    /// 用户管理 / manage users
    #[command(subcommand)]
    User(UserCommand),
    /// 在服务运行时备份数据库到文件 / write a consistent backup while the server runs
    Backup {
        /// 备份文件（不得已存在）/ the backup file (must not exist)
        file: PathBuf,
    },
    /// 检查配置、数据库连接与文件目录 / check the configuration, the database and the file store
    CheckConfig,
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
}

#[derive(Subcommand)]
enum UserCommand {
    /// 新建用户，首次登录须修改密码 / add a user, who must change the password at first login
    Add(UserAddArgs),
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref(), &process_env()) {
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
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("错误 / error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => {
            let (store, files) = app::open(&config).await?;
            if args.demo && store.districts().await?.is_empty() {
                create_demo(&store, args.seed, None).await?;
            }
            if store.districts().await?.is_empty() {
                eprintln!(
                    "提示 / note: 数据库中还没有区。运行 `chuangwen demo` 创建演示区。/ No district yet: run `chuangwen demo`."
                );
            }
            app::serve(config, store, files).await
        }
        Command::Migrate => {
            let (store, _) = app::open(&config).await?;
            println!(
                "数据库已是最新结构 / migrations applied ({})",
                store.backend()
            );
            Ok(())
        }
        Command::Demo(args) => {
            let (store, _) = app::open(&config).await?;
            create_demo(&store, args.seed, args.password.as_deref()).await
        }
        Command::User(UserCommand::Add(args)) => {
            let (store, _) = app::open(&config).await?;
            add_user(&store, args).await
        }
        Command::Backup { file } => {
            let bar = TerminalBar::new("备份 / backup");
            let done = chuangwen::backup::backup(&config, &file, &bar).await?;
            bar.finish();
            if done.integrity != "ok" {
                bail!(
                    "备份已写入，但完整性检查未通过 / integrity check failed: {}",
                    done.integrity
                );
            }
            println!(
                "备份完成 / backup written: {} ({} KB)，完整性检查 / integrity: ok",
                file.display(),
                done.bytes / 1024
            );
            Ok(())
        }
        Command::CheckConfig => check_config(&config).await,
    }
}

async fn create_demo(store: &Store, seed: u64, password: Option<&str>) -> anyhow::Result<()> {
    let bar = TerminalBar::new("生成演示区 / demo");
    let created = demo::create(store, seed, password, &bar).await?;
    bar.finish();
    println!(
        "演示区已就绪 / demo district ready: {}（{}），种子 seed {seed}",
        created.district.name, created.district.code
    );
    println!("演示账号（密码只显示这一次）/ demo accounts (passwords are shown only now):");
    println!(
        "  {}{}{}密码 password",
        pad("角色 role", 18),
        pad("人数 users", 12),
        pad("示例用户名 example", 22)
    );
    for (role, (example, pw)) in &created.passwords {
        let n = created
            .users_per_role
            .get(role)
            .copied()
            .unwrap_or(0)
            .to_string();
        println!(
            "  {}{}{}{pw}",
            pad(role.label(), 18),
            pad(&n, 12),
            pad(example, 22)
        );
    }
    Ok(())
}

/// Pads to a terminal width, counting a Chinese character as two columns.
fn pad(text: &str, width: usize) -> String {
    let used: usize = text
        .chars()
        .map(|c| if c > '\u{2e80}' { 2 } else { 1 })
        .sum();
    format!("{text}{}", " ".repeat(width.saturating_sub(used)))
}

async fn add_user(store: &Store, args: UserAddArgs) -> anyhow::Result<()> {
    let districts = store.districts().await?;
    let district = match &args.district {
        Some(code) => districts
            .into_iter()
            .find(|d| &d.code == code)
            .with_context(|| format!("找不到区划代码为 {code} 的区"))?,
        None if districts.len() == 1 => districts.into_iter().next().expect("one district"),
        None if districts.is_empty() => {
            bail!("数据库中还没有区：先运行 `chuangwen demo` 或导入组织架构")
        }
        None => bail!("有多个区，请用 --district 指定区划代码"),
    };
    let unit = store
        .unit_by_code(district.id, &args.unit)
        .await?
        .with_context(|| format!("找不到编码为 {} 的单位", args.unit))?;
    let mut roles = Vec::new();
    for raw in &args.roles {
        let role = Role::parse(raw).with_context(|| {
            let known = Role::ALL
                .iter()
                .map(|r| r.code())
                .collect::<Vec<_>>()
                .join(" ");
            format!("未知角色 {raw}；可选：{known}")
        })?;
        roles.push(role.code().to_string());
    }
    if store.user_by_username(&args.username).await?.is_some() {
        bail!("用户名 {} 已被使用", args.username);
    }
    let (plain, shown) = match args.password {
        Some(pw) => (pw, false),
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
    };
    store.create_users(district.id, &[user]).await?;
    println!(
        "已创建用户 / user created: {}（{}，{}）",
        args.username, args.name, unit.name
    );
    if shown {
        println!(
            "初始密码（只显示这一次，首次登录须修改）/ initial password (shown once): {plain}"
        );
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
            chuangwen::config::Storage::S3(s3) => format!(
                "s3 bucket={} endpoint={}",
                s3.bucket,
                s3.endpoint.as_deref().unwrap_or("-")
            ),
        }
    );
    let (store, files) = app::open(config).await?;
    store
        .ping()
        .await
        .map_err(|e| anyhow::anyhow!("数据库无响应：{e}"))?;
    files
        .probe()
        .await
        .map_err(|e| anyhow::anyhow!("文件存储不可写 (file store not writable)：{e}"))?;
    println!(
        "配置正确，数据库与文件存储可用 / configuration OK ({})",
        store.backend()
    );
    Ok(())
}

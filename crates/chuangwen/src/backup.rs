//! `chuangwen backup FILE`: a consistent copy of the database taken while
//! the server runs. SQLite: `VACUUM INTO` reads one snapshot while writers go
//! on, then the copy is checked with `PRAGMA integrity_check`. PostgreSQL:
//! `pg_dump` in custom format (one snapshot), checked with `pg_restore --list`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::config::{Config, DatabaseUrl};
use crate::progress::Progress;
use crate::store::Store;

/// What a backup reports.
#[derive(Debug)]
pub struct BackupDone {
    /// Bytes written.
    pub bytes: u64,
    /// The integrity check's verdict (`ok` when sound).
    pub integrity: String,
}

/// Writes the backup to `target`, which must not exist yet.
pub async fn backup(config: &Config, target: &Path, progress: &dyn Progress) -> anyhow::Result<BackupDone> {
    if target.exists() {
        bail!("目标文件 {} 已存在，请换一个文件名 (target exists)", target.display());
    }
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty() && !d.is_dir()) {
        bail!("目录 {} 不存在 (folder does not exist)", dir.display());
    }
    if config.database_url.is_sqlite() {
        sqlite_backup(config, target, progress).await
    } else {
        postgres_backup(&config.database_url, target, progress).await
    }
}

async fn sqlite_backup(config: &Config, target: &Path, progress: &dyn Progress) -> anyhow::Result<BackupDone> {
    let source = config.database_url.sqlite_path().context("sqlite path")?;
    if !source.exists() {
        bail!("数据库文件 {} 不存在 (database file not found)", source.display());
    }
    let wal = source.with_extension(format!("{}-wal", source.extension().and_then(|e| e.to_str()).unwrap_or("db")));
    let expected = std::fs::metadata(&source)?.len() + std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    progress.set_total(expected.max(1));
    let store = Store::connect(&config.database_url, 1).await.map_err(|e| anyhow::anyhow!("无法打开数据库：{e}"))?;
    let target_text = target.to_str().context("备份文件名须为 UTF-8 (path must be UTF-8)")?.to_string();

    let copy = store.sqlite_backup_into(&target_text);
    tokio::pin!(copy);
    let mut shown = 0;
    loop {
        tokio::select! {
            result = &mut copy => { result.map_err(|e| anyhow::anyhow!("备份失败：{e} (backup failed)"))?; break; }
            _ = tokio::time::sleep(Duration::from_millis(100)) => {
                let now = std::fs::metadata(target).map(|m| m.len()).unwrap_or(0).min(expected);
                if now > shown { progress.advance(now - shown); shown = now; }
            }
        }
    }
    store.close().await;
    let bytes = std::fs::metadata(target)?.len();
    progress.set_total(bytes);
    progress.advance(bytes.saturating_sub(shown));

    let copy_url = DatabaseUrl::parse(&format!("sqlite://{target_text}"))?;
    let copy = Store::connect(&copy_url, 1).await.map_err(|e| anyhow::anyhow!("无法打开备份：{e}"))?;
    let integrity = copy.sqlite_integrity_check().await.map_err(|e| anyhow::anyhow!("完整性检查失败：{e}"))?;
    copy.close().await;
    Ok(BackupDone { bytes, integrity })
}

/// Splits the password out of a PostgreSQL URL, so it travels in the
/// environment (`PGPASSWORD`) and never on a command line others can read.
fn split_password(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_string(), None);
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return (url.to_string(), None);
    };
    match userinfo.split_once(':') {
        Some((user, password)) => (format!("{scheme}://{user}@{host}"), Some(password.to_string())),
        None => (url.to_string(), None),
    }
}

async fn postgres_backup(url: &DatabaseUrl, target: &Path, progress: &dyn Progress) -> anyhow::Result<BackupDone> {
    let (url_without_password, password) = split_password(url.expose());
    let mut command = Command::new("pg_dump");
    command
        .arg("--format=custom")
        .arg("--no-owner")
        .arg("--file")
        .arg(target)
        .arg("--dbname")
        .arg(&url_without_password);
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    progress.set_total(0);
    let mut child = tokio::process::Command::from(command)
        .spawn()
        .context("无法运行 pg_dump：请安装 PostgreSQL 客户端（Debian: apt-get install postgresql-client）")?;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status?,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                progress.step(&format!("{} KB", std::fs::metadata(target).map(|m| m.len() / 1024).unwrap_or(0)));
            }
        }
    };
    if !status.success() {
        bail!("pg_dump 失败 (pg_dump failed): {status}");
    }
    let bytes = std::fs::metadata(target)?.len();
    let list = Command::new("pg_restore").arg("--list").arg(target).output().context("无法运行 pg_restore")?;
    let integrity =
        if list.status.success() { "ok".to_string() } else { String::from_utf8_lossy(&list.stderr).into_owned() };
    Ok(BackupDone { bytes, integrity })
}

#[cfg(test)]
mod tests {
    use super::split_password;

    #[test]
    fn the_password_is_taken_out_of_the_url() {
        let (url, pw) = split_password("postgres://app:s3cret@db:5432/cw");
        assert_eq!(url, "postgres://app@db:5432/cw");
        assert_eq!(pw.as_deref(), Some("s3cret"));
        assert_eq!(split_password("postgres://db/cw"), ("postgres://db/cw".to_string(), None));
    }
}

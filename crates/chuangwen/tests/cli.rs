//! The `chuangwen` command as an operator runs it: bad configuration gives
//! one clear message and a non-zero exit; backups are consistent while
//! another process writes; SIGTERM shuts the server down cleanly.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_chuangwen");

/// Runs the binary in `dir` with only the given CHUANGWEN_* variables.
fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command.current_dir(dir).args(args).env("CHUANGWEN_LOG", "warn");
    for (key, _) in std::env::vars() {
        if key.starts_with("CHUANGWEN_") {
            command.env_remove(key);
        }
    }
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run chuangwen")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// One clear line, a non-zero exit, no panic trace.
fn assert_refused(output: &Output, expected: &str) {
    let err = stderr(output);
    assert!(!output.status.success(), "expected failure, got success: {err}");
    assert!(err.contains(expected), "stderr lacks {expected:?}: {err}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "a panic trace: {err}");
    let error_lines = err.lines().filter(|l| l.contains("错误")).count();
    assert_eq!(error_lines, 1, "exactly one error line: {err}");
}

#[test]
fn help_speaks_chinese_and_english_for_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    for sub in [
        &["--help"][..],
        &["serve", "--help"],
        &["migrate", "--help"],
        &["demo", "--help"],
        &["user", "add", "--help"],
        &["backup", "--help"],
        &["check-config", "--help"],
        &["apikey", "create", "--help"],
    ] {
        let out = run(dir.path(), &[], sub);
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{sub:?} has no Chinese: {text}");
        assert!(text.contains("Usage"), "{sub:?}");
    }
}

#[test]
fn an_unknown_key_in_the_config_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("chuangwen.toml"),
        "listen = \"127.0.0.1:8080\"\ndatabase_ulr = \"sqlite://x.db\"\n",
    )
    .unwrap();
    let out = run(dir.path(), &[], &["check-config"]);
    assert_refused(&out, "database_ulr");
    assert!(stderr(&out).contains("第 2 行"), "the line is named: {}", stderr(&out));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_misspelt_environment_variable_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &[("CHUANGWEN_DATABSE_URL", "sqlite://x.db")], &["check-config"]);
    assert_refused(&out, "CHUANGWEN_DATABSE_URL");
}

#[test]
fn an_unreachable_database_is_reported_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[("CHUANGWEN_DATABASE_URL", "postgres://app:hunter2@127.0.0.1:1/chuangwen")],
        &["check-config"],
    );
    assert_refused(&out, "无法连接数据库");
    assert!(stderr(&out).contains("Connection refused"), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("hunter2") && !String::from_utf8_lossy(&out.stdout).contains("hunter2"),
        "the password leaked"
    );
}

#[test]
fn an_unwritable_data_folder_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a-file"), "not a folder").unwrap();
    let out = run(dir.path(), &[("CHUANGWEN_DATA_DIR", "a-file/data")], &["check-config"]);
    assert_refused(&out, "不可写");
}

#[test]
fn a_bad_listen_address_and_a_bad_database_scheme_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    assert_refused(&run(dir.path(), &[("CHUANGWEN_LISTEN", "localhost")], &["check-config"]), "listen");
    assert_refused(
        &run(dir.path(), &[("CHUANGWEN_DATABASE_URL", "mysql://root@localhost/x")], &["check-config"]),
        "sqlite://",
    );
}

#[test]
fn a_good_configuration_checks_out_and_creates_the_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &[], &["check-config"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration OK"));
    assert!(dir.path().join("chuangwen.db").exists());
}

#[test]
fn user_add_prints_a_password_once_and_refuses_an_unknown_role() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), &[], &["demo", "--password", "Demo-Pass-2026"]).status.success());
    let out = run(
        dir.path(),
        &[],
        &["user", "add", "--username", "zhang", "--name", "张三", "--unit", "D001", "--role", "office"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("初始密码"), "{stdout}");
    let again = run(
        dir.path(),
        &[],
        &["user", "add", "--username", "zhang", "--name", "张三", "--unit", "D001", "--role", "office"],
    );
    assert_refused(&again, "已被使用");
    let bad_role = run(
        dir.path(),
        &[],
        &["user", "add", "--username", "li", "--name", "李四", "--unit", "D001", "--role", "boss"],
    );
    assert_refused(&bad_role, "未知角色 boss");
    let bad_unit = run(
        dir.path(),
        &[],
        &["user", "add", "--username", "li", "--name", "李四", "--unit", "NOPE", "--role", "office"],
    );
    assert_refused(&bad_unit, "NOPE");
}

#[test]
fn a_backup_taken_while_another_process_writes_opens_and_passes_its_checks() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), &[], &["demo", "--password", "Demo-Pass-2026"]).status.success());

    // Another process rewrites the whole demo district, again and again.
    let writer_dir = dir.path().to_path_buf();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer_stop = stop.clone();
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writer_runs = runs.clone();
    let writer = std::thread::spawn(move || {
        while !writer_stop.load(std::sync::atomic::Ordering::Relaxed) {
            let n = writer_runs.load(std::sync::atomic::Ordering::Relaxed);
            let seed = (n % 5 + 1).to_string();
            let out = run(&writer_dir, &[], &["demo", "--seed", &seed, "--password", "Demo-Pass-2026"]);
            assert!(out.status.success(), "writer failed: {}", stderr(&out));
            writer_runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });

    // Backups go on until the writer has finished at least one whole rewrite
    // since the first backup began: the two overlapped, by construction.
    let before = runs.load(std::sync::atomic::Ordering::Relaxed);
    let mut n = 0;
    while n < 4 || runs.load(std::sync::atomic::Ordering::Relaxed) == before {
        assert!(n < 200, "the writer never finished a rewrite");
        let file = dir.path().join(format!("backup-{n}.db"));
        let out = run(dir.path(), &[], &["backup", file.to_str().unwrap()]);
        assert!(out.status.success(), "backup {n}: {}", stderr(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("integrity: ok"));

        // The copy opens on its own and is consistent: sound pages, no
        // dangling reference, and no user without the role written in the same transaction.
        let check = run(
            dir.path(),
            &[("CHUANGWEN_DATABASE_URL", &format!("sqlite://{}", file.display())), ("CHUANGWEN_DATA_DIR", "copy-data")],
            &["check-config"],
        );
        assert!(check.status.success(), "the copy does not open: {}", stderr(&check));
        let (integrity, dangling, users_without_roles) = copy_checks(&file);
        assert_eq!((integrity.as_str(), dangling, users_without_roles), ("ok", 0, 0), "copy {n}");
        n += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();

    let exists = dir.path().join("backup-0.db");
    assert_refused(&run(dir.path(), &[], &["backup", exists.to_str().unwrap()]), "已存在");
}

/// Integrity, dangling foreign keys, and users missing the role row written
/// in the same transaction, read straight from a SQLite file.
fn copy_checks(file: &Path) -> (String, usize, i64) {
    use sqlx::Connection;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{}?mode=ro", file.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let integrity: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut conn).await.unwrap();
        let dangling = sqlx::query("PRAGMA foreign_key_check").fetch_all(&mut conn).await.unwrap().len();
        let orphans: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE id NOT IN (SELECT user_id FROM user_roles)")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        (integrity, dangling, orphans)
    })
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .args(["serve", "--demo"])
        .env("CHUANGWEN_LISTEN", "127.0.0.1:0")
        .env("CHUANGWEN_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = loop {
        let line = lines.next().expect("server output").unwrap();
        if let Some(rest) = line.strip_prefix("创文通 Chuangwen: http://") {
            break rest.trim_end_matches('/').to_string();
        }
    };
    let health = std::net::TcpStream::connect(&address).map(|mut s| {
        use std::io::{Read, Write};
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    });
    assert!(health.unwrap().starts_with("HTTP/1.1 200"));

    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server did not stop within 15 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(status.success(), "exit status {status}: {rest:?}");
    assert!(rest.iter().any(|l| l.contains("shutdown signal received")), "{rest:?}");
}

#[test]
fn places_export_then_import_on_the_command_line_and_a_bad_file_lists_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), &[], &["demo", "--password", "Demo-Pass-2026"]).status.success());
    let out = run(dir.path(), &[], &["places", "export", "--kind", "points", "points.xlsx"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(dir.path(), &[], &["places", "import", "--kind", "points", "points.xlsx"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("写入 1500 行"));

    let bad = r#"{"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [117.2, 39.1]}, "properties": {"code": "C1", "name": "无类型", "unit": "D003"}},
        {"type": "Feature", "geometry": null, "properties": {"code": "C2", "name": "无位置", "type": "广场", "unit": "D003"}}]}"#;
    std::fs::write(dir.path().join("bad.geojson"), bad).unwrap();
    let out = run(dir.path(), &[], &["places", "import", "--kind", "points", "bad.geojson"]);
    assert_refused(&out, "未写入任何数据");
    let err = stderr(&out);
    assert!(
        err.contains("第 1 行") && err.contains("类型") && err.contains("第 2 行") && err.contains("缺少位置"),
        "{err}"
    );
}

#[test]
fn a_new_district_is_added_and_given_its_units_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    assert_refused(
        &run(dir.path(), &[], &["district", "add", "--code", "1201", "--name", "河西区", "--center", "117.2,39.1"]),
        "6 位",
    );
    assert_refused(
        &run(dir.path(), &[], &["district", "add", "--code", "120103", "--name", "  ", "--center", "117.2,39.1"]),
        "请填写区名",
    );
    assert_refused(&run(dir.path(), &[], &["pi", "new-key", "--id", "k:2"]), "密钥编号只能由字母、数字");
    assert_refused(
        &run(dir.path(), &[], &["district", "add", "--code", "120103", "--name", "河西区", "--center", "东经"]),
        "--center",
    );
    let out =
        run(dir.path(), &[], &["district", "add", "--code", "120103", "--name", "河西区", "--center", "117.22,39.11"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let units = r#"{"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": null, "properties": {"code": "120103001", "name": "友谊路街道", "kind": "street"}},
        {"type": "Feature", "geometry": null, "properties": {"code": "120103001001", "name": "佳荣里社区", "kind": "社区", "parent": "120103001"}}]}"#;
    std::fs::write(dir.path().join("units.geojson"), units).unwrap();
    let out = run(dir.path(), &[], &["places", "import", "--kind", "units", "units.geojson"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("写入 2 行"));

    // An Open311 client's key: printed once, alone on stdout; never listed.
    assert_refused(
        &run(dir.path(), &[], &["apikey", "create", "--name", "市平台", "--unit", "nope"]),
        "没有编码为 nope 的单位",
    );
    let out = run(dir.path(), &[], &["apikey", "create", "--name", "友谊路街道网格平台", "--unit", "120103001"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let key = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(key.starts_with("o311_") && key.trim_end().len() == 69 && key.lines().count() == 1, "{key:?}");
    assert!(!stderr(&out).contains(key.trim()), "the key is printed once");
    let out = run(dir.path(), &[], &["apikey", "create", "--name", "12345 热线"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = String::from_utf8(run(dir.path(), &[], &["apikey", "list"]).stdout).unwrap();
    assert!(
        listed.contains("友谊路街道网格平台") && listed.contains("全区") && listed.contains(&key[..11]),
        "{listed}"
    );
    assert!(!listed.contains(key.trim()), "a list never shows a key");
    assert!(run(dir.path(), &[], &["apikey", "revoke", "1"]).status.success());
    assert_refused(&run(dir.path(), &[], &["apikey", "revoke", "1"]), "没有编号为 1 的有效接入方");
    assert!(String::from_utf8(run(dir.path(), &[], &["apikey", "list"]).stdout).unwrap().contains("已吊销"));
}

/// One HTTP/1.1 request over a fresh connection: (status, headers, body).
fn http(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers =
        lines.filter_map(|l| l.split_once(": ")).map(|(k, v)| (k.to_ascii_lowercase(), v.to_string())).collect();
    (status, headers, body.to_string())
}

/// Starts `serve` in `dir` on a free port; returns the child and its address.
fn start_server(dir: &Path) -> (std::process::Child, String) {
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .arg("serve")
        .env("CHUANGWEN_LISTEN", "127.0.0.1:0")
        .env("CHUANGWEN_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = loop {
        let line = lines.next().expect("server output").unwrap();
        if let Some(rest) = line.strip_prefix("创文通 Chuangwen: http://") {
            break rest.trim_end_matches('/').to_string();
        }
    };
    // Keep reading stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, address)
}

/// Logs in over HTTP; returns the cookie header to send.
fn http_login(address: &str, username: &str, password: &str) -> String {
    let (_, headers, _) = http(address, "GET", "/login", &[], b"");
    let csrf = headers.iter().find(|(k, v)| k == "set-cookie" && v.starts_with("cw_csrf=")).unwrap().1.clone();
    let csrf = csrf.split(';').next().unwrap().trim_start_matches("cw_csrf=").to_string();
    let form = format!("csrf={csrf}&username={username}&password={password}");
    let cookie = format!("cw_csrf={csrf}");
    let (status, headers, _) = http(
        address,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded"), ("Cookie", &cookie)],
        form.as_bytes(),
    );
    assert_eq!(status, 303, "login");
    let session = headers.iter().find(|(k, v)| k == "set-cookie" && v.starts_with("cw_session=")).unwrap().1.clone();
    session.split(';').next().unwrap().to_string()
}

#[test]
fn an_acknowledged_report_survives_kill_9_right_after_its_201() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(dir.path(), &[], &["demo", "--password", "Demo-Pass-2026"]).status.success());
    let (mut server, address) = start_server(dir.path());
    let cookie = http_login(&address, "supervisor001", "Demo-Pass-2026");
    let report = r#"{"category": "06010", "description": "kill -9 之前的上报", "address": "海河路 1 号"}"#.as_bytes();
    let (status, _, body) = http(
        &address,
        "POST",
        "/api/v1/cases",
        &[("Content-Type", "application/json"), ("Cookie", &cookie), ("Idempotency-Key", "kill-nine")],
        report,
    );
    // The 201 is in hand: kill the server at once, without any chance to flush.
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(status, 201, "{body}");
    let created: serde_json::Value = serde_json::from_str(&body).unwrap();

    let (mut server, address) = start_server(dir.path());
    let cookie = http_login(&address, "office01", "Demo-Pass-2026");
    let (status, _, body) =
        http(&address, "GET", &format!("/api/v1/cases/{}", created["id"]), &[("Cookie", &cookie)], b"");
    Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    server.wait().unwrap();
    assert_eq!(status, 200, "{body}");
    let found: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(found["number"], created["number"]);
    assert_eq!(found["description"], "kill -9 之前的上报");
}

#[test]
fn the_intake_sheets_and_stats_benchmarks_run_and_print_their_ceilings() {
    let dir = tempfile::tempdir().unwrap();
    let intake = run(dir.path(), &[], &["bench", "intake", "--cases", "300", "--rows", "40", "--rounds", "1"]);
    let out = String::from_utf8_lossy(&intake.stdout);
    assert!(intake.status.success(), "{}{}", out, stderr(&intake));
    assert!(out.contains("upload to done: median") && out.contains("against the 5 s ceiling"), "{out}");
    let sheets = run(dir.path(), &[], &["bench", "sheets", "--cases", "300", "--rounds", "1"]);
    let out = String::from_utf8_lossy(&sheets.stdout);
    assert!(sheets.status.success(), "{}{}", out, stderr(&sheets));
    assert!(out.contains("running cases") && out.contains("against the 5 s ceiling"), "{out}");
    let stats = run(dir.path(), &[], &["bench", "stats", "--cases", "300", "--rounds", "2", "--recount-rounds", "1"]);
    let out = String::from_utf8_lossy(&stats.stdout);
    assert!(stats.status.success(), "{}{}", out, stderr(&stats));
    // Each figure set's p99 with the slowest measurement beside it, and the
    // recount beside the kept sums, for every period.
    assert!(out.contains("p99       slowest   ceiling") && out.contains("recount/kept"), "{out}");
    let rows: Vec<&str> = out.lines().filter(|l| l.starts_with("office dashboard")).collect();
    assert_eq!(rows.len(), 5, "five periods: {out}");
    // median, p99 and slowest, then the ceiling and the recount.
    assert!(rows.iter().all(|row| row.matches(" ms").count() == 5), "{out}");
    assert!(out.contains("slowest p99") && out.contains("against the 20 ms ceiling"), "{out}");
}

#[test]
fn the_reports_and_case_list_benchmarks_run_and_print_their_ceilings() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["bench", "reports", "--cases", "300", "--clients", "8", "--reports", "3"];
    let reports = run(dir.path(), &[], &args);
    let out = String::from_utf8_lossy(&reports.stdout);
    assert!(reports.status.success(), "{}{}", out, stderr(&reports));
    assert!(out.contains("all 24 acknowledged reports found"), "{out}");
    assert!(out.contains("against the 50 ms ceiling") && out.contains("disk's flushes"), "{out}");
    assert!(out.contains("against the 250 MB ceiling"), "the peak memory is printed: {out}");
    assert!(out.contains("per commit as over HTTP") && out.contains("that ratio, split"), "{out}");
    // The district now holds 104 cases more (8 warm the database, 24 each of
    // four ways): it is used as it is.
    let cases = run(dir.path(), &[], &["bench", "cases", "--cases", "300", "--rounds", "1"]);
    let out = String::from_utf8_lossy(&cases.stdout);
    assert!(cases.status.success(), "{}{}", out, stderr(&cases));
    assert!(out.contains("404 cases") && !out.contains("demo district ready"), "{out}");
    assert!(out.contains("/cases?street=") && out.contains("against the 30 ms ceiling"), "{out}");
}

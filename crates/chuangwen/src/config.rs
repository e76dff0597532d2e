//! Configuration: built-in defaults, then a TOML file, then `CHUANGWEN_*`
//! environment variables (the environment wins). Secrets are wrapped in
//! [`Secret`] so they never reach a log line or a `Debug` print.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A value that must never be printed: its `Debug` and `Display` show `******`.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself, for the one place that needs it (a client builder).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("******")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("******")
    }
}

/// The database URL. A PostgreSQL URL may carry a password, so it is a secret
/// too; [`DatabaseUrl::redacted`] gives a printable form.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(Secret);

impl DatabaseUrl {
    /// Parses and checks the scheme: `sqlite://PATH` or `postgres://…`.
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let raw = raw.trim();
        if raw.starts_with("sqlite:") || raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Ok(DatabaseUrl(Secret::new(raw)))
        } else {
            Err(ConfigError::Invalid {
                key: "database_url".into(),
                reason: format!(
                    "应以 sqlite:// 或 postgres:// 开头 (must start with sqlite:// or postgres://), got `{}`",
                    redact_url(raw)
                ),
            })
        }
    }
    /// The full URL, for the connection pool only.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
    /// Which backend the URL selects.
    pub fn is_sqlite(&self) -> bool {
        self.0.expose().starts_with("sqlite:")
    }
    /// The URL with any password replaced by `******`.
    pub fn redacted(&self) -> String {
        redact_url(self.0.expose())
    }
    /// The file path of a SQLite URL (`sqlite://chuangwen.db` → `chuangwen.db`).
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        let rest = self.0.expose().strip_prefix("sqlite:")?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let path = rest.split('?').next().unwrap_or(rest);
        Some(PathBuf::from(path))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

/// Replaces the password of `scheme://user:password@host` with `******`.
pub fn redact_url(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return raw.to_string();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            if userinfo.contains(':') {
                format!("{scheme}://{user}:******@{host}{tail}")
            } else {
                format!("{scheme}://{user}@{host}{tail}")
            }
        }
        None => raw.to_string(),
    }
}

/// Where attachments and uploaded files live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Storage {
    /// A folder on the local disk (`<data_dir>/files`).
    Local,
    /// S3-compatible object storage (MinIO, OSS, COS, OBS, AWS).
    S3(S3Config),
}

/// S3-compatible storage settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Bucket name.
    pub bucket: String,
    /// Endpoint URL of a non-AWS service, e.g. `http://127.0.0.1:9000`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Region name; many S3-compatible services accept any.
    #[serde(default = "default_region")]
    pub region: String,
    /// Access key id.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Secret access key: never printed.
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    /// Allow plain HTTP endpoints (a MinIO on the same host).
    #[serde(default)]
    pub allow_http: bool,
}

fn default_region() -> String {
    "us-east-1".into()
}

/// Security settings (docs/SECURITY.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Security {
    /// The key that encrypts personal information: `ID:BASE64` (32 bytes).
    /// `None`: a key is generated on first start and kept in `data_dir`.
    pub pi_key: Option<Secret>,
    /// Retired keys, still accepted for reading while data is re-encrypted.
    pub pi_old_keys: Vec<Secret>,
    /// The key of the exact-match search index (base64, 32 bytes).
    pub pi_index_key: Option<Secret>,
    /// `aes-256-gcm` or `sm4-gcm` (GB/T 32907).
    pub pi_cipher: String,
    /// `sha256` or `sm3` (GB/T 32905) for the audit chain.
    pub audit_hash: String,
    /// Failed logins before an account is locked.
    pub lockout_threshold: u32,
    /// How long a locked account stays locked.
    pub lockout_minutes: u32,
    /// A session ends after this long without a request.
    pub session_idle_minutes: u32,
    /// A session ends this long after login.
    pub session_lifetime_hours: u32,
    /// Mark cookies `Secure` (set when users reach the server over HTTPS).
    pub secure_cookies: bool,
}

impl Default for Security {
    fn default() -> Self {
        Security {
            pi_key: None,
            pi_old_keys: Vec::new(),
            pi_index_key: None,
            pi_cipher: "aes-256-gcm".into(),
            audit_hash: "sha256".into(),
            lockout_threshold: 5,
            lockout_minutes: 15,
            session_idle_minutes: 30,
            session_lifetime_hours: 12,
            secure_cookies: false,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSecurity {
    pi_key: Option<Secret>,
    #[serde(default)]
    pi_old_keys: Vec<Secret>,
    pi_index_key: Option<Secret>,
    pi_cipher: Option<String>,
    audit_hash: Option<String>,
    lockout_threshold: Option<u32>,
    lockout_minutes: Option<u32>,
    session_idle_minutes: Option<u32>,
    session_lifetime_hours: Option<u32>,
    secure_cookies: Option<bool>,
}

/// The running configuration, after defaults, file and environment.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Which database, and where.
    pub database_url: DatabaseUrl,
    /// Folder for local files (attachments, imports).
    pub data_dir: PathBuf,
    /// Attachment storage.
    pub storage: Storage,
    /// `tracing` filter, e.g. `info` or `chuangwen=debug,info`.
    pub log: String,
    /// `text` for people, `json` for log collectors.
    pub log_format: LogFormat,
    /// Connections in the PostgreSQL pool (or SQLite readers).
    pub max_connections: u32,
    /// The code of the district the single-district UI serves when a
    /// deployment holds several; empty means the first one.
    pub district: Option<String>,
    /// Keys, lockout, sessions, cookies.
    pub security: Security,
    /// A report within this many metres of an open case of the same category…
    pub duplicate_radius_m: f64,
    /// …reported within this many days is offered for merging.
    pub duplicate_days: u32,
    /// The base map the pages draw under grids, points and cases.
    pub map: MapConfig,
}

/// The base map: none by default (no request ever leaves the district's
/// network); a district sets its own tile service, e.g. 天地图.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MapConfig {
    /// Tile URL template (`{z}`, `{x}`, `{y}`, `{s}`), e.g.
    /// `https://t{s}.tianditu.gov.cn/vec_w/wmts?…&tk=KEY`; empty for no tiles.
    pub tile_url: String,
    /// A second layer of labels drawn over the tiles (天地图's `cva_w`), or empty.
    pub label_url: String,
    /// Letters or digits that replace `{s}`, e.g. `01234567`.
    pub subdomains: String,
    /// The attribution shown in the corner, e.g. `天地图`.
    pub attribution: String,
    /// The datum of the tiles: `wgs84` (天地图, CGCS2000) or `gcj02` (高德, 腾讯);
    /// coordinates are shifted to match, so markers sit on the right street.
    pub tile_crs: String,
    /// Deepest zoom the tiles offer.
    pub max_zoom: u8,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// What the TOML file may hold; unknown keys are refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    database_url: Option<String>,
    data_dir: Option<PathBuf>,
    log: Option<String>,
    log_format: Option<String>,
    max_connections: Option<u32>,
    district: Option<String>,
    storage: Option<FileStorage>,
    security: Option<FileSecurity>,
    duplicate_radius_m: Option<f64>,
    duplicate_days: Option<u32>,
    map: Option<MapConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStorage {
    kind: Option<String>,
    s3: Option<S3Config>,
}

/// A configuration problem, reported as one clear line (Chinese, then English).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("无法读取配置文件 {path}: {reason} (cannot read config file)")]
    Unreadable { path: String, reason: String },
    /// The file is not valid TOML, or holds an unknown key.
    #[error("配置文件 {path} 有误: {reason} (invalid config file)")]
    Syntax { path: String, reason: String },
    /// An environment variable that starts with `CHUANGWEN_` but means nothing.
    #[error("未知的环境变量 {name} (unknown environment variable); 可用的有 / known: {known}")]
    UnknownEnv { name: String, known: String },
    /// A value that does not parse or makes no sense.
    #[error("配置项 {key} 无效: {reason} (invalid setting)")]
    Invalid { key: String, reason: String },
}

/// The environment variables we read, and the key each sets.
pub const ENV_KEYS: &[(&str, &str)] = &[
    ("CHUANGWEN_CONFIG", "config file path"),
    ("CHUANGWEN_LISTEN", "listen"),
    ("CHUANGWEN_DATABASE_URL", "database_url"),
    ("CHUANGWEN_DATA_DIR", "data_dir"),
    ("CHUANGWEN_LOG", "log"),
    ("CHUANGWEN_LOG_FORMAT", "log_format"),
    ("CHUANGWEN_MAX_CONNECTIONS", "max_connections"),
    ("CHUANGWEN_DISTRICT", "district"),
    ("CHUANGWEN_STORAGE", "storage.kind"),
    ("CHUANGWEN_S3_BUCKET", "storage.s3.bucket"),
    ("CHUANGWEN_S3_ENDPOINT", "storage.s3.endpoint"),
    ("CHUANGWEN_S3_REGION", "storage.s3.region"),
    ("CHUANGWEN_S3_ACCESS_KEY_ID", "storage.s3.access_key_id"),
    ("CHUANGWEN_S3_SECRET_ACCESS_KEY", "storage.s3.secret_access_key"),
    ("CHUANGWEN_S3_ALLOW_HTTP", "storage.s3.allow_http"),
    ("CHUANGWEN_PI_KEY", "security.pi_key"),
    ("CHUANGWEN_PI_OLD_KEYS", "security.pi_old_keys (comma-separated)"),
    ("CHUANGWEN_PI_INDEX_KEY", "security.pi_index_key"),
    ("CHUANGWEN_PI_CIPHER", "security.pi_cipher"),
    ("CHUANGWEN_AUDIT_HASH", "security.audit_hash"),
    ("CHUANGWEN_LOCKOUT_THRESHOLD", "security.lockout_threshold"),
    ("CHUANGWEN_LOCKOUT_MINUTES", "security.lockout_minutes"),
    ("CHUANGWEN_SESSION_IDLE_MINUTES", "security.session_idle_minutes"),
    ("CHUANGWEN_SESSION_LIFETIME_HOURS", "security.session_lifetime_hours"),
    ("CHUANGWEN_SECURE_COOKIES", "security.secure_cookies"),
    ("CHUANGWEN_DUPLICATE_RADIUS_M", "duplicate_radius_m"),
    ("CHUANGWEN_DUPLICATE_DAYS", "duplicate_days"),
    ("CHUANGWEN_MAP_TILE_URL", "map.tile_url"),
    ("CHUANGWEN_MAP_LABEL_URL", "map.label_url"),
    ("CHUANGWEN_MAP_SUBDOMAINS", "map.subdomains"),
    ("CHUANGWEN_MAP_ATTRIBUTION", "map.attribution"),
    ("CHUANGWEN_MAP_TILE_CRS", "map.tile_crs"),
];

impl Config {
    /// Loads the configuration: defaults, then `file` (when given, or
    /// `CHUANGWEN_CONFIG`, or `./chuangwen.toml` when it exists), then the
    /// environment `env`.
    pub fn load(file: Option<&Path>, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        for name in env.keys() {
            if name.starts_with("CHUANGWEN_") && !ENV_KEYS.iter().any(|(k, _)| k == name) {
                let known = ENV_KEYS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ");
                return Err(ConfigError::UnknownEnv { name: name.clone(), known });
            }
        }
        let path: Option<PathBuf> = match file {
            Some(p) => Some(p.to_path_buf()),
            None => match env.get("CHUANGWEN_CONFIG") {
                Some(p) => Some(PathBuf::from(p)),
                None => Some(PathBuf::from("chuangwen.toml")).filter(|p| p.exists()),
            },
        };
        let file_config = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError::Unreadable { path: p.display().to_string(), reason: e.to_string() })?;
                toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::Syntax {
                    path: p.display().to_string(),
                    reason: e.message().to_string()
                        + &e.span().map(|s| format!(" (第 {} 行 / line)", line_of(&text, s.start))).unwrap_or_default(),
                })?
            }
            None => FileConfig::default(),
        };
        Self::merge(file_config, env)
    }

    fn merge(file: FileConfig, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
        let pick = |env_key: &str, file_value: Option<String>| env.get(env_key).cloned().or(file_value);

        let listen_raw = pick("CHUANGWEN_LISTEN", file.listen).unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen = listen_raw.parse::<SocketAddr>().map_err(|_| ConfigError::Invalid {
            key: "listen".into(),
            reason: format!("`{listen_raw}` 不是 地址:端口 (not an address:port, e.g. 127.0.0.1:8080)"),
        })?;

        let db_raw =
            pick("CHUANGWEN_DATABASE_URL", file.database_url).unwrap_or_else(|| "sqlite://chuangwen.db".into());
        let database_url = DatabaseUrl::parse(&db_raw)?;

        let data_dir = env
            .get("CHUANGWEN_DATA_DIR")
            .map(PathBuf::from)
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./data"));

        let log = pick("CHUANGWEN_LOG", file.log).unwrap_or_else(|| "info".into());
        let log_format = match pick("CHUANGWEN_LOG_FORMAT", file.log_format).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    key: "log_format".into(),
                    reason: format!("`{other}` 应为 text 或 json (must be text or json)"),
                });
            }
        };

        let max_connections = match env.get("CHUANGWEN_MAX_CONNECTIONS") {
            Some(v) => v.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| ConfigError::Invalid {
                key: "max_connections".into(),
                reason: format!("`{v}` 应为正整数 (must be a positive integer)"),
            })?,
            None => file.max_connections.unwrap_or(8),
        };
        if max_connections == 0 {
            return Err(ConfigError::Invalid {
                key: "max_connections".into(),
                reason: "应为正整数 (must be a positive integer)".into(),
            });
        }

        let district = pick("CHUANGWEN_DISTRICT", file.district).filter(|s| !s.is_empty());

        let file_storage = file.storage.unwrap_or_default();
        let kind = pick("CHUANGWEN_STORAGE", file_storage.kind).unwrap_or_else(|| "local".into());
        let storage = match kind.as_str() {
            "local" => Storage::Local,
            "s3" => {
                let mut s3 = file_storage.s3.unwrap_or_default();
                if let Some(v) = env.get("CHUANGWEN_S3_BUCKET") {
                    s3.bucket = v.clone();
                }
                if let Some(v) = env.get("CHUANGWEN_S3_ENDPOINT") {
                    s3.endpoint = Some(v.clone());
                }
                if let Some(v) = env.get("CHUANGWEN_S3_REGION") {
                    s3.region = v.clone();
                }
                if s3.region.is_empty() {
                    s3.region = default_region();
                }
                if let Some(v) = env.get("CHUANGWEN_S3_ACCESS_KEY_ID") {
                    s3.access_key_id = Some(v.clone());
                }
                if let Some(v) = env.get("CHUANGWEN_S3_SECRET_ACCESS_KEY") {
                    s3.secret_access_key = Some(Secret::new(v.clone()));
                }
                if let Some(v) = flag("storage.s3.allow_http", env.get("CHUANGWEN_S3_ALLOW_HTTP"))? {
                    s3.allow_http = v;
                }
                if s3.bucket.is_empty() {
                    return Err(ConfigError::Invalid {
                        key: "storage.s3.bucket".into(),
                        reason: "使用 S3 存储时必须填写桶名 (a bucket is required for s3 storage)".into(),
                    });
                }
                Storage::S3(s3)
            }
            other => {
                return Err(ConfigError::Invalid {
                    key: "storage.kind".into(),
                    reason: format!("`{other}` 应为 local 或 s3 (must be local or s3)"),
                });
            }
        };

        let security = Self::merge_security(file.security.unwrap_or_default(), env)?;
        let duplicate_radius_m = {
            let (raw, value) = match env.get("CHUANGWEN_DUPLICATE_RADIUS_M") {
                Some(v) => (v.clone(), v.parse::<f64>().ok()),
                None => {
                    let r = file.duplicate_radius_m.unwrap_or(50.0);
                    (r.to_string(), Some(r))
                }
            };
            value.filter(|r| *r >= 1.0 && *r <= 1000.0).ok_or_else(|| ConfigError::Invalid {
                key: "duplicate_radius_m".into(),
                reason: format!("`{raw}` 应为 1～1000 之间的米数 (metres between 1 and 1000)"),
            })?
        };
        let duplicate_days = positive("duplicate_days", env.get("CHUANGWEN_DUPLICATE_DAYS"), file.duplicate_days, 7)?;
        let mut map = file.map.unwrap_or_default();
        for (key, field) in [
            ("CHUANGWEN_MAP_TILE_URL", &mut map.tile_url),
            ("CHUANGWEN_MAP_LABEL_URL", &mut map.label_url),
            ("CHUANGWEN_MAP_SUBDOMAINS", &mut map.subdomains),
            ("CHUANGWEN_MAP_ATTRIBUTION", &mut map.attribution),
            ("CHUANGWEN_MAP_TILE_CRS", &mut map.tile_crs),
        ] {
            if let Some(v) = env.get(key) {
                *field = v.clone();
            }
        }
        if map.tile_crs.is_empty() {
            map.tile_crs = "wgs84".into();
        }
        if !matches!(map.tile_crs.as_str(), "wgs84" | "gcj02") {
            return Err(ConfigError::Invalid {
                key: "map.tile_crs".into(),
                reason: format!("`{}` 应为 wgs84 或 gcj02 (must be wgs84 or gcj02)", map.tile_crs),
            });
        }
        for (key, url) in [("map.tile_url", &map.tile_url), ("map.label_url", &map.label_url)] {
            let templated = ["{z}", "{x}", "{y}"].iter().all(|part| url.contains(part));
            if !url.is_empty() && !templated {
                return Err(ConfigError::Invalid {
                    key: key.into(),
                    reason: "瓦片地址须含 {z}、{x}、{y} (a tile URL needs {z}, {x} and {y})".into(),
                });
            }
        }
        match map.max_zoom {
            0 => map.max_zoom = 18,
            1..=22 => {}
            other => {
                return Err(ConfigError::Invalid {
                    key: "map.max_zoom".into(),
                    reason: format!("`{other}` 应为 1～22 (must be 1 to 22)"),
                });
            }
        }
        Ok(Config {
            map,
            listen,
            database_url,
            data_dir,
            storage,
            log,
            log_format,
            max_connections,
            district,
            security,
            duplicate_radius_m,
            duplicate_days,
        })
    }

    fn merge_security(file: FileSecurity, env: &BTreeMap<String, String>) -> Result<Security, ConfigError> {
        let defaults = Security::default();
        let number = |key: &str, env_key: &str, file_value: Option<u32>, default: u32| {
            positive(key, env.get(env_key), file_value, default)
        };
        let choice = |key: &str, env_key: &str, file_value: Option<String>, default: &str, allowed: &[&str]| {
            let value = env.get(env_key).cloned().or(file_value).unwrap_or_else(|| default.to_string());
            if allowed.contains(&value.as_str()) {
                Ok(value)
            } else {
                Err(ConfigError::Invalid {
                    key: key.into(),
                    reason: format!("`{value}` 应为 {}", allowed.join(" 或 ")),
                })
            }
        };
        Ok(Security {
            pi_key: env.get("CHUANGWEN_PI_KEY").map(|v| Secret::new(v.clone())).or(file.pi_key),
            pi_old_keys: match env.get("CHUANGWEN_PI_OLD_KEYS") {
                Some(v) => v.split(',').filter(|k| !k.trim().is_empty()).map(|k| Secret::new(k.trim())).collect(),
                None => file.pi_old_keys,
            },
            pi_index_key: env.get("CHUANGWEN_PI_INDEX_KEY").map(|v| Secret::new(v.clone())).or(file.pi_index_key),
            pi_cipher: choice(
                "security.pi_cipher",
                "CHUANGWEN_PI_CIPHER",
                file.pi_cipher,
                &defaults.pi_cipher,
                &["aes-256-gcm", "sm4-gcm"],
            )?,
            audit_hash: choice(
                "security.audit_hash",
                "CHUANGWEN_AUDIT_HASH",
                file.audit_hash,
                &defaults.audit_hash,
                &["sha256", "sm3"],
            )?,
            lockout_threshold: number(
                "security.lockout_threshold",
                "CHUANGWEN_LOCKOUT_THRESHOLD",
                file.lockout_threshold,
                defaults.lockout_threshold,
            )?,
            lockout_minutes: number(
                "security.lockout_minutes",
                "CHUANGWEN_LOCKOUT_MINUTES",
                file.lockout_minutes,
                defaults.lockout_minutes,
            )?,
            session_idle_minutes: number(
                "security.session_idle_minutes",
                "CHUANGWEN_SESSION_IDLE_MINUTES",
                file.session_idle_minutes,
                defaults.session_idle_minutes,
            )?,
            session_lifetime_hours: number(
                "security.session_lifetime_hours",
                "CHUANGWEN_SESSION_LIFETIME_HOURS",
                file.session_lifetime_hours,
                defaults.session_lifetime_hours,
            )?,
            secure_cookies: flag("security.secure_cookies", env.get("CHUANGWEN_SECURE_COOKIES"))?
                .or(file.secure_cookies)
                .unwrap_or(defaults.secure_cookies),
        })
    }

    /// The configuration a test uses: the given database, a temporary folder.
    pub fn for_tests(database_url: &str, data_dir: &Path) -> Config {
        Config {
            listen: "127.0.0.1:0".parse().expect("literal address"),
            database_url: DatabaseUrl::parse(database_url).expect("test database url"),
            data_dir: data_dir.to_path_buf(),
            storage: Storage::Local,
            log: "warn".into(),
            log_format: LogFormat::Text,
            max_connections: 4,
            district: None,
            security: Security::default(),
            duplicate_radius_m: 50.0,
            duplicate_days: 7,
            map: MapConfig { tile_crs: "wgs84".into(), max_zoom: 18, ..Default::default() },
        }
    }
}

/// A positive whole number from the environment, else the file, else the
/// default; a zero or a word is refused wherever it was written.
fn positive(key: &str, env_value: Option<&String>, file_value: Option<u32>, default: u32) -> Result<u32, ConfigError> {
    let (raw, value) = match env_value {
        Some(v) => (v.clone(), v.parse::<u32>().ok()),
        None => (file_value.unwrap_or(default).to_string(), Some(file_value.unwrap_or(default))),
    };
    value.filter(|n| *n > 0).ok_or_else(|| ConfigError::Invalid {
        key: key.into(),
        reason: format!("`{raw}` 应为正整数 (must be a positive integer)"),
    })
}

/// A yes/no from the environment: `true`/`false`, `1`/`0`, `yes`/`no` in
/// any case; anything else is refused rather than read as "no".
fn flag(key: &str, env_value: Option<&String>) -> Result<Option<bool>, ConfigError> {
    match env_value.map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(Some(true)),
        Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(Some(false)),
        Some(v) => Err(ConfigError::Invalid {
            key: key.into(),
            reason: format!("`{v}` 应为 true 或 false (must be true or false)"),
        }),
    }
}

fn line_of(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].matches('\n').count() + 1
}

/// The process environment as a sorted map.
pub fn process_env() -> BTreeMap<String, String> {
    std::env::vars().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_are_sqlite_on_localhost() {
        let config = Config::merge(FileConfig::default(), &env(&[])).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert!(config.database_url.is_sqlite());
        assert_eq!(config.database_url.sqlite_path().unwrap(), PathBuf::from("chuangwen.db"));
        assert_eq!(config.data_dir, PathBuf::from("./data"));
        assert_eq!(config.storage, Storage::Local);
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let file: FileConfig = toml::from_str("listen = \"127.0.0.1:9000\"\nlog = \"debug\"").unwrap();
        let config = Config::merge(file, &env(&[("CHUANGWEN_LISTEN", "127.0.0.1:9100")])).unwrap();
        assert_eq!(config.listen.port(), 9100);
        assert_eq!(config.log, "debug");
    }

    #[test]
    fn the_base_map_is_off_by_default_and_checked_when_set() {
        let config = Config::merge(FileConfig::default(), &env(&[])).unwrap();
        assert_eq!(
            (config.map.tile_url.as_str(), config.map.tile_crs.as_str(), config.map.max_zoom),
            ("", "wgs84", 18)
        );
        let file: FileConfig =
            toml::from_str("[map]\ntile_url = \"https://t{s}.example/{z}/{x}/{y}.png\"\nsubdomains = \"0123\"")
                .unwrap();
        let config = Config::merge(file, &env(&[("CHUANGWEN_MAP_TILE_CRS", "gcj02")])).unwrap();
        assert_eq!((config.map.subdomains.as_str(), config.map.tile_crs.as_str()), ("0123", "gcj02"));
        let err = Config::merge(FileConfig::default(), &env(&[("CHUANGWEN_MAP_TILE_CRS", "bd09")])).unwrap_err();
        assert!(err.to_string().contains("map.tile_crs"), "{err}");
        let err = Config::merge(FileConfig::default(), &env(&[("CHUANGWEN_MAP_TILE_URL", "https://x/tile.png")]))
            .unwrap_err();
        assert!(err.to_string().contains("{z}"), "{err}");
    }

    #[test]
    fn a_zero_or_a_stray_word_is_refused_from_the_file_as_from_the_environment() {
        let file: FileConfig = toml::from_str("[security]\nsession_idle_minutes = 0").unwrap();
        let err = Config::merge(file, &env(&[])).unwrap_err();
        assert!(err.to_string().contains("session_idle_minutes"), "{err}");
        let file: FileConfig = toml::from_str("duplicate_days = 0").unwrap();
        assert!(Config::merge(file, &env(&[])).unwrap_err().to_string().contains("duplicate_days"));
        let file: FileConfig = toml::from_str("duplicate_radius_m = 0.0").unwrap();
        assert!(Config::merge(file, &env(&[])).unwrap_err().to_string().contains("duplicate_radius_m"));
        let err = Config::merge(FileConfig::default(), &env(&[("CHUANGWEN_SECURE_COOKIES", "ture")])).unwrap_err();
        assert!(err.to_string().contains("secure_cookies"), "{err}");
        let on = Config::merge(FileConfig::default(), &env(&[("CHUANGWEN_SECURE_COOKIES", "TRUE")])).unwrap();
        assert!(on.security.secure_cookies);
        let file: FileConfig = toml::from_str("[map]\nmax_zoom = 30").unwrap();
        assert!(Config::merge(file, &env(&[])).unwrap_err().to_string().contains("map.max_zoom"));
    }

    #[test]
    fn an_unknown_key_in_the_file_is_refused() {
        let err = toml::from_str::<FileConfig>("listne = \"x\"").unwrap_err();
        assert!(err.message().contains("listne"), "{}", err.message());
    }

    #[test]
    fn an_unknown_environment_variable_is_refused() {
        let err = Config::load(None, &env(&[("CHUANGWEN_DATABSE_URL", "x")])).unwrap_err();
        assert!(err.to_string().contains("CHUANGWEN_DATABSE_URL"));
    }

    #[test]
    fn passwords_never_print() {
        let url = DatabaseUrl::parse("postgres://app:hunter2@db.example/chuangwen").unwrap();
        assert_eq!(url.redacted(), "postgres://app:******@db.example/chuangwen");
        assert!(!format!("{url:?}").contains("hunter2"));
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "****** ******");
        let s3 = S3Config { secret_access_key: Some(Secret::new("hunter2")), ..Default::default() };
        assert!(!format!("{s3:?}").contains("hunter2"));
    }

    #[test]
    fn a_bad_database_scheme_is_refused_without_echoing_the_password() {
        let err = DatabaseUrl::parse("mysql://root:hunter2@localhost/x").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
        assert!(err.to_string().contains("sqlite://"));
    }

    #[test]
    fn s3_storage_needs_a_bucket() {
        let err = Config::merge(FileConfig::default(), &env(&[("CHUANGWEN_STORAGE", "s3")])).unwrap_err();
        assert!(err.to_string().contains("storage.s3.bucket"));
    }
}

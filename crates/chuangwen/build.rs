//! Fetches the front-end packages named in `vendor/package-lock.json` from
//! npm (with `npm ci`, into OUT_DIR, never into the source tree) and writes
//! `vendor.rs`: a table of the files the binary embeds and serves under
//! `/assets/`, with one version hash for cache-busting links.

use std::fs;
use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

/// (file in node_modules, name served under /assets/, content type)
const VENDOR_FILES: &[(&str, &str, &str)] = &[
    ("leaflet/dist/leaflet.js", "leaflet.js", "text/javascript; charset=utf-8"),
    ("leaflet/dist/leaflet.css", "leaflet.css", "text/css; charset=utf-8"),
    ("leaflet/dist/images/layers.png", "images/layers.png", "image/png"),
    ("leaflet/dist/images/layers-2x.png", "images/layers-2x.png", "image/png"),
    ("leaflet/dist/images/marker-icon.png", "images/marker-icon.png", "image/png"),
    ("leaflet/dist/images/marker-icon-2x.png", "images/marker-icon-2x.png", "image/png"),
    ("leaflet/dist/images/marker-shadow.png", "images/marker-shadow.png", "image/png"),
    ("leaflet.markercluster/dist/leaflet.markercluster.js", "markercluster.js", "text/javascript; charset=utf-8"),
    ("leaflet.markercluster/dist/MarkerCluster.css", "markercluster.css", "text/css; charset=utf-8"),
    ("leaflet.markercluster/dist/MarkerCluster.Default.css", "markercluster-default.css", "text/css; charset=utf-8"),
    ("echarts/dist/echarts.min.js", "echarts.js", "text/javascript; charset=utf-8"),
];

/// The font PDF reports are set in (Noto Sans SC, SIL Open Font License),
/// embedded so a PDF prints Chinese on any machine; subset into each PDF.
const REPORT_FONT: &str = "@expo-google-fonts/noto-sans-sc/400Regular/NotoSansSC_400Regular.ttf";

/// The project's own assets (served as written).
const OWN_FILES: &[(&str, &str)] = &[
    ("app.css", "text/css; charset=utf-8"),
    ("report.js", "text/javascript; charset=utf-8"),
    ("import.js", "text/javascript; charset=utf-8"),
    ("cases.js", "text/javascript; charset=utf-8"),
    ("map.js", "text/javascript; charset=utf-8"),
    ("dispatch.js", "text/javascript; charset=utf-8"),
    ("dashboard.js", "text/javascript; charset=utf-8"),
    ("evaluation.js", "text/javascript; charset=utf-8"),
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let vendor = manifest.join("vendor");
    println!("cargo:rerun-if-changed=vendor/package.json");
    println!("cargo:rerun-if-changed=vendor/package-lock.json");
    println!("cargo:rerun-if-changed=assets");

    let npm_dir = out.join("npm");
    let lock = fs::read(vendor.join("package-lock.json")).expect("vendor/package-lock.json");
    let installed = npm_dir.join("package-lock.json");
    let fresh = fs::read(&installed).ok().as_deref() == Some(&lock[..])
        && VENDOR_FILES.iter().all(|(from, _, _)| npm_dir.join("node_modules").join(from).exists())
        && npm_dir.join("node_modules").join(REPORT_FONT).exists();
    if !fresh {
        fs::create_dir_all(&npm_dir).expect("create OUT_DIR/npm");
        fs::copy(vendor.join("package.json"), npm_dir.join("package.json")).expect("copy package.json");
        fs::copy(vendor.join("package-lock.json"), &installed).expect("copy package-lock.json");
        ensure_npm();
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"])
            .current_dir(&npm_dir)
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => {
                panic!("`npm ci` for the embedded front-end packages failed ({s}); is the npm registry reachable?")
            }
            Err(e) => {
                panic!("building Chuangwen needs Node.js and npm for its front-end packages (Leaflet, ECharts): {e}")
            }
        }
    }

    let mut hasher = DefaultHasher::new();
    let mut table = String::from("/// Files served under `/assets/`: (name, content type, bytes).\n");
    table.push_str("pub static ASSETS: &[(&str, &str, &[u8])] = &[\n");
    for (from, name, content_type) in VENDOR_FILES {
        let path = npm_dir.join("node_modules").join(from);
        add(&mut table, &mut hasher, name, content_type, &path);
    }
    for (name, content_type) in OWN_FILES {
        let path = manifest.join("assets").join(name);
        add(&mut table, &mut hasher, name, content_type, &path);
    }
    table.push_str("];\n");
    table.push_str(&format!(
        "/// A hash of every asset, appended to links so browsers fetch changed files at once.\n\
         pub const ASSET_VERSION: &str = \"{:012x}\";\n",
        hasher.finish() & 0xffff_ffff_ffff
    ));
    table.push_str(&format!(
        "/// The font of PDF reports (TrueType).\npub static REPORT_FONT: &[u8] = include_bytes!({:?});\n",
        npm_dir.join("node_modules").join(REPORT_FONT).display().to_string()
    ));
    fs::write(out.join("assets.rs"), table).expect("write assets.rs");
}

/// Node.js and npm come from Debian's packages: installed here when missing
/// and the build runs as root (as on a fresh machine), so `cargo run` is
/// still the only command a new user types.
fn ensure_npm() {
    let has_npm = Command::new("npm").arg("--version").output().is_ok_and(|o| o.status.success());
    if has_npm {
        return;
    }
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0"));
    if root && Path::new("/usr/bin/apt-get").exists() {
        println!("cargo:warning=installing Debian's nodejs and npm for the embedded front-end packages");
        let _ = Command::new("apt-get").args(["update", "-qq"]).status();
        let installed = Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends", "nodejs", "npm"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .is_ok_and(|s| s.success());
        if installed {
            return;
        }
    }
    panic!(
        "building Chuangwen needs Node.js and npm for its front-end packages (Leaflet, ECharts): install Debian's `nodejs` and `npm`"
    );
}

fn add(table: &mut String, hasher: &mut DefaultHasher, name: &str, content_type: &str, path: &Path) {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    hasher.write(name.as_bytes());
    hasher.write(&bytes);
    table.push_str(&format!("    ({name:?}, {content_type:?}, include_bytes!({:?})),\n", path.display().to_string()));
}

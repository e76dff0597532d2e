//! Coordinates: everything is stored as WGS-84. Chinese map providers hand
//! out GCJ-02 (Amap, Tencent, 天地图 in some layers) or BD-09 (Baidu), which
//! are converted on the way in (PRODUCT.md M2).
//!
//! GCJ-02 is the published "offset" transform on the Krasovsky 1940
//! ellipsoid; it has no closed-form inverse, so GCJ-02 → WGS-84 iterates the
//! forward transform until it moves less than a millimetre. Outside China the
//! transform is the identity, as every implementation agrees.

use std::f64::consts::PI;

/// A coordinate reference system that input may arrive in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Crs {
    /// WGS-84 (GPS, GeoJSON's own).
    Wgs84,
    /// GCJ-02 (国测局坐标, Amap / Tencent).
    Gcj02,
    /// BD-09 (Baidu).
    Bd09,
}

impl Crs {
    /// Parses `wgs84`, `gcj02` or `bd09` (also their Chinese names).
    pub fn parse(raw: &str) -> Option<Crs> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "wgs84" | "wgs-84" | "epsg:4326" | "gps" => Some(Crs::Wgs84),
            "gcj02" | "gcj-02" | "火星坐标" | "国测局坐标" | "高德" => Some(Crs::Gcj02),
            "bd09" | "bd-09" | "百度" | "百度坐标" => Some(Crs::Bd09),
            _ => None,
        }
    }
    /// The code used in forms and reports.
    pub fn code(self) -> &'static str {
        match self {
            Crs::Wgs84 => "wgs84",
            Crs::Gcj02 => "gcj02",
            Crs::Bd09 => "bd09",
        }
    }
    /// Converts `(lon, lat)` in this system to WGS-84.
    pub fn to_wgs84(self, lon: f64, lat: f64) -> (f64, f64) {
        match self {
            Crs::Wgs84 => (lon, lat),
            Crs::Gcj02 => gcj02_to_wgs84(lon, lat),
            Crs::Bd09 => {
                let (lon, lat) = bd09_to_gcj02(lon, lat);
                gcj02_to_wgs84(lon, lat)
            }
        }
    }
}

// Krasovsky 1940 semi-major axis and eccentricity squared, as the GCJ-02
// transform uses them.
const KRASOVSKY_A: f64 = 6_378_245.0;
const KRASOVSKY_EE: f64 = 0.006_693_421_622_965_943;
const BD_X_PI: f64 = PI * 3000.0 / 180.0;

/// True where the offset does not apply.
pub fn outside_china(lon: f64, lat: f64) -> bool {
    !(73.66..=135.05).contains(&lon) || !(3.86..=53.55).contains(&lat)
}

fn offset_lat(x: f64, y: f64) -> f64 {
    let mut d = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    d += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    d += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    d += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    d
}

fn offset_lon(x: f64, y: f64) -> f64 {
    let mut d = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    d += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    d += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    d += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    d
}

/// WGS-84 → GCJ-02.
pub fn wgs84_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    if outside_china(lon, lat) {
        return (lon, lat);
    }
    let rad_lat = lat / 180.0 * PI;
    let magic = 1.0 - KRASOVSKY_EE * rad_lat.sin() * rad_lat.sin();
    let sqrt_magic = magic.sqrt();
    let d_lat = offset_lat(lon - 105.0, lat - 35.0) * 180.0
        / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrt_magic) * PI);
    let d_lon = offset_lon(lon - 105.0, lat - 35.0) * 180.0 / (KRASOVSKY_A / sqrt_magic * rad_lat.cos() * PI);
    (lon + d_lon, lat + d_lat)
}

/// GCJ-02 → WGS-84, by fixed-point iteration of the forward transform.
pub fn gcj02_to_wgs84(lon: f64, lat: f64) -> (f64, f64) {
    if outside_china(lon, lat) {
        return (lon, lat);
    }
    let (mut w_lon, mut w_lat) = (lon, lat);
    for _ in 0..30 {
        let (g_lon, g_lat) = wgs84_to_gcj02(w_lon, w_lat);
        let (e_lon, e_lat) = (g_lon - lon, g_lat - lat);
        w_lon -= e_lon;
        w_lat -= e_lat;
        if e_lon.abs() < 1e-10 && e_lat.abs() < 1e-10 {
            break;
        }
    }
    (w_lon, w_lat)
}

/// BD-09 → GCJ-02 (Baidu's published offset over GCJ-02).
pub fn bd09_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    let x = lon - 0.0065;
    let y = lat - 0.006;
    let z = (x * x + y * y).sqrt() - 0.000_02 * (y * BD_X_PI).sin();
    let theta = y.atan2(x) - 0.000_003 * (x * BD_X_PI).cos();
    (z * theta.cos(), z * theta.sin())
}

/// GCJ-02 → BD-09.
pub fn gcj02_to_bd09(lon: f64, lat: f64) -> (f64, f64) {
    let z = (lon * lon + lat * lat).sqrt() + 0.000_02 * (lat * BD_X_PI).sin();
    let theta = lat.atan2(lon) + 0.000_003 * (lon * BD_X_PI).cos();
    (z * theta.cos() + 0.0065, z * theta.sin() + 0.006)
}

/// Distance in metres between two WGS-84 points (haversine, mean radius).
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let r = 6_371_008.8;
    let (lat1, lat2) = (a.1.to_radians(), b.1.to_radians());
    let d_lat = lat2 - lat1;
    let d_lon = (b.0 - a.0).to_radians();
    let h = (d_lat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (d_lon / 2.0).sin().powi(2);
    2.0 * r * h.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference pairs published with the widely used `coordtransform`
    // library (wandergis/coordtransform, test/app.js), input (116.404, 39.915).
    const INPUT: (f64, f64) = (116.404, 39.915);

    fn close(a: (f64, f64), b: (f64, f64), tolerance: f64) -> bool {
        (a.0 - b.0).abs() < tolerance && (a.1 - b.1).abs() < tolerance
    }

    #[test]
    fn wgs84_to_gcj02_matches_the_reference_pair() {
        let got = wgs84_to_gcj02(INPUT.0, INPUT.1);
        assert!(close(got, (116.41024449916938, 39.91640428150164), 1e-9), "{got:?}");
    }

    #[test]
    fn bd09_to_gcj02_and_back_match_the_reference_pairs() {
        let got = bd09_to_gcj02(INPUT.0, INPUT.1);
        assert!(close(got, (116.39762729119315, 39.90865673957631), 1e-9), "{got:?}");
        let got = gcj02_to_bd09(INPUT.0, INPUT.1);
        assert!(close(got, (116.41036949371029, 39.92133699351021), 1e-9), "{got:?}");
    }

    #[test]
    fn gcj02_to_wgs84_agrees_with_the_reference_within_a_metre() {
        // The reference uses a one-step approximation of the inverse; ours
        // iterates, so the two agree to well under a metre.
        let got = gcj02_to_wgs84(INPUT.0, INPUT.1);
        let reference = (116.39775550083061, 39.91359571849836);
        assert!(distance_m(got, reference) < 1.0, "{got:?}");
    }

    #[test]
    fn gcj02_round_trips_to_a_millimetre_across_the_country() {
        for lon in [75.0, 100.5, 116.404, 117.2, 121.47, 134.9] {
            for lat in [18.3, 30.0, 39.1, 45.75, 53.0] {
                let (w_lon, w_lat) = gcj02_to_wgs84(lon, lat);
                let back = wgs84_to_gcj02(w_lon, w_lat);
                assert!(distance_m(back, (lon, lat)) < 0.001, "{lon},{lat} → {back:?}");
            }
        }
    }

    #[test]
    fn bd09_input_lands_a_few_hundred_metres_from_wgs84() {
        // Baidu's offset over WGS-84 in Tianjin is known to be several hundred metres.
        let (lon, lat) = Crs::Bd09.to_wgs84(117.2, 39.12);
        let d = distance_m((lon, lat), (117.2, 39.12));
        assert!((500.0..1500.0).contains(&d), "{d}");
    }

    #[test]
    fn coordinates_outside_china_are_left_alone() {
        assert_eq!(wgs84_to_gcj02(2.35, 48.85), (2.35, 48.85));
        assert_eq!(gcj02_to_wgs84(2.35, 48.85), (2.35, 48.85));
    }

    #[test]
    fn crs_names_parse_in_both_languages() {
        assert_eq!(Crs::parse("GCJ02"), Some(Crs::Gcj02));
        assert_eq!(Crs::parse("百度"), Some(Crs::Bd09));
        assert_eq!(Crs::parse("wgs84"), Some(Crs::Wgs84));
        assert_eq!(Crs::parse("utm"), None);
    }
}

//! Plane geometry on WGS-84 coordinates at district scale: polygon checks,
//! containment, area. Grid cells and point areas are simple polygons of a few
//! dozen vertices, so the straightforward algorithms are the right ones.

/// A simple polygon: one closed outer ring of `(lon, lat)` positions, the
/// first equal to the last.
#[derive(Clone, Debug, PartialEq)]
pub struct Polygon {
    ring: Vec<(f64, f64)>,
}

/// Why a ring is not a usable polygon (messages are shown to people).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolygonError {
    /// Fewer than three distinct corners.
    #[error("边界至少需要 3 个不同的顶点")]
    TooFewPoints,
    /// The last position differs from the first.
    #[error("边界未闭合：首尾坐标应相同")]
    NotClosed,
    /// A coordinate is not a number or is off the globe.
    #[error("坐标超出范围：经度应在 -180～180，纬度应在 -90～90")]
    OutOfRange,
    /// Two edges cross.
    #[error("边界自相交")]
    SelfIntersecting,
    /// The ring encloses nothing.
    #[error("边界面积为零")]
    ZeroArea,
}

/// Checks one coordinate pair.
pub fn valid_position(lon: f64, lat: f64) -> bool {
    lon.is_finite() && lat.is_finite() && (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat)
}

impl Polygon {
    /// Builds a polygon from a closed ring, refusing rings that are not simple.
    pub fn new(ring: Vec<(f64, f64)>) -> Result<Polygon, PolygonError> {
        if ring.iter().any(|&(lon, lat)| !valid_position(lon, lat)) {
            return Err(PolygonError::OutOfRange);
        }
        if ring.len() < 4 {
            return Err(PolygonError::TooFewPoints);
        }
        if ring.first() != ring.last() {
            return Err(PolygonError::NotClosed);
        }
        let polygon = Polygon { ring };
        let mut corners = polygon.ring[..polygon.ring.len() - 1].to_vec();
        corners.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        corners.dedup();
        if corners.len() < 3 {
            return Err(PolygonError::TooFewPoints);
        }
        if polygon.self_intersects() {
            return Err(PolygonError::SelfIntersecting);
        }
        if polygon.signed_area_deg2().abs() < 1e-14 {
            return Err(PolygonError::ZeroArea);
        }
        Ok(polygon)
    }

    /// The closed ring.
    pub fn ring(&self) -> &[(f64, f64)] {
        &self.ring
    }

    /// `(min_lon, min_lat, max_lon, max_lat)`.
    pub fn bbox(&self) -> (f64, f64, f64, f64) {
        self.ring
            .iter()
            .fold((f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY), |(a, b, c, d), &(x, y)| {
                (a.min(x), b.min(y), c.max(x), d.max(y))
            })
    }

    /// True when the point is inside or on the boundary.
    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        let mut inside = false;
        for edge in self.ring.windows(2) {
            let ((x1, y1), (x2, y2)) = (edge[0], edge[1]);
            if on_segment((lon, lat), edge[0], edge[1]) {
                return true;
            }
            if (y1 > lat) != (y2 > lat) {
                let x_cross = x1 + (lat - y1) * (x2 - x1) / (y2 - y1);
                if lon < x_cross {
                    inside = !inside;
                }
            }
        }
        inside
    }

    /// The ring relative to its first vertex: cross products of absolute
    /// coordinates near (117, 39) would cancel away most of their precision.
    fn relative(&self) -> impl Iterator<Item = ((f64, f64), (f64, f64))> + '_ {
        let (ox, oy) = self.ring[0];
        self.ring.windows(2).map(move |e| ((e[0].0 - ox, e[0].1 - oy), (e[1].0 - ox, e[1].1 - oy)))
    }

    fn signed_area_deg2(&self) -> f64 {
        self.relative().map(|(a, b)| a.0 * b.1 - b.0 * a.1).sum::<f64>() / 2.0
    }

    /// Area in square metres (local equirectangular projection: exact
    /// enough for cells of a few hundred metres).
    pub fn area_m2(&self) -> f64 {
        let (_, min_lat, _, max_lat) = self.bbox();
        let mid = ((min_lat + max_lat) / 2.0).to_radians();
        let metres_per_deg_lat = 110_574.0;
        let metres_per_deg_lon = 111_320.0 * mid.cos();
        self.signed_area_deg2().abs() * metres_per_deg_lat * metres_per_deg_lon
    }

    /// The centroid of the area.
    pub fn centroid(&self) -> (f64, f64) {
        let a = self.signed_area_deg2();
        let (mut cx, mut cy) = (0.0, 0.0);
        for (p, q) in self.relative() {
            let cross = p.0 * q.1 - q.0 * p.1;
            cx += (p.0 + q.0) * cross;
            cy += (p.1 + q.1) * cross;
        }
        (self.ring[0].0 + cx / (6.0 * a), self.ring[0].1 + cy / (6.0 * a))
    }

    fn self_intersects(&self) -> bool {
        let edges: Vec<_> = self.ring.windows(2).map(|e| (e[0], e[1])).collect();
        let n = edges.len();
        for i in 0..n {
            for j in (i + 1)..n {
                // Neighbouring edges share a corner; that is not a crossing.
                if j == i + 1 || (i == 0 && j == n - 1) {
                    continue;
                }
                if segments_intersect(edges[i].0, edges[i].1, edges[j].0, edges[j].1) {
                    return true;
                }
            }
        }
        false
    }

    /// The polygon as a GeoJSON geometry value.
    pub fn to_geojson_value(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "Polygon",
            "coordinates": [self.ring.iter().map(|&(x, y)| [x, y]).collect::<Vec<_>>()],
        })
    }

    /// Reads the outer ring of a GeoJSON Polygon geometry.
    pub fn from_geojson_value(value: &serde_json::Value) -> Result<Polygon, String> {
        if value.get("type").and_then(|t| t.as_str()) != Some("Polygon") {
            return Err("几何类型应为 Polygon".into());
        }
        let ring =
            value.get("coordinates").and_then(|c| c.get(0)).and_then(|r| r.as_array()).ok_or("Polygon 缺少坐标")?;
        let mut out = Vec::with_capacity(ring.len());
        for position in ring {
            let lon = position.get(0).and_then(|v| v.as_f64());
            let lat = position.get(1).and_then(|v| v.as_f64());
            match (lon, lat) {
                (Some(lon), Some(lat)) => out.push((lon, lat)),
                _ => return Err("坐标应为 [经度, 纬度] 数字".into()),
            }
        }
        Polygon::new(out).map_err(|e| e.to_string())
    }

    /// Converts every vertex with `f` (e.g. GCJ-02 → WGS-84).
    pub fn map(&self, f: impl Fn(f64, f64) -> (f64, f64)) -> Polygon {
        Polygon { ring: self.ring.iter().map(|&(x, y)| f(x, y)).collect() }
    }
}

fn orientation(a: (f64, f64), b: (f64, f64), c: (f64, f64)) -> f64 {
    (b.0 - a.0) * (c.1 - a.1) - (b.1 - a.1) * (c.0 - a.0)
}

fn on_segment(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> bool {
    orientation(a, b, p).abs() < 1e-15
        && p.0 >= a.0.min(b.0)
        && p.0 <= a.0.max(b.0)
        && p.1 >= a.1.min(b.1)
        && p.1 <= a.1.max(b.1)
}

fn segments_intersect(p1: (f64, f64), p2: (f64, f64), q1: (f64, f64), q2: (f64, f64)) -> bool {
    let d1 = orientation(q1, q2, p1);
    let d2 = orientation(q1, q2, p2);
    let d3 = orientation(p1, p2, q1);
    let d4 = orientation(p1, p2, q2);
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0)) && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0)) {
        return true;
    }
    on_segment(p1, q1, q2) || on_segment(p2, q1, q2) || on_segment(q1, p1, p2) || on_segment(q2, p1, p2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> Polygon {
        Polygon::new(vec![(117.0, 39.0), (117.01, 39.0), (117.01, 39.01), (117.0, 39.01), (117.0, 39.0)]).unwrap()
    }

    #[test]
    fn a_point_inside_a_square_is_contained_and_one_outside_is_not() {
        let s = square();
        assert!(s.contains(117.005, 39.005));
        assert!(s.contains(117.0, 39.005), "on the boundary counts");
        assert!(!s.contains(117.02, 39.005));
        assert!(!s.contains(117.005, 38.99));
    }

    #[test]
    fn a_square_of_about_865_by_1106_metres_has_that_area() {
        // 0.01° of latitude is 1,105.7 m; 0.01° of longitude at 39° N is 865.0 m.
        let area = square().area_m2();
        assert!((area - 956_500.0).abs() < 2_000.0, "{area}");
    }

    #[test]
    fn open_crossed_and_degenerate_rings_are_refused() {
        assert_eq!(
            Polygon::new(vec![(117.0, 39.0), (117.01, 39.0), (117.01, 39.01), (117.0, 39.01)]),
            Err(PolygonError::NotClosed)
        );
        assert_eq!(
            Polygon::new(vec![(117.0, 39.0), (117.01, 39.01), (117.01, 39.0), (117.0, 39.01), (117.0, 39.0)]),
            Err(PolygonError::SelfIntersecting)
        );
        assert_eq!(Polygon::new(vec![(117.0, 39.0), (117.01, 39.0), (117.0, 39.0)]), Err(PolygonError::TooFewPoints));
        assert_eq!(
            Polygon::new(vec![(217.0, 39.0), (117.01, 39.0), (117.01, 39.01), (217.0, 39.0)]),
            Err(PolygonError::OutOfRange)
        );
    }

    #[test]
    fn the_centroid_of_a_square_is_its_middle() {
        let (x, y) = square().centroid();
        assert!((x - 117.005).abs() < 1e-9 && (y - 39.005).abs() < 1e-9);
    }

    #[test]
    fn geojson_round_trips() {
        let s = square();
        assert_eq!(Polygon::from_geojson_value(&s.to_geojson_value()).unwrap(), s);
        let err = Polygon::from_geojson_value(&serde_json::json!({"type": "Point", "coordinates": [1, 2]}));
        assert!(err.unwrap_err().contains("Polygon"));
    }
}

//! Places (PRODUCT.md M2): grid-cell codes and evaluation point types.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// A 15-digit grid-cell code: 6-digit county code (GB/T 2260) + 3-digit
/// street + 3-digit community + 3-digit cell (CJ/T 213-2005, kept in
/// GB/T 30428.1 and GB/T 47678.3; shared/reference/standards-zh.md §1.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GridCode(String);

impl GridCode {
    /// Parses a code: exactly 15 ASCII digits.
    pub fn parse(raw: &str) -> Result<GridCode, String> {
        let raw = raw.trim();
        if raw.len() != 15 || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "网格编码应为 15 位数字（区县 6 位 + 街道 3 位 + 社区 3 位 + 网格 3 位），实际为“{raw}”"
            ));
        }
        Ok(GridCode(raw.to_string()))
    }
    /// The whole code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The 6-digit county (district) code.
    pub fn county(&self) -> &str {
        &self.0[..6]
    }
    /// The 9-digit street code (county + street).
    pub fn street(&self) -> &str {
        &self.0[..9]
    }
    /// The 12-digit community code (county + street + community).
    pub fn community(&self) -> &str {
        &self.0[..12]
    }
}

impl TryFrom<String> for GridCode {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        GridCode::parse(&value)
    }
}

impl From<GridCode> for String {
    fn from(code: GridCode) -> String {
        code.0
    }
}

impl std::fmt::Display for GridCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One type of evaluation point (点位类型), from `data/point_types.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct PointType {
    /// English code used in the database and the API.
    pub code: String,
    /// Chinese name shown to people.
    pub name: String,
    /// Usually mapped as an area rather than a spot.
    #[serde(default)]
    pub area: bool,
}

#[derive(Deserialize)]
struct PointTypeFile {
    #[serde(rename = "type")]
    types: Vec<PointType>,
}

/// The point types shipped with the binary.
pub fn point_types() -> &'static [PointType] {
    static TYPES: OnceLock<Vec<PointType>> = OnceLock::new();
    TYPES.get_or_init(|| {
        toml::from_str::<PointTypeFile>(include_str!("../../data/point_types.toml"))
            .expect("data/point_types.toml is checked by a unit test")
            .types
    })
}

/// Finds a point type by its code or its Chinese name.
pub fn point_type(raw: &str) -> Option<&'static PointType> {
    let raw = raw.trim();
    point_types().iter().find(|t| t.code == raw || t.name == raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grid_code_splits_into_county_street_and_community() {
        let code = GridCode::parse("120199001002003").unwrap();
        assert_eq!(code.county(), "120199");
        assert_eq!(code.street(), "120199001");
        assert_eq!(code.community(), "120199001002");
    }

    #[test]
    fn grid_codes_of_the_wrong_length_or_with_letters_are_refused() {
        for bad in ["12019900100200", "1201990010020031", "12019900100200A", ""] {
            let err = GridCode::parse(bad).unwrap_err();
            assert!(err.contains("15 位"), "{err}");
        }
    }

    #[test]
    fn the_shipped_point_types_parse_and_have_unique_codes_and_names() {
        let types = point_types();
        assert!(types.len() >= 14, "PRODUCT.md M2 lists at least 14 types");
        let mut codes: Vec<_> = types.iter().map(|t| &t.code).collect();
        let mut names: Vec<_> = types.iter().map(|t| &t.name).collect();
        codes.sort();
        codes.dedup();
        names.sort();
        names.dedup();
        assert_eq!(codes.len(), types.len());
        assert_eq!(names.len(), types.len());
        assert_eq!(point_type("农贸市场").unwrap().code, "farmers_market");
        assert_eq!(point_type("bus_stop").unwrap().name, "公交站");
        assert!(point_type("游乐场").is_none());
    }
}

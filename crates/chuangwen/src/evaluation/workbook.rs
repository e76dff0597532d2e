//! An evaluation system as an Excel workbook, the form districts keep theirs
//! in: a sheet 说明 (year, version, title), a sheet 测评体系 (one row per
//! standard, its content and project repeated), a sheet 检查清单 (one row per
//! item). Written from the system and read back into it; every bad row is
//! named.

use std::collections::HashMap;

use crate::domain::evaluation::{CheckItem, Checklist, Content, EvaluationSystem, Method, Project, Rule, Standard};
use crate::sheet::{Table, TableRow, read_sheets};

const INFO: &str = "说明";
const TREE: &str = "测评体系";
const ITEMS: &str = "检查清单";
const TREE_HEADERS: [&str; 10] = [
    "项目编码",
    "测评项目",
    "内容编码",
    "测评内容",
    "标准编码",
    "测评标准",
    "分值",
    "测评方法",
    "牵头单位",
    "配合单位",
];
const ITEM_HEADERS: [&str; 9] =
    ["点位类型", "检查项编码", "检查内容", "测评标准", "问题分类", "分值", "扣分方式", "每处扣分", "最多扣分"];
const PER_OCCURRENCE: &str = "按处扣分";
const PASS_FAIL: &str = "不合格扣分";

fn number(value: f64) -> String {
    let text = format!("{value}");
    text.trim_end_matches(".0").to_string()
}

/// Writes the system as a workbook.
pub fn export(system: &EvaluationSystem) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let info = book.add_worksheet().set_name(INFO)?;
    info.write_with_format(0, 0, "项目", &bold)?;
    info.write_with_format(0, 1, "内容", &bold)?;
    for (r, (key, value)) in
        [("年度", system.year.to_string()), ("版本", system.version.clone()), ("名称", system.title.clone())]
            .iter()
            .enumerate()
    {
        info.write(r as u32 + 1, 0, *key)?;
        info.write(r as u32 + 1, 1, value)?;
    }
    let tree = book.add_worksheet().set_name(TREE)?;
    for (c, h) in TREE_HEADERS.iter().enumerate() {
        tree.write_with_format(0, c as u16, *h, &bold)?;
    }
    let mut r = 1u32;
    for p in &system.projects {
        for c in &p.contents {
            for s in &c.standards {
                let cells = [
                    p.code.clone(),
                    p.name.clone(),
                    c.code.clone(),
                    c.name.clone(),
                    s.code.clone(),
                    s.text.clone(),
                    number(s.points),
                    s.method.label().to_string(),
                    s.lead.clone(),
                    s.co.join("、"),
                ];
                for (col, cell) in cells.iter().enumerate() {
                    tree.write_string(r, col as u16, cell)?;
                }
                r += 1;
            }
        }
    }
    let items = book.add_worksheet().set_name(ITEMS)?;
    for (c, h) in ITEM_HEADERS.iter().enumerate() {
        items.write_with_format(0, c as u16, *h, &bold)?;
    }
    let mut r = 1u32;
    for list in &system.checklists {
        for i in &list.items {
            let (kind, per, most) = match i.rule {
                Rule::PerOccurrence { per, cap } => (PER_OCCURRENCE, number(per), number(cap)),
                Rule::PassFail { fail } => (PASS_FAIL, String::new(), number(fail)),
            };
            let type_name = crate::domain::places::point_type(&list.point_type)
                .map(|t| t.name.clone())
                .unwrap_or_else(|| list.point_type.clone());
            let cells = [
                type_name,
                i.code.clone(),
                i.criterion.clone(),
                i.standard.clone(),
                i.category.clone(),
                number(i.weight),
                kind.to_string(),
                per,
                most,
            ];
            for (col, cell) in cells.iter().enumerate() {
                items.write_string(r, col as u16, cell)?;
            }
            r += 1;
        }
    }
    book.save_to_buffer()
}

/// Column positions of a sheet by header; missing headers named.
fn columns<'a>(table: &Table, sheet: &str, wanted: &[&'a str]) -> Result<HashMap<&'a str, usize>, String> {
    let mut found = HashMap::new();
    let mut missing = Vec::new();
    for w in wanted {
        match table.headers.iter().position(|h| h == w) {
            Some(i) => {
                found.insert(*w, i);
            }
            None => missing.push(*w),
        }
    }
    if missing.is_empty() { Ok(found) } else { Err(format!("“{sheet}”表缺少列：{}", missing.join("、"))) }
}

fn cell<'r>(row: &'r TableRow, cols: &HashMap<&str, usize>, name: &str) -> &'r str {
    cols.get(name).map(|i| row.cell(*i)).unwrap_or("")
}

/// Reads a workbook written by [`export`] (or by a district in its form).
pub fn import(bytes: &[u8]) -> Result<EvaluationSystem, String> {
    let sheets = read_sheets(bytes)?;
    let sheet = |name: &str| sheets.iter().find(|(n, _)| n == name).map(|(_, t)| t);
    let info = sheet(INFO).ok_or_else(|| format!("缺少“{INFO}”表（年度、版本、名称）"))?;
    let tree = sheet(TREE).ok_or_else(|| format!("缺少“{TREE}”表"))?;
    let value =
        |key: &str| info.rows.iter().find(|r| r.cell(0) == key).map(|r| r.cell(1).to_string()).unwrap_or_default();
    let mut problems = Vec::new();
    let year = value("年度").parse::<i32>().ok().filter(|y| (2000..=2100).contains(y));
    if year.is_none() {
        problems.push(format!("“{INFO}”表的年度应为四位数年份"));
    }
    let (version, title) = (value("版本"), value("名称"));
    if version.is_empty() || title.is_empty() {
        problems.push(format!("“{INFO}”表应填写版本和名称"));
    }
    let cols = columns(tree, TREE, &TREE_HEADERS)?;
    let mut projects: Vec<Project> = Vec::new();
    for row in &tree.rows {
        let at = |name| cell(row, &cols, name);
        let points = at("分值").parse::<f64>();
        let method = Method::parse(at("测评方法"));
        if points.is_err() {
            problems.push(format!("“{TREE}”第 {} 行：分值“{}”不是数字", row.row, at("分值")));
        }
        if method.is_none() {
            problems.push(format!(
                "“{TREE}”第 {} 行：测评方法“{}”应为实地考察、材料审核、问卷调查、网上申报或部门评价",
                row.row,
                at("测评方法")
            ));
        }
        let (Ok(points), Some(method)) = (points, method) else { continue };
        let standard = Standard {
            code: at("标准编码").to_string(),
            text: at("测评标准").to_string(),
            points,
            method,
            lead: at("牵头单位").to_string(),
            co: at("配合单位")
                .split(['、', ',', '，'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
        };
        let project = match projects.iter_mut().position(|p| p.code == at("项目编码")) {
            Some(i) => &mut projects[i],
            None => {
                projects.push(Project {
                    code: at("项目编码").into(), name: at("测评项目").into(), contents: vec![]
                });
                projects.last_mut().expect("just pushed")
            }
        };
        let content = match project.contents.iter_mut().position(|c| c.code == at("内容编码")) {
            Some(i) => &mut project.contents[i],
            None => {
                project.contents.push(Content {
                    code: at("内容编码").into(),
                    name: at("测评内容").into(),
                    standards: vec![],
                });
                project.contents.last_mut().expect("just pushed")
            }
        };
        content.standards.push(standard);
    }
    let mut checklists: Vec<Checklist> = Vec::new();
    if let Some(items) = sheet(ITEMS) {
        let cols = columns(items, ITEMS, &ITEM_HEADERS)?;
        for row in &items.rows {
            let at = |name| cell(row, &cols, name);
            let Some(point_type) = crate::domain::places::point_type(at("点位类型")) else {
                problems.push(format!("“{ITEMS}”第 {} 行：未知的点位类型“{}”", row.row, at("点位类型")));
                continue;
            };
            let num = |name| at(name).parse::<f64>().ok();
            let rule = match (at("扣分方式"), num("每处扣分"), num("最多扣分")) {
                (PER_OCCURRENCE, Some(per), Some(cap)) => Rule::PerOccurrence { per, cap },
                (PASS_FAIL, _, Some(fail)) => Rule::PassFail { fail },
                _ => {
                    problems.push(format!(
                        "“{ITEMS}”第 {} 行：扣分方式应为“{PER_OCCURRENCE}”（填每处扣分和最多扣分）或“{PASS_FAIL}”（填最多扣分）",
                        row.row
                    ));
                    continue;
                }
            };
            let Some(weight) = num("分值") else {
                problems.push(format!("“{ITEMS}”第 {} 行：分值“{}”不是数字", row.row, at("分值")));
                continue;
            };
            let item = CheckItem {
                code: at("检查项编码").into(),
                criterion: at("检查内容").into(),
                standard: at("测评标准").into(),
                category: at("问题分类").into(),
                weight,
                rule,
            };
            match checklists.iter_mut().find(|c| c.point_type == point_type.code) {
                Some(list) => list.items.push(item),
                None => checklists.push(Checklist { point_type: point_type.code.clone(), items: vec![item] }),
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("；"));
    }
    let system = EvaluationSystem { year: year.unwrap_or_default(), version, title, projects, checklists };
    let problems = system.problems();
    if problems.is_empty() { Ok(system) } else { Err(problems.join("；")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_goes_out_and_comes_back_the_same() {
        let sample = crate::domain::evaluation::shipped();
        let bytes = export(sample).unwrap();
        assert_eq!(&import(&bytes).unwrap(), sample);
    }

    #[test]
    fn a_bad_workbook_names_its_rows() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let info = book.add_worksheet().set_name(INFO).unwrap();
        info.write(0, 0, "项目").unwrap();
        info.write(0, 1, "内容").unwrap();
        info.write(1, 0, "年度").unwrap();
        info.write(1, 1, "明年").unwrap();
        let tree = book.add_worksheet().set_name(TREE).unwrap();
        for (c, h) in TREE_HEADERS.iter().enumerate() {
            tree.write(0, c as u16, *h).unwrap();
        }
        for (c, v) in ["01", "甲", "01.01", "乙", "01.01.01", "丙", "五分", "随便看看", "D001", ""].iter().enumerate()
        {
            tree.write(1, c as u16, *v).unwrap();
        }
        let err = import(&book.save_to_buffer().unwrap()).unwrap_err();
        assert!(err.contains("年度应为四位数年份"), "{err}");
        assert!(err.contains("第 2 行：分值“五分”不是数字"), "{err}");
        assert!(err.contains("测评方法“随便看看”"), "{err}");
        assert!(import(b"PK\x03\x04junk").unwrap_err().contains("无法打开"));
    }
}

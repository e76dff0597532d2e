//! Supervision output (PRODUCT.md M4, M5): the daily inspection sheet
//! (督察单) of each unit, the weekly coordination report (周报), bulletins
//! (通报) and rectification-order batches (整改单). Each is built once as a
//! `Document` and written as a print-ready page, PDF, xlsx and (the weekly
//! report) docx by `render`.

pub mod build;
pub mod render;

use serde::{Deserialize, Serialize};

/// A report, in a form every output can write.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// Title (督察单, 创文工作周报…).
    pub title: String,
    /// Who and when, under the title.
    pub subtitle: String,
    /// The body.
    pub blocks: Vec<Block>,
}

/// A part of a document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    /// A section heading.
    Heading {
        /// Its text.
        text: String,
    },
    /// A paragraph.
    Paragraph {
        /// Its text.
        text: String,
    },
    /// A table.
    Table(Table),
}

/// A table: a caption, a header row and rows of cells.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Short name (an xlsx sheet's name).
    pub caption: String,
    /// Column headings.
    pub headers: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<Cell>>,
}

/// A cell: text, a count or a rate (written as numbers in xlsx).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Cell {
    /// A count.
    Count(i64),
    /// A rate between 0 and 1, or none.
    Rate(Option<f64>),
    /// Text.
    Text(String),
}

impl Cell {
    /// As shown on a page or in a PDF.
    pub fn display(&self) -> String {
        match self {
            Cell::Count(n) => n.to_string(),
            Cell::Rate(r) => crate::domain::stats::percent(*r),
            Cell::Text(t) => t.clone(),
        }
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::Text(s)
    }
}

impl From<i64> for Cell {
    fn from(n: i64) -> Cell {
        Cell::Count(n)
    }
}

impl Document {
    /// Every piece of text in reading order (for tests and search).
    pub fn text(&self) -> String {
        let mut out = vec![self.title.clone(), self.subtitle.clone()];
        for block in &self.blocks {
            match block {
                Block::Heading { text } | Block::Paragraph { text } => out.push(text.clone()),
                Block::Table(t) => {
                    out.push(t.headers.join(" "));
                    out.extend(t.rows.iter().map(|r| r.iter().map(Cell::display).collect::<Vec<_>>().join(" ")));
                }
            }
        }
        out.join("\n")
    }
}

/// The kinds of report, as stored and as webhook events.
pub const KINDS: [(&str, &str); 3] = [("daily_sheet", "督察单"), ("weekly", "周报"), ("bulletin", "通报")];

/// The Chinese name of a kind.
pub fn kind_label(kind: &str) -> &'static str {
    KINDS.iter().find(|(k, _)| *k == kind).map_or("报告", |(_, l)| l)
}

//! Writing a `Document` as xlsx (rust_xlsxwriter), docx (docx-rs) and PDF
//! (krilla, in the embedded Noto Sans SC, subset into each file). The
//! print-ready page is the template `report.html`.

use std::sync::LazyLock;

use docx_rs::{AlignmentType, Docx, Paragraph, Run, RunFonts, Shading, TableCell, TableRow, WidthType};
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::text::{Font, TextDirection};
use rust_xlsxwriter::{Format, Workbook};
use skrifa::instance::{LocationRef, Size};
use skrifa::{FontRef, MetadataProvider};

use super::{Block, Cell, Document};

/// An output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// PDF.
    Pdf,
    /// Excel.
    Xlsx,
    /// Word.
    Docx,
}

impl OutputFormat {
    /// From `pdf`, `xlsx` or `docx`.
    pub fn parse(code: &str) -> Option<OutputFormat> {
        match code {
            "pdf" => Some(OutputFormat::Pdf),
            "xlsx" => Some(OutputFormat::Xlsx),
            "docx" => Some(OutputFormat::Docx),
            _ => None,
        }
    }
}

/// The content type and file extension of a format.
pub fn content_type(format: OutputFormat) -> (&'static str, &'static str) {
    match format {
        OutputFormat::Pdf => ("application/pdf", "pdf"),
        OutputFormat::Xlsx => ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
        OutputFormat::Docx => ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
    }
}

/// Writes `doc` in `format`.
pub fn render(doc: &Document, format: OutputFormat) -> Result<Vec<u8>, String> {
    match format {
        OutputFormat::Pdf => pdf(doc),
        OutputFormat::Xlsx => xlsx(doc),
        OutputFormat::Docx => docx(doc),
    }
}

/// A sheet name Excel accepts: at most 31 characters, none of `[]:*?/\`, unique.
fn sheet_name(caption: &str, used: &mut Vec<String>) -> String {
    let clean: String =
        caption.chars().filter(|c| !"[]:*?/\\".contains(*c)).take(28).collect::<String>().trim().to_string();
    let base = if clean.is_empty() { "表".to_string() } else { clean };
    let mut name = base.clone();
    let mut n = 2;
    while used.contains(&name) {
        name = format!("{base}{n}");
        n += 1;
    }
    used.push(name.clone());
    name
}

/// An xlsx workbook: the first sheet holds the title and the text, then one
/// sheet per table; counts and rates are numbers (rates formatted as %).
pub fn xlsx(doc: &Document) -> Result<Vec<u8>, String> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let title = Format::new().set_bold().set_font_size(16);
    let percent = Format::new().set_num_format("0.0%");
    let mut used = vec!["概况".to_string()];
    {
        let sheet = book.add_worksheet().set_name("概况").map_err(|e| e.to_string())?;
        sheet.set_column_width(0, 100).map_err(|e| e.to_string())?;
        sheet.write_with_format(0, 0, &doc.title, &title).map_err(|e| e.to_string())?;
        sheet.write(1, 0, &doc.subtitle).map_err(|e| e.to_string())?;
        for (row, block) in (3..).zip(doc.blocks.iter()) {
            match block {
                Block::Heading { text } => sheet.write_with_format(row, 0, text, &bold).map(|_| ()),
                Block::Paragraph { text } => sheet.write(row, 0, text).map(|_| ()),
                Block::Table(t) => sheet.write(row, 0, format!("（见工作表“{}”）", t.caption)).map(|_| ()),
            }
            .map_err(|e| e.to_string())?;
        }
    }
    for block in &doc.blocks {
        let Block::Table(table) = block else { continue };
        let name = sheet_name(&table.caption, &mut used);
        let sheet = book.add_worksheet().set_name(&name).map_err(|e| e.to_string())?;
        for (col, header) in table.headers.iter().enumerate() {
            sheet.write_with_format(0, col as u16, header, &bold).map_err(|e| e.to_string())?;
            sheet.set_column_width(col as u16, 16).map_err(|e| e.to_string())?;
        }
        for (r, cells) in table.rows.iter().enumerate() {
            let row = r as u32 + 1;
            for (c, cell) in cells.iter().enumerate() {
                let col = c as u16;
                match cell {
                    Cell::Count(n) => sheet.write(row, col, *n as f64).map(|_| ()),
                    Cell::Rate(Some(rate)) => sheet.write_with_format(row, col, *rate, &percent).map(|_| ()),
                    Cell::Rate(None) => sheet.write(row, col, "—").map(|_| ()),
                    Cell::Text(t) => sheet.write(row, col, t).map(|_| ()),
                }
                .map_err(|e| e.to_string())?;
            }
        }
    }
    book.save_to_buffer().map_err(|e| e.to_string())
}

/// A Word document: title, subtitle, headings, paragraphs and bordered tables, in 宋体.
pub fn docx(doc: &Document) -> Result<Vec<u8>, String> {
    let fonts = || RunFonts::new().east_asia("宋体").ascii("Times New Roman").hi_ansi("Times New Roman");
    let text = |t: &str| Run::new().add_text(t).fonts(fonts());
    let mut d = Docx::new()
        .default_fonts(fonts())
        .default_size(21)
        .add_paragraph(Paragraph::new().align(AlignmentType::Center).add_run(text(&doc.title).bold().size(36)))
        .add_paragraph(Paragraph::new().align(AlignmentType::Center).add_run(text(&doc.subtitle)));
    for block in &doc.blocks {
        d = match block {
            Block::Heading { text: t } => d.add_paragraph(Paragraph::new().add_run(text(t).bold().size(28))),
            Block::Paragraph { text: t } => d.add_paragraph(Paragraph::new().add_run(text(t))),
            Block::Table(table) => {
                let width = 9000 / table.headers.len().max(1);
                let cell = |t: &str, header: bool| {
                    let run = if header { text(t).bold() } else { text(t) };
                    let c = TableCell::new().width(width, WidthType::Dxa).add_paragraph(Paragraph::new().add_run(run));
                    if header { c.shading(Shading::new().fill("D9D9D9")) } else { c }
                };
                let mut rows = vec![TableRow::new(table.headers.iter().map(|h| cell(h, true)).collect())];
                rows.extend(
                    table.rows.iter().map(|r| TableRow::new(r.iter().map(|c| cell(&c.display(), false)).collect())),
                );
                d.add_table(docx_rs::Table::new(rows).set_grid(vec![width; table.headers.len()]))
            }
        };
    }
    let mut out = std::io::Cursor::new(Vec::new());
    d.build().pack(&mut out).map_err(|e| e.to_string())?;
    Ok(out.into_inner())
}

static FONT: LazyLock<Font> =
    LazyLock::new(|| Font::new(crate::web::assets::REPORT_FONT.into(), 0).expect("the embedded report font loads"));

/// The width of `text` at `size` points (advance widths; enough for CJK).
fn text_width(text: &str, size: f32) -> f32 {
    let Ok(font) = FontRef::from_index(crate::web::assets::REPORT_FONT, 0) else { return 0.0 };
    let (cmap, metrics) = (font.charmap(), font.glyph_metrics(Size::new(size), LocationRef::default()));
    text.chars().map(|c| cmap.map(c).and_then(|g| metrics.advance_width(g)).unwrap_or(size * 0.5)).sum()
}

/// Splits `text` into lines no wider than `width` at `size`.
fn wrap(text: &str, size: f32, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut used = 0.0;
    for c in text.chars() {
        let w = text_width(c.encode_utf8(&mut [0; 4]), size);
        if used + w > width && !line.is_empty() {
            lines.push(std::mem::take(&mut line));
            used = 0.0;
        }
        line.push(c);
        used += w;
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

const A4: (f32, f32) = (595.276, 841.89);
const MARGIN: f32 = 48.0;

/// Lays a document out on A4 pages, top to bottom, starting new pages as
/// needed; tables get a header row and ruled lines, cells wrap.
struct Pages {
    doc: krilla::Document,
    pages: Vec<Vec<Op>>,
    y: f32,
}

enum Op {
    Text(f32, f32, f32, String),
    Line(f32, f32, f32, f32),
}

impl Pages {
    fn new() -> Pages {
        Pages { doc: krilla::Document::new(), pages: vec![Vec::new()], y: MARGIN }
    }

    fn room(&mut self, height: f32) {
        if self.y + height > A4.1 - MARGIN {
            self.pages.push(Vec::new());
            self.y = MARGIN;
        }
    }

    fn op(&mut self, op: Op) {
        self.pages.last_mut().expect("a page").push(op);
    }

    fn text(&mut self, text: &str, size: f32, centered: bool) {
        for line in wrap(text, size, A4.0 - 2.0 * MARGIN) {
            self.room(size * 1.6);
            self.y += size * 1.3;
            let x = if centered { (A4.0 - text_width(&line, size)) / 2.0 } else { MARGIN };
            self.op(Op::Text(x, self.y, size, line));
            self.y += size * 0.3;
        }
    }

    fn table(&mut self, headers: &[String], rows: &[Vec<String>]) {
        let size = 8.5;
        let width = A4.0 - 2.0 * MARGIN;
        let cols = headers.len().max(1);
        let col = width / cols as f32;
        let draw_row = |pages: &mut Pages, cells: &[String]| {
            let wrapped: Vec<Vec<String>> = cells.iter().map(|c| wrap(c, size, col - 6.0)).collect();
            let lines = wrapped.iter().map(Vec::len).max().unwrap_or(1).max(1);
            let height = lines as f32 * size * 1.35 + 6.0;
            pages.room(height);
            let top = pages.y;
            pages.op(Op::Line(MARGIN, top, MARGIN + width, top));
            for (i, cell) in wrapped.iter().enumerate() {
                for (j, line) in cell.iter().enumerate() {
                    let y = top + 3.0 + size * 1.1 + j as f32 * size * 1.35;
                    pages.op(Op::Text(MARGIN + i as f32 * col + 3.0, y, size, line.clone()));
                }
            }
            for i in 0..=cols {
                let x = MARGIN + i as f32 * col;
                pages.op(Op::Line(x, top, x, top + height));
            }
            pages.y = top + height;
            pages.op(Op::Line(MARGIN, pages.y, MARGIN + width, pages.y));
        };
        draw_row(self, headers);
        for row in rows {
            draw_row(self, row);
        }
        self.y += 8.0;
    }

    fn finish(mut self) -> Result<Vec<u8>, String> {
        let black = || rgb::Color::new(0, 0, 0).into();
        let total = self.pages.len();
        for (n, ops) in self.pages.iter().enumerate() {
            let settings = PageSettings::from_wh(A4.0, A4.1).ok_or("page size")?;
            let mut page = self.doc.start_page_with(settings);
            let mut surface = page.surface();
            for op in ops {
                match op {
                    Op::Text(x, y, size, text) => {
                        surface.set_stroke(None);
                        surface.set_fill(Some(Fill {
                            paint: black(),
                            opacity: NormalizedF32::ONE,
                            rule: Default::default(),
                        }));
                        surface.draw_text(
                            Point::from_xy(*x, *y),
                            FONT.clone(),
                            *size,
                            text,
                            false,
                            TextDirection::Auto,
                        );
                    }
                    Op::Line(x1, y1, x2, y2) => {
                        surface.set_fill(None);
                        surface.set_stroke(Some(Stroke { paint: black(), width: 0.5, ..Default::default() }));
                        let mut path = PathBuilder::new();
                        path.move_to(*x1, *y1);
                        path.line_to(*x2, *y2);
                        if let Some(path) = path.finish() {
                            surface.draw_path(&path);
                        }
                    }
                }
            }
            let footer = format!("第 {} 页 / 共 {} 页", n + 1, total);
            surface.set_stroke(None);
            surface.set_fill(Some(Fill { paint: black(), opacity: NormalizedF32::ONE, rule: Default::default() }));
            let x = (A4.0 - text_width(&footer, 8.0)) / 2.0;
            surface.draw_text(Point::from_xy(x, A4.1 - 24.0), FONT.clone(), 8.0, &footer, false, TextDirection::Auto);
            surface.finish();
            page.finish();
        }
        self.doc.finish().map_err(|e| format!("{e:?}"))
    }
}

/// A PDF on A4: title, subtitle, headings, wrapped paragraphs, ruled tables, page numbers.
pub fn pdf(doc: &Document) -> Result<Vec<u8>, String> {
    let mut pages = Pages::new();
    pages.text(&doc.title, 18.0, true);
    pages.text(&doc.subtitle, 10.5, true);
    pages.y += 6.0;
    for block in &doc.blocks {
        match block {
            Block::Heading { text } => {
                pages.y += 4.0;
                pages.text(text, 13.0, false);
            }
            Block::Paragraph { text } => pages.text(text, 10.5, false),
            Block::Table(t) => {
                let rows: Vec<Vec<String>> = t.rows.iter().map(|r| r.iter().map(Cell::display).collect()).collect();
                pages.table(&t.headers, &rows);
            }
        }
    }
    pages.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::Table;

    fn sample() -> Document {
        Document {
            title: "督察单".into(),
            subtitle: "区城市管理委员会 · 2026年11月27日".into(),
            blocks: vec![
                Block::Heading { text: "已超期（1 件）".into() },
                Block::Paragraph { text: "请于期限内整改完毕。".repeat(20) },
                Block::Table(Table {
                    caption: "已超期".into(),
                    headers: vec!["案卷编号".into(), "整改率".into(), "件数".into()],
                    rows: vec![vec!["2026-000001".into(), Cell::Rate(Some(0.875)), Cell::Count(3)]],
                }),
            ],
        }
    }

    #[test]
    fn lines_wrap_within_the_width() {
        let lines = wrap(&"整改".repeat(100), 10.0, 200.0);
        assert!(lines.len() > 5);
        assert!(lines.iter().all(|l| text_width(l, 10.0) <= 200.0));
        assert_eq!(lines.concat(), "整改".repeat(100));
    }

    #[test]
    fn sheet_names_are_short_clean_and_unique() {
        let mut used = vec![];
        assert_eq!(sheet_name("a/b:c", &mut used), "abc");
        assert_eq!(sheet_name("a/b:c", &mut used), "abc2");
        assert!(sheet_name(&"长".repeat(40), &mut used).chars().count() <= 31);
    }

    #[test]
    fn every_format_writes_something_of_its_kind() {
        let doc = sample();
        assert!(pdf(&doc).unwrap().starts_with(b"%PDF"));
        assert!(xlsx(&doc).unwrap().starts_with(b"PK"));
        assert!(docx(&doc).unwrap().starts_with(b"PK"));
    }
}

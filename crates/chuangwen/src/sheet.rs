//! Tables people hand over as files — Excel workbooks (.xlsx, .xls) and CSV
//! exports — read into a header and rows of text, each row with the number
//! a person sees when they open the file.
//!
//! Pure: bytes in, a table or one reason in Chinese out. CSV written by a
//! Chinese Excel or by the 12345 hotline's export is often GB18030 (GBK), not
//! UTF-8; both are read.

use std::io::Cursor;

use calamine::{Data, Reader};

/// The kinds of table file we read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableFormat {
    /// An Excel workbook (Office Open XML, or the older binary .xls); the first sheet is read.
    Xlsx,
    /// Comma- (or tab-) separated text.
    Csv,
}

impl TableFormat {
    /// Recognises a file by its content, not its name: a workbook starts
    /// with a ZIP or an OLE2 signature; anything else that decodes as text
    /// is taken for CSV.
    pub fn sniff(bytes: &[u8]) -> Option<TableFormat> {
        if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
            Some(TableFormat::Xlsx)
        } else if bytes.starts_with(&[0xFF, 0xFE]) || (!bytes.is_empty() && !bytes.contains(&0)) {
            Some(TableFormat::Csv)
        } else {
            None
        }
    }

    /// Code used in the database.
    pub fn code(self) -> &'static str {
        match self {
            TableFormat::Xlsx => "xlsx",
            TableFormat::Csv => "csv",
        }
    }
}

/// One row of a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRow {
    /// The row number a person sees (the header is row 1 in a file that starts at the top).
    pub row: usize,
    /// Cell texts, trimmed, as many as the row has.
    pub cells: Vec<String>,
}

impl TableRow {
    /// The text of column `index`, empty when the row is shorter.
    pub fn cell(&self, index: usize) -> &str {
        self.cells.get(index).map(String::as_str).unwrap_or("")
    }
}

/// A table read from a file: its header and its non-empty rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// The file's kind.
    pub format: TableFormat,
    /// Column headers, trimmed.
    pub headers: Vec<String>,
    /// Rows below the header; wholly empty rows are left out.
    pub rows: Vec<TableRow>,
}

/// Reads a table away from the request and job threads (a large workbook
/// takes a while to unpack).
pub async fn read_table_blocking(bytes: bytes::Bytes) -> Result<Table, String> {
    tokio::task::spawn_blocking(move || read_table(&bytes)).await.unwrap_or_else(|_| Err("文件读取中断".into()))
}

/// Reads the first sheet of a workbook, or a CSV file.
pub fn read_table(bytes: &[u8]) -> Result<Table, String> {
    match TableFormat::sniff(bytes) {
        Some(TableFormat::Xlsx) => read_workbook(bytes),
        Some(TableFormat::Csv) => read_csv(bytes),
        None => Err("无法识别的文件格式：请上传 Excel（.xlsx/.xls）或 CSV 文件".into()),
    }
}

/// The text of a workbook cell as a person reads it: whole numbers without
/// a decimal point, dates as `2026-11-20 09:30:00` (or the date alone).
pub fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_string(),
        Data::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{}", *f as i64)
            } else {
                f.to_string()
            }
        }
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => match d.as_datetime() {
            Some(t) if t.time() == chrono::NaiveTime::MIN => t.format("%Y-%m-%d").to_string(),
            Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
            None => d.to_string(),
        },
        other => other.to_string().trim().to_string(),
    }
}

fn read_workbook(bytes: &[u8]) -> Result<Table, String> {
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|_| "无法打开 Excel 文件：文件可能已损坏，或不是 .xlsx/.xls 格式".to_string())?;
    let range = book
        .worksheet_range_at(0)
        .ok_or_else(|| "Excel 文件中没有工作表".to_string())?
        .map_err(|_| "无法读取第一个工作表".to_string())?;
    let (first_row, _) = range.start().unwrap_or((0, 0));
    let rows = range
        .rows()
        .enumerate()
        .map(|(i, row)| TableRow { row: first_row as usize + i + 1, cells: row.iter().map(cell_text).collect() });
    table_of(TableFormat::Xlsx, rows).ok_or_else(|| "工作表是空的：应有一行表头".to_string())
}

/// The header is the first row with two or more filled cells: a title row
/// above it ("2026 年 11 月 12345 工单明细", one merged cell) is passed over.
/// Wholly empty rows below it are left out.
fn table_of(format: TableFormat, rows: impl Iterator<Item = TableRow>) -> Option<Table> {
    let filled = |r: &TableRow| r.cells.iter().filter(|c| !c.is_empty()).count();
    let mut rows = rows.skip_while(|r| filled(r) < 2);
    let header = rows.next()?;
    let rows = rows.filter(|r| filled(r) > 0).collect();
    Some(Table { format, headers: header.cells, rows })
}

/// Reads every sheet of a workbook, each with its name.
pub fn read_sheets(bytes: &[u8]) -> Result<Vec<(String, Table)>, String> {
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|_| "无法打开 Excel 文件：文件可能已损坏，或不是 .xlsx/.xls 格式".to_string())?;
    let mut out = Vec::new();
    for (name, range) in book.worksheets() {
        let (first_row, _) = range.start().unwrap_or((0, 0));
        let rows = range
            .rows()
            .enumerate()
            .map(|(i, row)| TableRow { row: first_row as usize + i + 1, cells: row.iter().map(cell_text).collect() });
        if let Some(table) = table_of(TableFormat::Xlsx, rows) {
            out.push((name, table));
        }
    }
    Ok(out)
}

/// UTF-16LE with its byte-order mark (Excel's "Unicode 文本"), UTF-8 (with
/// or without a byte-order mark), else GB18030.
fn decode_text(bytes: &[u8]) -> Result<String, String> {
    let (encoding, bytes) = if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        (encoding_rs::UTF_16LE, rest)
    } else if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF".as_slice()) {
        (encoding_rs::UTF_8, rest)
    } else if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(text.to_string());
    } else {
        (encoding_rs::GB18030, bytes)
    };
    let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
    if had_errors {
        return Err("CSV 文件的编码无法识别：请另存为 UTF-8 或 GBK 编码".into());
    }
    Ok(text.into_owned())
}

fn read_csv(bytes: &[u8]) -> Result<Table, String> {
    let text = decode_text(bytes)?;
    let first_line = text.lines().next().unwrap_or("");
    let delimiter = if first_line.contains('\t') && !first_line.contains(',') { b'\t' } else { b',' };
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(text.as_bytes());
    // A record's row is the line it starts on, as Excel shows the file:
    // blank lines, which the reader passes over, are rows there too.
    let (mut rows, mut seen_byte, mut line) = (Vec::new(), 0usize, 1usize);
    let mut line_at = |byte: usize| {
        // The reader's position may sit before the blank lines it passed over.
        let skipped = text.as_bytes()[byte.min(text.len())..].iter().take_while(|b| matches!(b, b'\n' | b'\r')).count();
        let byte = (byte + skipped).min(text.len());
        line += text.as_bytes()[seen_byte.min(byte)..byte].iter().filter(|b| **b == b'\n').count();
        seen_byte = seen_byte.max(byte);
        line
    };
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| line_at(p.byte() as usize)).unwrap_or(0);
            format!("CSV 第 {line} 行无法读取：{}", csv_reason(&e))
        })?;
        let row = record.position().map(|p| line_at(p.byte() as usize)).unwrap_or(rows.len() + 1);
        rows.push(TableRow { row, cells: record.iter().map(|c| c.trim().to_string()).collect() });
    }
    table_of(TableFormat::Csv, rows.into_iter()).ok_or_else(|| "CSV 文件是空的：应有一行表头".to_string())
}

fn csv_reason(err: &csv::Error) -> String {
    match err.kind() {
        csv::ErrorKind::Utf8 { .. } => "含有无法识别的字符".into(),
        _ => "引号不成对或格式有误".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utf8_csv_with_a_bom_and_quoted_commas() {
        let table =
            read_table("\u{feff}编号,问题描述\n A1 ,\"垃圾堆放，未清理\"\n,\nA2,暴露垃圾\n".as_bytes()).unwrap();
        assert_eq!(table.format, TableFormat::Csv);
        assert_eq!(table.headers, ["编号", "问题描述"]);
        // The empty row 3 is left out; row numbers are those a person sees.
        assert_eq!(table.rows.len(), 2);
        assert_eq!(table.rows[0], TableRow { row: 2, cells: vec!["A1".into(), "垃圾堆放，未清理".into()] });
        assert_eq!(table.rows[1].row, 4);
        assert_eq!(table.rows[1].cell(5), "");
    }

    #[test]
    fn a_title_row_above_the_header_is_passed_over_and_rows_keep_their_numbers() {
        let text = "2026年11月12345工单明细,,\n\n工单编号,诉求内容,地址\nRX-1,路灯不亮,某路\n\nRX-2,垃圾满溢,某街\n";
        let table = read_table(text.as_bytes()).unwrap();
        assert_eq!(table.headers, ["工单编号", "诉求内容", "地址"]);
        assert_eq!(table.rows.iter().map(|r| r.row).collect::<Vec<_>>(), [4, 6]);
    }

    #[test]
    fn reads_gbk_csv_from_a_chinese_excel() {
        let (bytes, _, _) = encoding_rs::GBK.encode("工单编号,诉求内容\n12345001,小区门口垃圾满溢\n");
        let table = read_table(&bytes).unwrap();
        assert_eq!(table.headers, ["工单编号", "诉求内容"]);
        assert_eq!(table.rows[0].cell(1), "小区门口垃圾满溢");
    }

    #[test]
    fn reads_excels_unicode_text_export() {
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend("工单编号\t诉求内容\r\nRX-1\t路灯不亮\r\n".encode_utf16().flat_map(u16::to_le_bytes));
        let table = read_table(&bytes).unwrap();
        assert_eq!(table.headers, ["工单编号", "诉求内容"]);
        assert_eq!(table.rows[0].cells, ["RX-1", "路灯不亮"]);
    }

    #[test]
    fn reads_tab_separated_text() {
        let table = read_table("编号\t描述\nA1\t路面破损\n".as_bytes()).unwrap();
        assert_eq!(table.rows[0].cells, ["A1", "路面破损"]);
    }

    #[test]
    fn refuses_what_it_cannot_read_with_a_reason() {
        assert!(read_table(b"").unwrap_err().contains("无法识别"));
        assert!(read_table(b"PK\x03\x04garbage").unwrap_err().contains("无法打开"));
        assert!(read_table(&[b'a', 0xff, b'\n', 0x81]).unwrap_err().contains("编码"));
    }

    #[test]
    fn reads_a_workbook_with_dates_and_numbers() {
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.write(0, 0, "编号").unwrap();
        sheet.write(0, 1, "发现时间").unwrap();
        sheet.write(0, 2, "经度").unwrap();
        sheet.write(1, 0, 20261120).unwrap();
        let when = rust_xlsxwriter::ExcelDateTime::parse_from_str("2026-11-20 09:30:00").unwrap();
        let format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd hh:mm");
        sheet.write_datetime_with_format(1, 1, &when, &format).unwrap();
        sheet.write(1, 2, 114.05).unwrap();
        let bytes = book.save_to_buffer().unwrap();
        let table = read_table(&bytes).unwrap();
        assert_eq!(table.format, TableFormat::Xlsx);
        assert_eq!(table.rows[0].row, 2);
        assert_eq!(table.rows[0].cells, ["20261120", "2026-11-20 09:30:00", "114.05"]);
    }
}

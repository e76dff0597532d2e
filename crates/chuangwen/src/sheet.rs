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
    let mut rows = range.rows();
    let header = rows.next().ok_or_else(|| "工作表是空的：第 1 行应为表头".to_string())?;
    let headers = header.iter().map(cell_text).collect();
    let rows = rows
        .enumerate()
        .map(|(i, row)| TableRow { row: first_row as usize + i + 2, cells: row.iter().map(cell_text).collect() })
        .filter(|r| r.cells.iter().any(|c| !c.is_empty()))
        .collect();
    Ok(Table { format: TableFormat::Xlsx, headers, rows })
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
    let mut records = reader.records();
    let header = match records.next() {
        Some(Ok(h)) => h,
        Some(Err(e)) => return Err(format!("CSV 表头无法读取：{}", csv_reason(&e))),
        None => return Err("CSV 文件是空的：第 1 行应为表头".into()),
    };
    let headers = header.iter().map(|h| h.trim().to_string()).collect();
    let mut rows = Vec::new();
    for (i, record) in records.enumerate() {
        let record = record.map_err(|e| format!("CSV 第 {} 行无法读取：{}", i + 2, csv_reason(&e)))?;
        let cells: Vec<String> = record.iter().map(|c| c.trim().to_string()).collect();
        if cells.iter().any(|c| !c.is_empty()) {
            rows.push(TableRow { row: i + 2, cells });
        }
    }
    Ok(Table { format: TableFormat::Csv, headers, rows })
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

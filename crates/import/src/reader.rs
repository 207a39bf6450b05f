//! Reading an uploaded CSV file a batch of rows at a time: UTF-8 with or without a byte order
//! mark, the delimiter detected among comma, semicolon and tab, each record bounded in size, and
//! every malformed file refused with a message that says what is wrong and where.

use std::cell::Cell;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::rc::Rc;

use dealbridge_storage::NewImportRow;

/// The largest record (one row, quoted line breaks included) a file may have. A larger one is
/// refused rather than held in memory: no real row of persons, organizations or deals is near it.
pub const MAX_RECORD_BYTES: u64 = 1024 * 1024;

/// How much of the file's start is looked at to choose the delimiter.
const SAMPLE_BYTES: usize = 64 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Why a file cannot be imported. Every message is meant for the person who uploaded it.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("The file is empty.")]
    Empty,
    #[error("The file has a header row but no rows to import.")]
    HeaderOnly,
    #[error("Line {line} is not UTF-8 text. Save the file as \"CSV UTF-8\" and upload it again.")]
    NotUtf8 { line: u64 },
    #[error(
        "A quoted field is not closed (a \" without its closing \"), starting at or before line {line}."
    )]
    UnclosedQuote { line: u64 },
    #[error(
        "Line {line} has {found} fields but the header has {expected}. Check the quoting of that line."
    )]
    FieldCount {
        line: u64,
        expected: usize,
        found: usize,
    },
    #[error(
        "The row starting at line {line} is longer than {} MB. Check for a quote that is not closed.",
        MAX_RECORD_BYTES / (1024 * 1024)
    )]
    RecordTooLong { line: u64 },
    #[error("The file could not be read.")]
    Io(#[source] std::io::Error),
}

/// Counts the bytes read since the last `reset` and the quote characters seen, and fails the
/// read once a record grows past `MAX_RECORD_BYTES` (plus the reader's own buffer), so a single
/// huge line is refused after at most that much memory.
struct Bounded<R> {
    inner: R,
    since_reset: Rc<Cell<u64>>,
    quotes: Rc<Cell<u64>>,
}

/// The error the bounded reader raises; recognised again on the way out of `csv`.
#[derive(Debug, thiserror::Error)]
#[error("record too long")]
struct TooLong;

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.since_reset.get() > MAX_RECORD_BYTES + SAMPLE_BYTES as u64 {
            return Err(std::io::Error::other(TooLong));
        }
        let n = self.inner.read(buf)?;
        let read = buf.get(..n).unwrap_or_default();
        let quotes = read.iter().filter(|b| **b == b'"').count() as u64;
        self.quotes.set(self.quotes.get() + quotes);
        self.since_reset.set(self.since_reset.get() + n as u64);
        Ok(n)
    }
}

/// An open CSV file: its header and a cursor over its rows.
pub struct CsvFile {
    reader: csv::Reader<Bounded<BufReader<File>>>,
    since_reset: Rc<Cell<u64>>,
    quotes: Rc<Cell<u64>>,
    headers: Vec<String>,
    delimiter: u8,
    record: csv::ByteRecord,
    /// The line the last record started on.
    record_line: u64,
    rows: u64,
}

/// The most frequent of comma, semicolon and tab outside quotes in the first line; comma when
/// none appears (a one-column file).
pub fn detect_delimiter(sample: &[u8]) -> u8 {
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for byte in sample {
        match byte {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            _ if !quoted => {
                if let Some(entry) = counts.iter_mut().find(|(d, _)| d == byte) {
                    entry.1 += 1;
                }
            }
            _ => {}
        }
    }
    // `max_by_key` keeps the last of equals; reversed, ties go to comma, then semicolon.
    counts
        .iter()
        .rev()
        .max_by_key(|(_, n)| *n)
        .map_or(b',', |(d, _)| *d)
}

fn line_of(position: Option<&csv::Position>) -> u64 {
    position.map_or(1, csv::Position::line)
}

impl CsvFile {
    /// Opens the file and reads its header.
    pub fn open(path: &Path) -> Result<Self, FileError> {
        let mut buffered =
            BufReader::with_capacity(SAMPLE_BYTES, File::open(path).map_err(FileError::Io)?);
        let sample = buffered.fill_buf().map_err(FileError::Io)?;
        let bom = sample.starts_with(BOM);
        let delimiter = detect_delimiter(
            sample
                .get(if bom { BOM.len() } else { 0 }..)
                .unwrap_or_default(),
        );
        if bom {
            buffered.consume(BOM.len());
        }
        let since_reset = Rc::new(Cell::new(0));
        let quotes = Rc::new(Cell::new(0));
        let bounded = Bounded {
            inner: buffered,
            since_reset: since_reset.clone(),
            quotes: quotes.clone(),
        };
        let reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(bounded);
        let mut file = Self {
            reader,
            since_reset,
            quotes,
            headers: Vec::new(),
            delimiter,
            record: csv::ByteRecord::new(),
            record_line: 1,
            rows: 0,
        };
        let header = match file.next_record()? {
            Some(header) => header,
            None => return Err(FileError::Empty),
        };
        if header.iter().all(|h| h.trim().is_empty()) && header.len() <= 1 {
            return Err(FileError::Empty);
        }
        file.headers = header;
        Ok(file)
    }

    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// Rows read so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Up to `size` rows; an empty batch at the end of the file. The end checks that every quote
    /// was closed and that the file had rows at all.
    pub fn next_batch(&mut self, size: usize) -> Result<Vec<NewImportRow>, FileError> {
        let mut batch = Vec::with_capacity(size);
        while batch.len() < size {
            let Some(values) = self.next_record()? else {
                if self.quotes.get() % 2 == 1 {
                    return Err(FileError::UnclosedQuote {
                        line: line_of(Some(self.reader.position())),
                    });
                }
                if self.rows == 0 {
                    return Err(FileError::HeaderOnly);
                }
                break;
            };
            // A blank line between rows is not a row.
            if values.len() == 1 && values.first().is_some_and(|v| v.is_empty()) {
                continue;
            }
            if values.len() != self.headers.len() {
                return Err(FileError::FieldCount {
                    line: self.record_line,
                    expected: self.headers.len(),
                    found: values.len(),
                });
            }
            self.rows += 1;
            batch.push(NewImportRow {
                row_number: self.rows,
                values,
            });
        }
        Ok(batch)
    }

    fn next_record(&mut self) -> Result<Option<Vec<String>>, FileError> {
        let line = line_of(Some(self.reader.position()));
        self.record_line = line;
        self.since_reset.set(0);
        match self.reader.read_byte_record(&mut self.record) {
            Ok(false) => Ok(None),
            Ok(true) => {
                let record = std::mem::take(&mut self.record);
                let strings = csv::StringRecord::from_byte_record(record)
                    .map_err(|_| FileError::NotUtf8 { line })?;
                let values = strings.iter().map(str::to_owned).collect();
                self.record = strings.into_byte_record();
                Ok(Some(values))
            }
            Err(err) => Err(match err.into_kind() {
                csv::ErrorKind::Io(io) if io.get_ref().is_some_and(|e| e.is::<TooLong>()) => {
                    FileError::RecordTooLong { line }
                }
                csv::ErrorKind::Io(io) => FileError::Io(io),
                csv::ErrorKind::Utf8 { .. } => FileError::NotUtf8 { line },
                _ => FileError::UnclosedQuote { line },
            }),
        }
    }
}

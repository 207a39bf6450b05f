//! Reading uploaded files: encodings, delimiters, and every malformed file ending with its
//! message; and a malformed file leaving nothing in the store.

use std::io::Write;
use std::sync::Arc;

use dealbridge_core::tenant::NewTenant;
use dealbridge_core::{CompanyId, UserId};
use dealbridge_import::{ingest_file, CsvFile, FileError, IngestError, Upload};
use dealbridge_storage::{ImportKind, Maintenance, Store};
use dealbridge_storage_sql::SqliteStore;

fn file(bytes: &[u8]) -> anyhow::Result<tempfile::NamedTempFile> {
    let mut file = tempfile::NamedTempFile::new()?;
    file.write_all(bytes)?;
    file.flush()?;
    Ok(file)
}

/// The delimiter found, the header and the rows of a file read to its end.
type Read = (u8, Vec<String>, Vec<Vec<String>>);

/// Every row of the file, or the error that ended it.
fn read_all(bytes: &[u8]) -> anyhow::Result<Result<Read, FileError>> {
    let file = file(bytes)?;
    let mut csv = match CsvFile::open(file.path()) {
        Ok(csv) => csv,
        Err(err) => return Ok(Err(err)),
    };
    let mut rows = Vec::new();
    loop {
        match csv.next_batch(2) {
            Ok(batch) if batch.is_empty() => break,
            Ok(batch) => rows.extend(batch.into_iter().map(|r| r.values)),
            Err(err) => return Ok(Err(err)),
        }
    }
    Ok(Ok((csv.delimiter(), csv.headers().to_vec(), rows)))
}

fn message(bytes: &[u8]) -> anyhow::Result<String> {
    match read_all(bytes)? {
        Ok(read) => anyhow::bail!("read without an error: {read:?}"),
        Err(err) => Ok(err.to_string()),
    }
}

#[test]
fn utf8_with_and_without_bom_and_each_delimiter() -> anyhow::Result<()> {
    let cases: [(&[u8], u8); 4] = [
        (
            b"Name,Email\nAda,ada@example.com\nZo\xc3\xab,zoe@example.com\n",
            b',',
        ),
        (
            b"\xEF\xBB\xBFName;Email\r\nAda;ada@example.com\r\nZo\xc3\xab;zoe@example.com\r\n",
            b';',
        ),
        (
            b"Name\tEmail\nAda\tada@example.com\nZo\xc3\xab\tzoe@example.com",
            b'\t',
        ),
        (
            b"\"Name, full\";Email\n\"Ada, L\";ada@example.com\nZo\xc3\xab;zoe@example.com\n",
            b';',
        ),
    ];
    for (bytes, delimiter) in cases {
        let (found, headers, rows) = read_all(bytes)?.map_err(|e| anyhow::anyhow!("{e}"))?;
        assert_eq!(found, delimiter, "{}", String::from_utf8_lossy(bytes));
        assert_eq!(
            headers.get(1).map(String::as_str),
            Some("Email"),
            "the BOM is not part of the header"
        );
        assert!(headers[0].starts_with("Name"), "{headers:?}");
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[1],
            vec!["Zoë".to_owned(), "zoe@example.com".to_owned()]
        );
    }
    Ok(())
}

#[test]
fn quoted_line_breaks_and_blank_lines() -> anyhow::Result<()> {
    let (_, _, rows) = read_all(b"Name,Notes\nAda,\"two\nlines\"\n\nBob,\"said \"\"hi\"\"\"\n")?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(
        rows,
        vec![
            vec!["Ada".to_owned(), "two\nlines".to_owned()],
            vec!["Bob".to_owned(), "said \"hi\"".to_owned()]
        ]
    );
    Ok(())
}

#[test]
fn an_empty_file_says_so() -> anyhow::Result<()> {
    assert_eq!(message(b"")?, "The file is empty.");
    assert_eq!(message(b"\xEF\xBB\xBF")?, "The file is empty.");
    assert_eq!(message(b"\n\n")?, "The file is empty.");
    Ok(())
}

#[test]
fn a_header_only_file_says_so() -> anyhow::Result<()> {
    assert_eq!(
        message(b"Name,Email\n")?,
        "The file has a header row but no rows to import."
    );
    assert_eq!(
        message(b"Name,Email\n\n\n")?,
        "The file has a header row but no rows to import."
    );
    Ok(())
}

#[test]
fn a_file_not_in_utf8_names_the_line() -> anyhow::Result<()> {
    // "Zoë" in Latin-1.
    let text = message(b"Name,Email\nAda,ada@example.com\nZo\xeb,zoe@example.com\n")?;
    assert!(text.starts_with("Line 3 is not UTF-8 text."), "{text}");
    Ok(())
}

#[test]
fn broken_quoting_names_the_line() -> anyhow::Result<()> {
    // A quote that is never closed swallows the rest of the file.
    let text = message(b"Name,Email\nAda,\"ada@example.com\nBob,bob@example.com\n")?;
    assert!(text.starts_with("A quoted field is not closed"), "{text}");
    // A row with more fields than the header (an unquoted comma).
    let text = message(b"Name,Email\nAda,ada@example.com\nLovelace, Ada,ada@example.com\n")?;
    assert_eq!(
        text,
        "Line 3 has 3 fields but the header has 2. Check the quoting of that line."
    );
    Ok(())
}

#[test]
fn a_line_of_ten_megabytes_is_refused_without_reading_it_whole() -> anyhow::Result<()> {
    let mut bytes = b"Name,Notes\nAda,short\nBob,".to_vec();
    bytes.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
    bytes.extend(b"\nCy,short\n");
    let text = message(&bytes)?;
    assert_eq!(
        text,
        "The row starting at line 3 is longer than 1 MB. Check for a quote that is not closed."
    );
    Ok(())
}

async fn store() -> anyhow::Result<(Arc<dyn Store>, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    let store = SqliteStore::connect(&url, 4).await?;
    store.migrate().await?;
    Ok((Arc::new(store), dir))
}

#[tokio::test]
async fn a_file_malformed_late_leaves_no_half_import() -> anyhow::Result<()> {
    let (store, _dir) = store().await?;
    let tenant = store
        .upsert_tenant(&NewTenant {
            company_id: CompanyId::new(1),
            company_name: "A".into(),
            company_domain: "a".into(),
        })
        .await?;
    let upload = Upload {
        tenant_id: tenant.id,
        user_id: UserId::new(1),
        kind: ImportKind::Persons,
        file_name: "p.csv".into(),
    };

    // 1,200 good rows (three batches), then a line in Latin-1.
    let mut bytes = b"Name,Email\n".to_vec();
    for n in 0..1_200 {
        bytes.extend(format!("Person {n},p{n}@example.com\n").as_bytes());
    }
    bytes.extend(b"Zo\xeb,zoe@example.com\n");
    let bad = file(&bytes)?;
    match ingest_file(store.clone(), upload.clone(), bad.path().to_owned()).await {
        Err(IngestError::File(FileError::NotUtf8 { line: 1_202 })) => {}
        other => anyhow::bail!("expected the encoding error: {other:?}"),
    }
    assert!(
        store.imports(tenant.id, 10).await?.is_empty(),
        "rows of a refused file were kept"
    );

    let good = file(&bytes[..bytes.len() - b"Zo\xeb,zoe@example.com\n".len()])?;
    let import = ingest_file(store.clone(), upload, good.path().to_owned()).await?;
    assert_eq!(import.total_rows, 1_200);
    assert_eq!(import.headers, vec!["Name", "Email"]);
    let last = store
        .import_rows(tenant.id, import.id, None, 1_199, 10)
        .await?;
    assert_eq!(
        last.first().map(|r| r.values.clone()),
        Some(vec![
            "Person 1199".to_owned(),
            "p1199@example.com".to_owned()
        ])
    );
    Ok(())
}

#[tokio::test]
async fn a_hundred_thousand_rows_are_stored_in_batches() -> anyhow::Result<()> {
    let (store, _dir) = store().await?;
    let tenant = store
        .upsert_tenant(&NewTenant {
            company_id: CompanyId::new(2),
            company_name: "B".into(),
            company_domain: "b".into(),
        })
        .await?;
    let mut file = tempfile::NamedTempFile::new()?;
    {
        let mut out = std::io::BufWriter::new(file.as_file_mut());
        out.write_all(b"\xEF\xBB\xBFName\tEmail\tPhone\tOrganization\n")?;
        for n in 1..=100_000 {
            writeln!(
                out,
                "Person {n}\tp{n}@example.com\t+44 20 7946 {n:04}\tOrg {}",
                n % 97
            )?;
        }
        out.flush()?;
    }
    let started = std::time::Instant::now();
    let upload = Upload {
        tenant_id: tenant.id,
        user_id: UserId::new(1),
        kind: ImportKind::Persons,
        file_name: "big.csv".into(),
    };
    let import = ingest_file(store.clone(), upload, file.path().to_owned()).await?;
    eprintln!(
        "100,000 rows stored in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(import.total_rows, 100_000);
    assert_eq!(import.headers.len(), 4);
    let last = store
        .import_rows(tenant.id, import.id, None, 99_999, 10)
        .await?;
    assert_eq!(
        last.first().map(|r| r.values[1].clone()),
        Some("p100000@example.com".to_owned())
    );
    Ok(())
}

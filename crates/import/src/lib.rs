#![doc = include_str!("../README.md")]

pub mod batch;
pub mod chunks;
pub mod control;
pub mod estimate;
pub mod failed_csv;
pub mod fields;
pub mod ingest;
pub mod journal;
pub mod mapping;
pub mod reader;
pub mod records;

pub use chunks::{
    chunk_job, custom_fields, register, strand_job, strand_jobs, strands_for, CHUNK_KIND,
    CHUNK_ROWS, STRANDS,
};
pub use control::{ControlError, DryRun, Progress};
pub use estimate::{
    estimate, likely_row_cost, row_cost, Estimate, EstimateError, MirrorAnswers, Pace,
};
pub use failed_csv::{escape_formula, write_failed_rows};
pub use fields::{suggest_mapping, target_fields, CustomField, TargetField};
pub use ingest::{ingest_file, IngestError, Upload};
pub use mapping::{Mapping, MappingError};
pub use reader::{CsvFile, FileError, MAX_RECORD_BYTES};

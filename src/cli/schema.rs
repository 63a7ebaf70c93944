//! `qa-reload schema`: the JSON Schema of each file kind, printed or written
//! to a folder (the example repository keeps them in `schemas/`).

use std::io::Write;
use std::path::Path;

use crate::cli::{EXIT_OK, EXIT_USAGE, create_out_dir, write_files_into};
use crate::load::json_schema::{SchemaKind, schema_text};

/// Prints the schema of `kind`, or writes the schemas (of `kind`, or of
/// every kind) into `out_dir` as `<kind>.schema.json`.
pub fn run(
    kind: Option<SchemaKind>,
    out_dir: Option<&Path>,
    out: &mut dyn Write,
) -> std::io::Result<u8> {
    let Some(dir) = out_dir else {
        return match kind {
            Some(kind) => {
                out.write_all(schema_text(kind).as_bytes())?;
                Ok(EXIT_OK)
            }
            None => {
                writeln!(
                    out,
                    "error: name a kind to print ({}) or pass --out DIR to write them all",
                    kinds()
                )?;
                Ok(EXIT_USAGE)
            }
        };
    };
    let chosen: Vec<SchemaKind> = match kind {
        Some(kind) => vec![kind],
        None => SchemaKind::ALL.to_vec(),
    };
    if let Err(message) = create_out_dir(dir) {
        writeln!(out, "error: {message}")?;
        return Ok(EXIT_USAGE);
    }
    let written = write_files_into(dir, |staging| {
        for kind in chosen {
            std::fs::write(staging.join(kind.file_name()), schema_text(kind))?;
        }
        Ok(())
    });
    match written {
        Ok(paths) => {
            for path in paths {
                writeln!(out, "wrote {}", path.display())?;
            }
        }
        Err(e) => {
            writeln!(
                out,
                "error: cannot write the schemas into {}: {e}",
                dir.display()
            )?;
            return Ok(EXIT_USAGE);
        }
    }
    Ok(EXIT_OK)
}

fn kinds() -> String {
    SchemaKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

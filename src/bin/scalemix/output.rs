//! Writing results safely: every file the tool writes goes to a temporary file in the same
//! folder first and is renamed over the destination only once complete, so an interrupted or
//! failed write (a full disk) never leaves a broken file where a good one was; and no output
//! may name an input (or another output) of the same command, checked before any work starts.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically (a sibling temporary file, flushed to disk, then renamed).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let failed = |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", path.display());
    let mut file = sibling_temporary(path).map_err(|e| failed(&e))?;
    file.write_all(bytes).map_err(|e| failed(&e))?;
    file.as_file().sync_all().map_err(|e| failed(&e))?;
    file.persist(path).map_err(|e| failed(&e.error))?;
    Ok(())
}

/// A temporary file beside `path`, to be renamed over it once complete, with the permissions a
/// plain create of `path` would give: those of the file it replaces, or 0666 less the umask for
/// a new one (a temporary file's own 0600 would otherwise survive the rename).
pub fn sibling_temporary(path: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    let plain = {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::Permissions::from_mode(0o666)
    };
    #[cfg(unix)]
    builder.permissions(plain);
    let file = builder.tempfile_in(folder)?;
    if let Ok(existing) = std::fs::metadata(path) {
        file.as_file().set_permissions(existing.permissions())?;
    }
    Ok(file)
}

/// The file `path` names, resolved through links and relative parts where it exists (or where
/// its folder does), for comparing two names of one file.
fn identity(path: &Path) -> PathBuf {
    if let Ok(full) = std::fs::canonicalize(path) {
        return full;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
            std::fs::canonicalize(parent).map_or_else(|_| path.to_path_buf(), |p| p.join(name))
        }
        _ => path.to_path_buf(),
    }
}

/// Refuses an output that names one of the `inputs` or another output (`--output` equal to
/// `--plot`), before anything is read or fitted.
pub fn check_outputs(inputs: &[&Path], outputs: &[Option<&Path>]) -> Result<(), String> {
    let outputs: Vec<&Path> = outputs.iter().flatten().copied().collect();
    for (k, output) in outputs.iter().enumerate() {
        let id = identity(output);
        if let Some(input) = inputs.iter().find(|input| identity(input) == id) {
            return Err(format!(
                "the output {} is the input {}: refusing to overwrite an input",
                output.display(),
                input.display()
            ));
        }
        if let Some(other) = outputs[..k].iter().find(|other| identity(other) == id) {
            return Err(format!(
                "{} is named for two outputs ({} and {})",
                output.display(),
                other.display(),
                output.display()
            ));
        }
    }
    Ok(())
}

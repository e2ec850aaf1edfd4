//! Where the files of the file base live: always inside the data directory.
//!
//! A file's `path` is relative to the data directory. Six traversal paths (`../../etc/…`,
//! absolute paths) were once accepted and a WAV from outside the data directory was played to
//! an anonymous caller. Now a path is checked when it is saved ([`path_violations`]: relative,
//! no `..`, no empty or `.` parts, no backslashes or control characters) and again when it is
//! used ([`confine`]: the resolved file, symlinks followed, must still be inside the data
//! directory), so a symlink planted later cannot lead out either.

use crate::validate::{v, Violation};
use std::path::{Component, Path, PathBuf};

/// Longest file path accepted.
pub const MAX_PATH_BYTES: usize = 512;

/// What is wrong with a file path as saved (empty: nothing).
pub fn path_violations(path: &str) -> Vec<Violation> {
    let bad = |m: &str| vec![v("file.path", m)];
    if path.trim().is_empty() {
        return bad("the path is required");
    }
    if path.len() > MAX_PATH_BYTES {
        return bad(&format!("the path is longer than {MAX_PATH_BYTES} bytes"));
    }
    if path.chars().any(|c| c.is_control() || c == '\\') {
        return bad("the path may not contain backslashes or control characters");
    }
    if path.starts_with('/') || path.starts_with('~') || Path::new(path).is_absolute() {
        return bad("the path must be relative to the data directory (e.g. prompts/greeting.wav)");
    }
    for part in path.split('/') {
        match part {
            ".." => return bad("the path may not leave the data directory (`..`)"),
            "" | "." => return bad("the path may not have empty or `.` parts"),
            _ => {}
        }
    }
    Vec::new()
}

/// Why a file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The saved path breaks a rule (a record written before the rules, or by hand).
    #[error("path {path:?} is refused: {reason}")]
    Refused {
        /// The path.
        path: String,
        /// The rule.
        reason: String,
    },
    /// The file resolves outside the data directory (a symlink).
    #[error("path {0:?} leads outside the data directory")]
    Escapes(String),
}

/// The file `path` (relative, as saved) inside `data_dir`, checked: the rules of
/// [`path_violations`], then, when the file exists, its real location (symlinks followed) must
/// be inside the real data directory. A file that does not exist yet (a recording about to be
/// written) is checked through its nearest existing parent.
pub fn confine(data_dir: &Path, path: &str) -> Result<PathBuf, PathError> {
    if let Some(x) = path_violations(path).into_iter().next() {
        return Err(PathError::Refused {
            path: path.to_owned(),
            reason: x.message,
        });
    }
    let joined = data_dir.join(path);
    let Ok(root) = data_dir.canonicalize() else {
        // No data directory yet: nothing inside it can be a symlink.
        return Ok(joined);
    };
    let mut probe = joined.as_path();
    let real = loop {
        match probe.canonicalize() {
            Ok(real) => break real,
            Err(_) => match probe.parent() {
                Some(parent) => probe = parent,
                None => return Err(PathError::Escapes(path.to_owned())),
            },
        }
    };
    if real.starts_with(&root) && joined.components().all(|c| c != Component::ParentDir) {
        Ok(joined)
    } else {
        Err(PathError::Escapes(path.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_paths_stay_relative_and_inside() {
        for good in [
            "prompts/greeting.wav",
            "a.wav",
            "voicemail/2026/x y.wav",
            "..x/a..b.wav",
        ] {
            assert!(path_violations(good).is_empty(), "{good}");
        }
        for bad in [
            "",
            "../../etc/passwd",
            "prompts/../../etc/shadow",
            "/etc/passwd",
            "/usr/share/sounds/alsa/Front_Center.wav",
            "~/x.wav",
            "prompts//x.wav",
            "./x.wav",
            "prompts\\..\\x.wav",
            "a\0b",
        ] {
            let v = path_violations(bad);
            assert_eq!(v.len(), 1, "{bad:?}");
            assert_eq!(v[0].rule, "file.path");
        }
    }

    #[test]
    fn symlinks_cannot_lead_out() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.wav"), b"RIFF").unwrap();
        let data = tempfile::tempdir().unwrap();
        std::fs::create_dir(data.path().join("prompts")).unwrap();
        std::fs::write(data.path().join("prompts/ok.wav"), b"RIFF").unwrap();
        std::os::unix::fs::symlink(outside.path(), data.path().join("prompts/out")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.wav"),
            data.path().join("prompts/link.wav"),
        )
        .unwrap();
        assert_eq!(
            confine(data.path(), "prompts/ok.wav").unwrap(),
            data.path().join("prompts/ok.wav")
        );
        // Not there yet (a recording to be written): checked through its parent.
        assert!(confine(data.path(), "voicemail/new.wav").is_ok());
        assert!(confine(data.path(), "prompts/new.wav").is_ok());
        for escape in [
            "prompts/link.wav",
            "prompts/out/secret.wav",
            "prompts/out/new.wav",
        ] {
            assert_eq!(
                confine(data.path(), escape),
                Err(PathError::Escapes(escape.into())),
                "{escape}"
            );
        }
        assert!(matches!(
            confine(data.path(), "../x.wav"),
            Err(PathError::Refused { .. })
        ));
    }
}

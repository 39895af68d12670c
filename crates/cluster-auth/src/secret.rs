//! The shared cluster secret and where it comes from.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The environment variable [`Secret::from_env`] reads.
pub const SECRET_ENV: &str = "CLUSTER_SECRET";

/// Why a secret could not be loaded.
///
/// No variant ever contains any part of the secret.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The secret file could not be read.
    #[error("cannot read secret file {}: {source}", path.display())]
    ReadSecretFile {
        /// The file that was given.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The secret file holds nothing but whitespace and newlines.
    #[error("secret file {} is empty: put the shared cluster secret in it (the same on every node)", path.display())]
    EmptySecretFile {
        /// The file that was given.
        path: PathBuf,
    },
    /// `CLUSTER_SECRET` is set but empty.
    #[error("{SECRET_ENV} is set but empty: set it to the shared cluster secret, or unset it")]
    EmptySecretEnv,
    /// A secret given directly (not from a file or the environment) was empty.
    #[error("the cluster secret must not be empty")]
    EmptySecret,
}

/// The shared secret every node of a cluster holds; requests prove they know
/// it without sending it (see [`crate::scheme`]).
///
/// Cheap to clone. Its `Debug` output is `Secret(***)`; it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<[u8]>);

impl Secret {
    /// A secret from raw bytes, used as given. Refuses an empty one.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, AuthError> {
        let bytes = bytes.into();
        if bytes.is_empty() {
            return Err(AuthError::EmptySecret);
        }
        Ok(Self(bytes.into()))
    }

    /// Reads the secret from a file; trailing newlines (`\n`, `\r\n`) are
    /// dropped, everything else is kept. Refuses an empty file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, AuthError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .map_err(|source| AuthError::ReadSecretFile { path: path.to_owned(), source })?;
        let bytes = trim_trailing_newlines(&bytes);
        if bytes.is_empty() {
            return Err(AuthError::EmptySecretFile { path: path.to_owned() });
        }
        Ok(Self(bytes.into()))
    }

    /// Reads the secret from `CLUSTER_SECRET`: `Ok(None)` when it is not set,
    /// an error when it is set but empty. Trailing newlines are dropped.
    pub fn from_env() -> Result<Option<Self>, AuthError> {
        Self::from_env_value(std::env::var_os(SECRET_ENV))
    }

    fn from_env_value(value: Option<std::ffi::OsString>) -> Result<Option<Self>, AuthError> {
        let Some(value) = value else {
            return Ok(None);
        };
        let bytes = value.into_encoded_bytes();
        let bytes = trim_trailing_newlines(&bytes);
        if bytes.is_empty() {
            return Err(AuthError::EmptySecretEnv);
        }
        Ok(Some(Self(bytes.into())))
    }

    /// The secret a node should use: from `file` when one is given (the
    /// `--secret-file` flag), else from `CLUSTER_SECRET`, else none.
    pub fn load(file: Option<&Path>) -> Result<Option<Self>, AuthError> {
        match file {
            Some(path) => Self::from_file(path).map(Some),
            None => Self::from_env(),
        }
    }

    /// The secret's bytes, for the MAC only.
    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

fn trim_trailing_newlines(mut bytes: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r'] = bytes {
        bytes = rest;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cluster-auth-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = Secret::new("hunter2").unwrap();
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(format!("{:?}", Some(secret)), "Some(Secret(***))");
    }

    #[test]
    fn file_loses_trailing_newlines_only() {
        let path = temp_file("newline", b" s3cret \r\n\n");
        assert_eq!(Secret::from_file(&path).unwrap().expose(), b" s3cret ");
        let path = temp_file("plain", b"s3cret");
        assert_eq!(Secret::from_file(&path).unwrap().expose(), b"s3cret");
    }

    #[test]
    fn empty_file_is_refused_naming_the_path() {
        let path = temp_file("empty", b"\n");
        let err = Secret::from_file(&path).unwrap_err();
        assert!(matches!(err, AuthError::EmptySecretFile { .. }));
        assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = Secret::from_file("/nonexistent/cluster-secret").unwrap_err();
        assert!(matches!(err, AuthError::ReadSecretFile { .. }));
        assert!(err.to_string().contains("/nonexistent/cluster-secret"), "{err}");
    }

    #[test]
    fn env_value() {
        assert!(Secret::from_env_value(None).unwrap().is_none());
        let secret = Secret::from_env_value(Some("abc\n".into())).unwrap().unwrap();
        assert_eq!(secret.expose(), b"abc");
        assert!(matches!(Secret::from_env_value(Some("".into())), Err(AuthError::EmptySecretEnv)));
    }

    #[test]
    fn load_prefers_the_file() {
        let path = temp_file("preferred", b"from-file\n");
        let secret = Secret::load(Some(&path)).unwrap().unwrap();
        assert_eq!(secret.expose(), b"from-file");
    }

    #[test]
    fn empty_secret_is_refused() {
        assert!(matches!(Secret::new(""), Err(AuthError::EmptySecret)));
    }
}

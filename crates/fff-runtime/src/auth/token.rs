//! Where the auth token comes from: `FFF_AUTH_TOKEN`, else `auth.token_file`, else
//! `./.fff/auth-token`, created with a random token on first use so a fresh install is never
//! open. The token is never logged; only the file path is.

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use rand::TryRngCore;
use rand::rngs::OsRng;

use crate::config::{AuthConfig, EnvSource, vars};
use crate::error::{Error, Result};
use crate::secret::SecretString;

/// Token file used when neither `FFF_AUTH_TOKEN` nor `auth.token_file` is set (relative to the
/// working directory, shared by every role started there and by the CLI).
pub const DEFAULT_TOKEN_PATH: &str = ".fff/auth-token";

/// Tokens go into an HTTP header: printable ASCII, no spaces.
pub(crate) fn is_valid_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic())
}

/// Resolves the token with the default path [`DEFAULT_TOKEN_PATH`].
pub fn load_or_create_token(config: &AuthConfig, env: &dyn EnvSource) -> Result<SecretString> {
    load_or_create_token_in(config, env, Path::new(DEFAULT_TOKEN_PATH))
}

/// Resolves the token: env, else the configured file (which must exist), else `default_path`
/// (read, or created with 32 random bytes in hex, mode 0600, parent directory 0700).
pub fn load_or_create_token_in(
    config: &AuthConfig,
    env: &dyn EnvSource,
    default_path: &Path,
) -> Result<SecretString> {
    if let Some(token) = env.var(vars::FFF_AUTH_TOKEN) {
        let token = token.trim();
        if !is_valid_token(token) {
            return Err(Error::TokenInvalid {
                source_name: vars::FFF_AUTH_TOKEN.to_owned(),
            });
        }
        return Ok(SecretString::from(token));
    }
    if let Some(path) = &config.token_file {
        return read_token(path);
    }
    match read_token(default_path) {
        Err(Error::TokenRead { source, .. }) if source.kind() == ErrorKind::NotFound => {
            create_token(default_path)
        }
        other => other,
    }
}

/// Client side (CLI, tools): the token if one is available (env, configured file, or an existing
/// default file), never creating one; `None` means only read RPCs will succeed.
pub fn load_token(config: &AuthConfig, env: &dyn EnvSource) -> Result<Option<SecretString>> {
    load_token_in(config, env, Path::new(DEFAULT_TOKEN_PATH))
}

/// [`load_token`] with an explicit default path.
pub fn load_token_in(
    config: &AuthConfig,
    env: &dyn EnvSource,
    default_path: &Path,
) -> Result<Option<SecretString>> {
    if env.var(vars::FFF_AUTH_TOKEN).is_some() || config.token_file.is_some() {
        return load_or_create_token_in(config, env, default_path).map(Some);
    }
    match read_token(default_path) {
        Ok(token) => Ok(Some(token)),
        Err(Error::TokenRead { source, .. }) if source.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn read_token(path: &Path) -> Result<SecretString> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::TokenRead {
        path: path.to_owned(),
        source,
    })?;
    warn_if_shared(path);
    let token = text.trim();
    if !is_valid_token(token) {
        return Err(Error::TokenInvalid {
            source_name: path.display().to_string(),
        });
    }
    Ok(SecretString::from(token))
}

#[cfg(unix)]
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "auth token file is readable by other users");
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_path: &Path) {}

/// Writes a fresh token to a private temp file and hard-links it into place, so a concurrent
/// role either wins the race or reads the complete winner; never a half-written file.
fn create_token(path: &Path) -> Result<SecretString> {
    let create_error = |source| Error::TokenCreate {
        path: path.to_owned(),
        source,
    };
    let mut bytes = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| create_error(std::io::Error::other(e.to_string())))?;
    let token = hex::encode(bytes);

    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir).map_err(create_error)?;
    }
    let temp = temp_path(path);
    let written = write_private(&temp, &token).and_then(|()| std::fs::hard_link(&temp, path));
    let _ = std::fs::remove_file(&temp);
    match written {
        Ok(()) => {
            tracing::info!(path = %path.display(), "created auth token file");
            Ok(SecretString::new(token))
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => read_token(path),
        Err(e) => Err(create_error(e)),
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp.{}", std::process::id()));
    let mut nonce = [0u8; 8];
    if OsRng.try_fill_bytes(&mut nonce).is_ok() {
        name.push(format!(".{}", hex::encode(nonce)));
    }
    path.with_file_name(name)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

fn write_private(path: &Path, token: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(token.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MapEnv;

    #[test]
    fn env_wins_then_configured_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        let config = AuthConfig {
            token_file: Some(file),
        };
        let default = dir.path().join("default");
        let env = MapEnv::from([("FFF_AUTH_TOKEN", "from-env")]);
        let token = load_or_create_token_in(&config, &env, &default).unwrap();
        assert_eq!(token.expose(), "from-env");
        let token = load_or_create_token_in(&config, &MapEnv::new(), &default).unwrap();
        assert_eq!(token.expose(), "from-file");
        assert!(!default.exists());

        let missing = AuthConfig {
            token_file: Some(dir.path().join("missing")),
        };
        let error = load_or_create_token_in(&missing, &MapEnv::new(), &default).unwrap_err();
        assert!(matches!(error, Error::TokenRead { .. }), "{error}");
        let blank = MapEnv::from([("FFF_AUTH_TOKEN", "has space")]);
        assert!(load_or_create_token_in(&config, &blank, &default).is_err());
    }

    #[test]
    fn default_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".fff").join("auth-token");
        let config = AuthConfig::default();
        let first = load_or_create_token_in(&config, &MapEnv::new(), &path).unwrap();
        assert_eq!(first.expose().len(), 64);
        assert!(first.expose().bytes().all(|b| b.is_ascii_hexdigit()));
        let second = load_or_create_token_in(&config, &MapEnv::new(), &path).unwrap();
        assert_eq!(first.expose(), second.expose());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
        }
        // no temp files left behind
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[test]
    fn clients_never_create_a_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth-token");
        let config = AuthConfig::default();
        assert!(
            load_token_in(&config, &MapEnv::new(), &path)
                .unwrap()
                .is_none()
        );
        assert!(!path.exists());
        let created = load_or_create_token_in(&config, &MapEnv::new(), &path).unwrap();
        let loaded = load_token_in(&config, &MapEnv::new(), &path)
            .unwrap()
            .unwrap();
        assert_eq!(created.expose(), loaded.expose());
        let env = MapEnv::from([("FFF_AUTH_TOKEN", "env-token")]);
        let from_env = load_token_in(&config, &env, &path).unwrap().unwrap();
        assert_eq!(from_env.expose(), "env-token");
    }

    #[test]
    fn concurrent_creators_agree() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth-token");
        let tokens: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        load_or_create_token_in(&AuthConfig::default(), &MapEnv::new(), &path)
                            .unwrap()
                            .into_exposed()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(tokens.iter().all(|t| t == &tokens[0]), "{tokens:?}");
    }
}

//! Administration from the command line. Natter has no admin role in the web
//! UI: whoever can run the server binary against its database administers it.
//!
//! - `server disable-user NAME`: the account can no longer log in, its
//!   sessions are deleted, and its open sockets on every node close at their
//!   next session re-check (within `session_recheck`, 5 s).
//! - `server enable-user NAME`: undoes that (the user logs in again).

use crate::config::Config;
use app::backend::{BackendError, Store};

pub const USAGE: &str = "usage: server                    serve Natter (configured by the environment)
       server disable-user NAME  disable an account and end its sessions
       server enable-user NAME   re-enable a disabled account";

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Disable(String),
    Enable(String),
}

impl Command {
    /// The command named by the arguments (without the program name).
    pub fn parse(args: &[String]) -> Result<Self, String> {
        match args {
            [verb, name] if verb == "disable-user" => Ok(Command::Disable(name.clone())),
            [verb, name] if verb == "enable-user" => Ok(Command::Enable(name.clone())),
            _ => Err(USAGE.into()),
        }
    }

    /// Runs the command against the configured database; returns what to tell the admin.
    pub async fn run(&self, config: &Config) -> Result<String, BackendError> {
        let store = Store::connect(&config.database_url, 1).await?;
        let (name, disable) = match self {
            Command::Disable(name) => (name, true),
            Command::Enable(name) => (name, false),
        };
        let done = store.set_disabled(&app::validate::UserKey::of(name), disable).await;
        store.close().await;
        match done? {
            None => Err(BackendError::Invalid(app::validate::Invalid(format!(
                "There is no user called {name:?}."
            )))),
            Some(_) if disable => Ok(format!(
                "Disabled {name}: their sessions are deleted and their open sockets close within {} s.",
                config.timings.session_recheck.as_secs()
            )),
            Some(_) => Ok(format!("Enabled {name}: they can log in again.")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn commands_parse_and_anything_else_gets_the_usage() {
        assert_eq!(
            Command::parse(&args(&["disable-user", "bob"])),
            Ok(Command::Disable("bob".into()))
        );
        assert_eq!(
            Command::parse(&args(&["enable-user", "bob"])),
            Ok(Command::Enable("bob".into()))
        );
        assert_eq!(Command::parse(&args(&["disable-user"])), Err(USAGE.into()));
        assert_eq!(Command::parse(&args(&["drop-tables", "x"])), Err(USAGE.into()));
    }
}

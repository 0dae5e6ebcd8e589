//! Administration from the command line: whoever can run the server binary
//! against its database administers it, and this is how the first
//! administrator is made (no first-run page that anyone could reach first).
//! Every command is written to the audit log as done by "command line".
//!
//! - `server grant-role NAME admin|moderator|member`: gives NAME that site role.
//! - `server revoke-role NAME`: makes NAME a member again.
//! - `server disable-user NAME`: the account can no longer log in, its
//!   sessions are deleted, and its open sockets on every node close.
//! - `server enable-user NAME`: undoes that (the user logs in again).
//! - `server rebuild-search`: indexes every message for search again, while
//!   the nodes run (for a restored backup, or an index in doubt).
//!
//! The last administrator who can log in is never demoted or disabled.

use crate::config::Config;
use app::backend::store::Actor;
use app::backend::{BackendError, Store};
use app::protocol::SiteRole;
use app::validate::{Invalid, UserKey};

pub const USAGE: &str = "usage: server                                  serve Natter (configured by the environment)
       server grant-role NAME admin|moderator|member  give an account a site role
       server revoke-role NAME                 make an account a plain member again
       server disable-user NAME                disable an account and end its sessions
       server enable-user NAME                 re-enable a disabled account
       server rebuild-search                   index every message for search again";

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Disable(String),
    Enable(String),
    SetRole(String, SiteRole),
    RebuildSearch,
}

impl Command {
    /// The command named by the arguments (without the program name).
    pub fn parse(args: &[String]) -> Result<Self, String> {
        match args {
            [verb] if verb == "rebuild-search" => Ok(Command::RebuildSearch),
            [verb, name] if verb == "disable-user" => Ok(Command::Disable(name.clone())),
            [verb, name] if verb == "enable-user" => Ok(Command::Enable(name.clone())),
            [verb, name] if verb == "revoke-role" => Ok(Command::SetRole(name.clone(), SiteRole::Member)),
            [verb, name, role] if verb == "grant-role" => match SiteRole::parse(role) {
                Some(role) => Ok(Command::SetRole(name.clone(), role)),
                None => Err(format!(
                    "natter: {role:?} is not a role (admin, moderator or member)\n{USAGE}"
                )),
            },
            _ => Err(USAGE.into()),
        }
    }

    /// Runs the command against the configured database; returns what to tell the admin.
    pub async fn run(&self, config: &Config) -> Result<String, BackendError> {
        let store = Store::connect(&config.database_url, 1).await?;
        let done = self.run_on(&store, config).await;
        store.close().await;
        done
    }

    async fn run_on(&self, store: &Store, config: &Config) -> Result<String, BackendError> {
        let by = Actor::command_line();
        let no_such = |name: &str| BackendError::Invalid(Invalid(format!("There is no user called {name:?}.")));
        match self {
            Command::Disable(name) => match store.set_disabled(&UserKey::of(name), true, &by).await? {
                None => Err(no_such(name)),
                Some(_) if tell_the_nodes(config).await => Ok(format!(
                    "Disabled {name}: their sessions are deleted and their open sockets close now."
                )),
                Some(_) => Ok(format!(
                    "Disabled {name}: their sessions are deleted and their open sockets close within {} s.",
                    config.timings.session_recheck.as_secs()
                )),
            },
            Command::Enable(name) => match store.set_disabled(&UserKey::of(name), false, &by).await? {
                None => Err(no_such(name)),
                Some(_) => Ok(format!("Enabled {name}: they can log in again.")),
            },
            Command::RebuildSearch => {
                let n = store.rebuild_search().await?;
                Ok(format!("Indexed {n} messages for search."))
            }
            Command::SetRole(name, role) => match store.set_role(&UserKey::of(name), *role, &by).await? {
                None => Err(no_such(name)),
                Some((_, was)) => Ok(format!(
                    "{name} is now {} (was {}).",
                    role.label().to_lowercase(),
                    was.label().to_lowercase()
                )),
            },
        }
    }
}

/// Tells the running nodes, through Redis, that sessions ended, so they
/// close those sockets now; `false` if there is no Redis to tell (the nodes
/// then notice at their next session re-check).
async fn tell_the_nodes(config: &Config) -> bool {
    let Some(url) = &config.redis_url else { return false };
    let told = async {
        let bus = crate::bus::RedisBus::connect(url, &config.redis_prefix).await?;
        let published = bus.publish(&crate::bus::BusEvent::SessionsEnded).await;
        bus.quit().await;
        published
    };
    match tokio::time::timeout(std::time::Duration::from_secs(5), told).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            eprintln!("natter: could not reach Redis ({e}); the nodes notice at their next session re-check");
            false
        }
        Err(_) => false,
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
        assert_eq!(
            Command::parse(&args(&["grant-role", "bob", "admin"])),
            Ok(Command::SetRole("bob".into(), SiteRole::Admin))
        );
        assert_eq!(
            Command::parse(&args(&["grant-role", "bob", "Moderator"])),
            Ok(Command::SetRole("bob".into(), SiteRole::Moderator))
        );
        assert_eq!(
            Command::parse(&args(&["revoke-role", "bob"])),
            Ok(Command::SetRole("bob".into(), SiteRole::Member))
        );
        assert_eq!(Command::parse(&args(&["rebuild-search"])), Ok(Command::RebuildSearch));
        let wrong_role = Command::parse(&args(&["grant-role", "bob", "king"])).unwrap_err();
        assert!(wrong_role.contains("\"king\" is not a role"), "{wrong_role}");
        assert!(wrong_role.contains(USAGE));
        assert_eq!(Command::parse(&args(&["grant-role", "bob"])), Err(USAGE.into()));
        assert_eq!(Command::parse(&args(&["disable-user"])), Err(USAGE.into()));
        assert_eq!(Command::parse(&args(&["drop-tables", "x"])), Err(USAGE.into()));
    }
}

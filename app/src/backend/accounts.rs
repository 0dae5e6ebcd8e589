//! Accounts and sessions: argon2id password hashes (computed on a few
//! threads of their own at low CPU priority, so a login storm cannot starve
//! the chat),
//! random session tokens stored only as their SHA-256, and the session cookie.

use super::clock::now_ms;
use super::error::{BackendError, LoginRefusal, Refusal};
use super::store::{Store, TokenHash};
use crate::protocol::{Me, SignupPolicy};
use crate::validate::{Password, UserKey, Username};
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use http::HeaderMap;
use std::sync::{Arc, Mutex};

pub const SESSION_COOKIE: &str = "natter_session";
/// Over https the cookie carries the `__Host-` prefix: browsers then accept
/// it only from this exact origin over https, with `Path=/` and no Domain,
/// so a sibling subdomain or a plain-http page cannot plant or overwrite it.
pub const SECURE_SESSION_COOKIE: &str = "__Host-natter_session";
/// How long a session lives after login, however active.
pub const SESSION_LIFETIME_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// A session unused for this long ends (an open tab keeps it in use).
pub const SESSION_IDLE_MS: i64 = 7 * 24 * 60 * 60 * 1000;

type Result<T> = std::result::Result<T, BackendError>;

/// A session token as handed to the browser (hex of 256 random bits).
pub struct SessionToken(pub String);

#[derive(Clone)]
pub struct Accounts {
    store: Store,
    /// Where argon2 runs (each hash ~19 MiB and ~25 ms of CPU).
    hashing: HashPool,
    /// A hash of a random password, verified against when the user does not
    /// exist so that unknown-user and wrong-password logins cost the same.
    dummy_hash: Arc<String>,
    /// Mark cookies `Secure` (the site is served over https).
    secure_cookies: bool,
}

impl Accounts {
    pub async fn new(store: Store, secure_cookies: bool, hashing_threads: usize) -> Result<Self> {
        let hashing = HashPool::start(hashing_threads)?;
        let mut seed = [0u8; 16];
        getrandom::fill(&mut seed).map_err(|e| BackendError::Hashing(e.to_string()))?;
        let dummy = hash_blocking(&hashing, hex(&seed).into_bytes()).await?;
        Ok(Self {
            store,
            hashing,
            dummy_hash: Arc::new(dummy),
            secure_cookies,
        })
    }

    /// Creates the account and a session for it, as the site's sign-up
    /// policy allows: an invitation link's token is needed (and one use of
    /// it taken) when sign-ups are by invitation; none may sign up when
    /// they are closed.
    pub async fn sign_up(
        &self,
        username: &Username,
        password: &Password,
        invitation: Option<&str>,
    ) -> Result<(Me, SessionToken)> {
        let invitation = match self.store.settings().await?.signups {
            SignupPolicy::Open => None,
            SignupPolicy::Closed => return Err(BackendError::Forbidden(Refusal::SignupsClosed)),
            SignupPolicy::Invitation => match invitation.map(str::trim).filter(|t| !t.is_empty()) {
                Some(token) => Some(TokenHash::of(token)),
                None => return Err(BackendError::Forbidden(Refusal::InvitationNotValid)),
            },
        };
        let hash = hash_blocking(&self.hashing, password.as_bytes().to_vec()).await?;
        let me = self
            .store
            .create_user_invited(username, &hash, invitation.as_ref())
            .await?;
        let token = self.start_session(&me).await?;
        Ok((me, token))
    }

    /// Checks the password and starts a fresh session. Unknown user and wrong
    /// password give the same error after the same amount of work.
    pub async fn log_in(&self, username: &str, password: &str) -> Result<(Me, SessionToken)> {
        let wrong = || BackendError::LoginRefused(LoginRefusal::WrongCredentials);
        // Bounded before hashing: nothing longer than the maximum can be right.
        if password.chars().count() > crate::validate::PASSWORD_MAX {
            return Err(wrong());
        }
        let found = self.store.credentials(&UserKey::of(username)).await?;
        let (hash, me, disabled) = match found {
            Some(c) => (c.password_hash, Some(c.me), c.disabled),
            None => (self.dummy_hash.as_ref().clone(), None, false),
        };
        let ok = verify_blocking(&self.hashing, hash, password.as_bytes().to_vec()).await?;
        match (ok, me) {
            // Said only to someone who knows the password: no oracle for others.
            (true, Some(_)) if disabled => Err(BackendError::LoginRefused(LoginRefusal::Disabled)),
            (true, Some(me)) => {
                let token = self.start_session(&me).await?;
                Ok((me, token))
            }
            _ => Err(wrong()),
        }
    }

    /// A new random token for every login: a token planted before login is never reused.
    async fn start_session(&self, me: &Me) -> Result<SessionToken> {
        let token = random_token()?;
        self.store
            .create_session(&TokenHash::of(&token), me.id, now_ms() + SESSION_LIFETIME_MS)
            .await?;
        Ok(SessionToken(token))
    }

    pub async fn log_out(&self, headers: &HeaderMap) -> Result<()> {
        if let Some(token) = self.token_from_headers(headers) {
            self.store.delete_session(&TokenHash::of(&token)).await?;
        }
        Ok(())
    }

    /// Which of `tokens` are still live sessions (not logged out, expired or
    /// disabled), in one query; using them keeps them alive.
    pub async fn live_tokens<'t>(&self, tokens: &[&'t str]) -> Result<std::collections::HashSet<&'t str>> {
        let hashes: Vec<TokenHash> = tokens.iter().map(|t| TokenHash::of(t)).collect();
        let live = self.store.live_sessions(&hashes, SESSION_IDLE_MS).await?;
        Ok(tokens
            .iter()
            .zip(&hashes)
            .filter(|(_, hash)| live.contains(*hash))
            .map(|(token, _)| *token)
            .collect())
    }

    /// The user behind the request's session cookie.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Me> {
        let token = self.token_from_headers(headers).ok_or(BackendError::Unauthorized)?;
        self.store
            .session_user(&TokenHash::of(&token), SESSION_IDLE_MS)
            .await?
            .ok_or(BackendError::Unauthorized)
    }

    fn cookie_name(&self) -> &'static str {
        if self.secure_cookies {
            SECURE_SESSION_COOKIE
        } else {
            SESSION_COOKIE
        }
    }

    /// The session token from the request's `Cookie` header(s), if any.
    pub fn token_from_headers(&self, headers: &HeaderMap) -> Option<String> {
        token_from_headers(headers, self.cookie_name())
    }

    /// `Set-Cookie` value carrying a new session.
    pub fn session_cookie(&self, token: &SessionToken) -> String {
        cookie::Cookie::build((self.cookie_name(), token.0.clone()))
            .path("/")
            .http_only(true)
            .same_site(cookie::SameSite::Lax)
            .secure(self.secure_cookies)
            .max_age(cookie::time::Duration::milliseconds(SESSION_LIFETIME_MS))
            .build()
            .to_string()
    }

    /// `Set-Cookie` value that removes the session cookie.
    pub fn clear_cookie(&self) -> String {
        cookie::Cookie::build((self.cookie_name(), ""))
            .path("/")
            .http_only(true)
            .same_site(cookie::SameSite::Lax)
            .secure(self.secure_cookies)
            .max_age(cookie::time::Duration::ZERO)
            .build()
            .to_string()
    }
}

/// 256 random bits, as hex: session tokens and invitation links.
pub fn random_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| BackendError::Hashing(e.to_string()))?;
    Ok(hex(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of the cookie `name` from the `Cookie` header(s), if any.
fn token_from_headers(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(|c| c.ok())
        .find(|c| c.name() == name && !c.value().is_empty())
        .map(|c| c.value().to_owned())
}

type HashJob = Box<dyn FnOnce() + Send>;

/// Password hashing's own threads, at low CPU priority: during a login storm
/// the hashes wait for spare CPU instead of taking it from the chat. (On two
/// cores, two hashing threads at normal priority took chat p99 from 16 ms to
/// 130 ms during 20 logins/s.) Bounded: when the queue is full, a login is
/// refused with "try again" rather than queued without end.
#[derive(Clone)]
struct HashPool {
    jobs: std::sync::mpsc::SyncSender<HashJob>,
}

/// Hashes waiting for a thread before logins are refused.
const HASH_QUEUE: usize = 256;
/// Nice value of the hashing threads (0 normal, 19 lowest).
const HASH_NICE: i32 = 19;

impl HashPool {
    fn start(threads: usize) -> Result<Self> {
        let (jobs, queue) = std::sync::mpsc::sync_channel::<HashJob>(HASH_QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("natter-hash-{n}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        // Poison only means another hashing thread panicked
                        // while waiting; the queue itself is intact.
                        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match next {
                            Ok(job) => job(),
                            Err(_) => return, // every Accounts is gone
                        }
                    }
                })
                .map_err(|e| BackendError::Hashing(e.to_string()))?;
        }
        Ok(Self { jobs })
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: HashJob = Box::new(move || {
            let _ = done.send(work());
        });
        self.jobs
            .try_send(job)
            .map_err(|_| BackendError::Overloaded("too many logins at once"))?;
        result.await.map_err(|e| BackendError::Hashing(e.to_string()))
    }
}

/// Lowers the calling thread's CPU priority.
fn lower_priority() {
    // SAFETY: setpriority reads and writes no memory of ours. On Linux the
    // nice value is per thread, and PRIO_PROCESS with id 0 names the calling
    // thread only, so the runtime's threads keep their priority.
    #[cfg(target_os = "linux")]
    let failed = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, HASH_NICE) } != 0;
    #[cfg(not(target_os = "linux"))]
    let failed = false;
    if failed {
        tracing::warn!("could not lower the password hashing threads' priority");
    }
}

async fn hash_blocking(pool: &HashPool, password: Vec<u8>) -> Result<String> {
    pool.run(move || {
        Argon2::default()
            .hash_password(&password)
            .map(|h| h.to_string())
            .map_err(|e| BackendError::Hashing(e.to_string()))
    })
    .await?
}

async fn verify_blocking(pool: &HashPool, phc: String, password: Vec<u8>) -> Result<bool> {
    pool.run(move || {
        let parsed = PasswordHash::new(&phc).map_err(|e| BackendError::Hashing(e.to_string()))?;
        Ok(Argon2::default().verify_password(&password, &parsed).is_ok())
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_token_is_found_among_other_cookies() {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::COOKIE, "a=1; natter_session=abc; b=2".parse().unwrap());
        assert_eq!(token_from_headers(&headers, SESSION_COOKIE).as_deref(), Some("abc"));
        headers.insert(http::header::COOKIE, "natter_session=".parse().unwrap());
        assert_eq!(token_from_headers(&headers, SESSION_COOKIE), None);
    }

    #[tokio::test]
    async fn a_full_hashing_queue_answers_busy_at_once() {
        let pool = HashPool::start(1).unwrap();
        // One job holds the only thread; then the queue fills.
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        pool.jobs
            .try_send(Box::new(move || {
                let _ = blocked.recv();
            }))
            .unwrap();
        let mut queued = 0;
        while pool.jobs.try_send(Box::new(|| {})).is_ok() {
            queued += 1;
            assert!(queued <= HASH_QUEUE + 1, "the queue is bounded");
        }
        let refused = pool.run(|| ()).await.unwrap_err();
        assert!(matches!(refused, BackendError::Overloaded(_)), "{refused:?}");
        let api = refused.to_api();
        assert_eq!(api.code, crate::protocol::ErrorCode::Unavailable);
        assert_eq!(api.message, "The server is busy. Please try again in a moment.");
        release.send(()).unwrap();
        // Once the thread is free again, the queue drains and work is done.
        let started = std::time::Instant::now();
        loop {
            match pool.run(|| 42).await {
                Ok(answer) => break assert_eq!(answer, 42),
                Err(BackendError::Overloaded(_)) => {
                    assert!(
                        started.elapsed() < std::time::Duration::from_secs(10),
                        "the queue never drained"
                    );
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn tokens_are_stored_as_digests() {
        let h = TokenHash::of("secret");
        // SHA-256 of "secret", as `sha256sum` prints it.
        assert_eq!(
            h.as_str(),
            "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
        );
    }
}

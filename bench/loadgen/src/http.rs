//! The HTTP side of both targets: one pooled client that sends the site's own `Origin`
//! (Natter refuses cross-site calls) and waits out rate limits instead of failing a setup.

use anyhow::{Context, Result, bail};
use std::time::{Duration, Instant};

/// The outcome of a login or sign-up.
#[derive(Debug)]
pub enum Auth {
    /// The credential to present: a cookie (`name=value`) or a bearer token.
    Ok(String),
    /// The server said no (wrong password, name taken); its answer.
    Refused(String),
}

/// A reply read to its end.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub set_cookies: Vec<String>,
    pub body: String,
}

#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    /// `http://host:port`, no trailing slash.
    pub base: String,
    /// How long setup calls keep retrying while the server says "too many requests".
    pub rate_limit_patience: Duration,
}

impl HttpClient {
    pub fn new(base: &str, rate_limit_patience: Duration) -> Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            rate_limit_patience,
        })
    }

    async fn read(response: reqwest::Response) -> Result<Reply> {
        let status = response.status().as_u16();
        let set_cookies = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        let body = response.text().await.context("reading a reply body")?;
        Ok(Reply {
            status,
            set_cookies,
            body,
        })
    }

    pub async fn post_form(&self, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Result<Reply> {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("origin", &self.base)
            .form(form);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.with_context(|| format!("POST {path}"))?;
        Self::read(response).await
    }

    /// A raw body (an upload), as `cookie`'s user.
    pub async fn post_bytes(&self, path: &str, cookie: &str, body: Vec<u8>) -> Result<Reply> {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("origin", &self.base)
            .header("cookie", cookie)
            .body(body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        Self::read(response).await
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> Result<Reply> {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("origin", &self.base)
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        Self::read(response).await
    }

    pub async fn get(&self, path_and_query: &str, bearer: Option<&str>) -> Result<Reply> {
        let mut request = self.client.get(format!("{}{path_and_query}", self.base));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.with_context(|| format!("GET {path_and_query}"))?;
        Self::read(response).await
    }

    /// Repeats `call` while it answers 429, waiting as long as the server asks ("try again
    /// in N s"), for at most [`Self::rate_limit_patience`] in all.
    pub async fn retry_limited<F, Fut>(&self, mut call: F) -> Result<Reply>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Reply>>,
    {
        let deadline = Instant::now() + self.rate_limit_patience;
        loop {
            let reply = call().await?;
            if reply.status != 429 {
                return Ok(reply);
            }
            let wait = retry_after(&reply.body).unwrap_or(Duration::from_secs(1));
            if Instant::now() + wait > deadline {
                bail!(
                    "still rate limited after {:?}: {} (raise the server's limits, e.g. AUTH_BURST / AUTH_PER_MINUTE)",
                    self.rate_limit_patience,
                    reply.body
                );
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// The body of a successful call, or an error naming what failed.
pub fn form_reply(reply: Reply, what: &str) -> Result<String> {
    if reply.status != 200 {
        bail!("{what}: HTTP {} {}", reply.status, reply.body);
    }
    Ok(reply.body)
}

/// "… try again in 5 s" → 5 s.
fn retry_after(body: &str) -> Option<Duration> {
    let at = body.find("try again in ")? + "try again in ".len();
    let digits: String = body[at..].chars().take_while(char::is_ascii_digit).collect();
    Some(Duration::from_secs(digits.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_is_read_from_a_rate_limit_message() {
        let body = r#"{"code":"rate_limited","message":"Too many attempts from your network; try again in 12 s."}"#;
        assert_eq!(retry_after(body), Some(Duration::from_secs(12)));
        assert_eq!(retry_after("nope"), None);
    }
}

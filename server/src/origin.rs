//! Is a browser request coming from our own pages? Used to refuse
//! cross-site WebSocket upgrades and cross-site server-function calls.

use axum::http::{HeaderMap, header};

/// Whether the request's `Origin` is the site itself (same host as the
/// request) or listed in `ALLOWED_ORIGINS`. A request without `Origin` did not
/// come from a browser page, so cross-site forgery does not apply to it.
pub fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else { return false };
    let origin = origin.trim_end_matches('/');
    if allowed.iter().any(|a| a == origin) {
        return true;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    matches!((host, origin_host), (Some(h), Some(o)) if h.eq_ignore_ascii_case(o))
}

/// Whether a state-changing request may proceed: browsers say where it came
/// from in `Sec-Fetch-Site`; older ones only send `Origin`, checked instead.
pub fn same_site_request(headers: &HeaderMap, allowed: &[String]) -> bool {
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        // "none": typed in the address bar or a bookmark, not another site.
        Some("same-origin") | Some("none") => true,
        // Another site (or a sibling subdomain): only listed origins pass.
        Some(_) => headers
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .is_some_and(|o| allowed.iter().any(|a| a == o.trim_end_matches('/'))),
        None => origin_allowed(headers, allowed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_the_sites_own_origin_and_listed_ones_may_connect() {
        let host = ("host", "chat.example:3000");
        assert!(origin_allowed(
            &headers(&[host, ("origin", "http://chat.example:3000")]),
            &[]
        ));
        assert!(!origin_allowed(
            &headers(&[host, ("origin", "http://evil.example")]),
            &[]
        ));
        assert!(!origin_allowed(
            &headers(&[host, ("origin", "http://chat.example:3000.evil.example")]),
            &[]
        ));
        let allowed = vec!["https://app.example".to_string()];
        assert!(origin_allowed(
            &headers(&[("host", "api.example"), ("origin", "https://app.example")]),
            &allowed
        ));
        assert!(origin_allowed(&headers(&[host]), &[]));
    }

    #[test]
    fn fetch_metadata_decides_before_origin() {
        let host = ("host", "chat.example");
        assert!(same_site_request(
            &headers(&[host, ("sec-fetch-site", "same-origin")]),
            &[]
        ));
        assert!(!same_site_request(
            &headers(&[host, ("sec-fetch-site", "cross-site")]),
            &[]
        ));
        assert!(!same_site_request(
            &headers(&[host, ("sec-fetch-site", "same-site"), ("origin", "http://chat.example")]),
            &[]
        ));
        let allowed = vec!["https://app.example".to_string()];
        assert!(same_site_request(
            &headers(&[
                host,
                ("sec-fetch-site", "cross-site"),
                ("origin", "https://app.example")
            ]),
            &allowed
        ));
        assert!(!same_site_request(
            &headers(&[host, ("origin", "http://evil.example")]),
            &[]
        ));
        assert!(same_site_request(
            &headers(&[host, ("origin", "http://chat.example")]),
            &[]
        ));
    }
}

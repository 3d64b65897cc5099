//! Who may use the API (MistServer's rules, plus a bearer token):
//!
//! - a request from this machine's loopback address (`127.0.0.1`, `::1`) that was not
//!   forwarded (no `X-Forwarded-For`/`X-Real-IP`) and does not come from a web page of another
//!   site (its `Origin`/`Sec-Fetch-Site` say so) is trusted;
//! - any other request needs `authorize: {username, password}` with
//!   `password = md5hex(md5hex(PASSWORD) + challenge)`, the challenge being what the server
//!   answered (`status: "CHALL"`), or `Authorization: json {"username":..,"password":..}`,
//!   or `Authorization: Bearer TOKEN` with the configured token.
//!
//! MistServer's challenge is the MD5 of the date and the client's address, so a client that
//! logged in once keeps working all day with the same hash (its web UI relies on that). mist
//! keeps that shape and mixes in a secret drawn at start, so a challenge cannot be computed
//! in advance by someone who never asked this server for one.

use std::net::IpAddr;

use http::HeaderMap;
use md5::{Digest, Md5};
use serde_json::{json, Map, Value};

use crate::serve::config::Config;

/// What a request proved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// From this machine, not forwarded.
    Local,
    /// A valid bearer token.
    Token,
    /// A valid challenge-response for this account.
    Account(String),
    /// Nothing valid; `offered` when credentials were given (and were wrong).
    Denied {
        /// Credentials were given.
        offered: bool,
    },
}

impl Verdict {
    /// Whether the request may go on.
    pub fn allowed(&self) -> bool {
        !matches!(self, Verdict::Denied { .. })
    }
}

/// Lowercase hex MD5 of `data` (MistServer's `Secure::md5`).
pub fn md5_hex(data: &[u8]) -> String {
    let digest = Md5::digest(data);
    let mut s = String::with_capacity(32);
    for b in digest {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The challenge for a client at `peer` on day `unix_day` (days since 1970).
pub fn challenge(secret: &str, peer: IpAddr, unix_day: u64) -> String {
    md5_hex(format!("{secret}-{unix_day}-{}", canonical(peer)).as_bytes())
}

/// What a client sends as its password for `challenge`, given the stored hex MD5.
pub fn response(stored_md5: &str, challenge: &str) -> String {
    md5_hex(format!("{stored_md5}{challenge}").as_bytes())
}

/// IPv4 addresses seen through an IPv6 socket as themselves.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Whether the request comes from this machine's loopback address without a proxy or a web
/// page of another site in between.
pub fn trusted_local(peer: IpAddr, headers: &HeaderMap) -> bool {
    let ip = canonical(peer);
    let loopback =
        ip == IpAddr::from([127, 0, 0, 1]) || ip == IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]);
    if !loopback || headers.contains_key("x-forwarded-for") || headers.contains_key("x-real-ip") {
        return false;
    }
    // A browser on this machine runs pages of any site; only its own or none may use the
    // trust of the address (a page elsewhere could otherwise delete streams through it).
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.as_bytes(), b"same-origin" | b"none") {
            return false;
        }
    }
    match headers.get(http::header::ORIGIN) {
        None => true,
        Some(o) => o.to_str().is_ok_and(loopback_origin),
    }
}

fn loopback_origin(origin: &str) -> bool {
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    let host = if let Some(v6) = rest.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        rest.split(':').next().unwrap_or("")
    };
    matches!(host, "127.0.0.1" | "localhost" | "::1")
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Everything the check needs.
pub struct Check<'a> {
    /// The configuration (accounts, token).
    pub config: &'a Config,
    /// A token given on the command line.
    pub token: Option<&'a str>,
    /// The server's secret for challenges.
    pub secret: &'a str,
    /// The client.
    pub peer: IpAddr,
    /// Days since 1970, for the challenge.
    pub unix_day: u64,
}

impl Check<'_> {
    /// Decides what a request may do, and the `authorize` member of its answer.
    pub fn verdict(&self, headers: &HeaderMap, request: &Map<String, Value>) -> (Verdict, Value) {
        if trusted_local(self.peer, headers) {
            return (Verdict::Local, json!({"status": "OK", "local": true}));
        }
        let mut offered = false;
        let header = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .map(str::trim);
        if let Some(h) = header {
            offered = true;
            if let Some(t) = strip_prefix_ci(h, "bearer ") {
                let t = t.trim();
                let ok = [self.token, self.config.api_token.as_deref()]
                    .into_iter()
                    .flatten()
                    .any(|want| !want.is_empty() && same_secret(want, t));
                if ok {
                    return (Verdict::Token, json!({"status": "OK"}));
                }
            } else if let Some(j) = strip_prefix_ci(h, "json ") {
                if let Ok(Value::Object(auth)) = serde_json::from_str::<Value>(j) {
                    if let Some(user) = self.account(&auth) {
                        return (Verdict::Account(user), json!({"status": "OK"}));
                    }
                }
            }
        }
        if let Some(Value::Object(auth)) = request.get("authorize") {
            let given = |k: &str| auth.get(k).and_then(Value::as_str).unwrap_or("");
            offered |= !given("password").is_empty();
            if let Some(user) = self.account(auth) {
                return (Verdict::Account(user), json!({"status": "OK"}));
            }
        }
        let answer = if self.config.account.is_empty() {
            json!({"status": "NOACC"})
        } else {
            json!({"status": "CHALL", "challenge": challenge(self.secret, self.peer, self.unix_day)})
        };
        (Verdict::Denied { offered }, answer)
    }

    /// The account an `authorize` object proves, if any.
    fn account(&self, auth: &Map<String, Value>) -> Option<String> {
        let user = auth.get("username")?.as_str()?;
        let password = auth.get("password")?.as_str()?;
        let stored = self.config.account.get(user)?;
        if stored.password.is_empty() || password.is_empty() {
            return None;
        }
        let c = challenge(self.secret, self.peer, self.unix_day);
        let want = response(&stored.password.to_ascii_lowercase(), &c);
        same_secret(&want, &password.to_ascii_lowercase()).then(|| user.to_string())
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::config::Account;

    #[test]
    fn md5_matches_the_rfc_1321_test_suite() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            md5_hex(
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"
            ),
            "57edf4a22be3c955ac49da2e2107b67a"
        );
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, http::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn only_unforwarded_loopback_is_local() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(trusted_local(lo, &headers(&[])));
        assert!(trusted_local("::1".parse().unwrap(), &headers(&[])));
        assert!(trusted_local(
            "::ffff:127.0.0.1".parse().unwrap(),
            &headers(&[])
        ));
        assert!(!trusted_local("127.0.0.2".parse().unwrap(), &headers(&[])));
        assert!(!trusted_local("10.0.0.1".parse().unwrap(), &headers(&[])));
        assert!(!trusted_local(
            lo,
            &headers(&[("x-forwarded-for", "1.2.3.4")])
        ));
        assert!(!trusted_local(lo, &headers(&[("x-real-ip", "1.2.3.4")])));
        assert!(!trusted_local(
            lo,
            &headers(&[("origin", "https://evil.example")])
        ));
        assert!(!trusted_local(
            lo,
            &headers(&[("sec-fetch-site", "cross-site")])
        ));
        assert!(trusted_local(
            lo,
            &headers(&[("origin", "http://127.0.0.1:8080")])
        ));
        assert!(trusted_local(
            lo,
            &headers(&[("origin", "http://[::1]:4242")])
        ));
    }

    #[test]
    fn challenge_response_and_tokens() {
        let mut config = Config::default();
        let peer: IpAddr = "10.0.0.9".parse().unwrap();
        let check = |config: &Config, h: &HeaderMap, req: Value| {
            let c = Check {
                config,
                token: Some("cli-token"),
                secret: "s",
                peer,
                unix_day: 20000,
            };
            let Value::Object(req) = req else { panic!() };
            c.verdict(h, &req)
        };
        // No account: NOACC, no challenge.
        let (v, a) = check(&config, &headers(&[]), json!({}));
        assert_eq!(v, Verdict::Denied { offered: false });
        assert_eq!(a, json!({"status": "NOACC"}));
        config.account.insert(
            "admin".into(),
            Account {
                password: md5_hex(b"secret"),
                ..Account::default()
            },
        );
        config.api_token = Some("file-token".into());
        let (v, a) = check(&config, &headers(&[]), json!({}));
        assert_eq!(v, Verdict::Denied { offered: false });
        assert_eq!(a["status"], "CHALL");
        let chall = a["challenge"].as_str().unwrap().to_string();
        assert_eq!(chall, challenge("s", peer, 20000));
        let good = response(&md5_hex(b"secret"), &chall);
        let (v, a) = check(
            &config,
            &headers(&[]),
            json!({"authorize": {"username": "admin", "password": good}}),
        );
        assert_eq!(v, Verdict::Account("admin".into()));
        assert_eq!(a, json!({"status": "OK"}));
        let bad = response(&md5_hex(b"wrong"), &chall);
        let (v, _) = check(
            &config,
            &headers(&[]),
            json!({"authorize": {"username": "admin", "password": bad}}),
        );
        assert_eq!(v, Verdict::Denied { offered: true });
        for t in ["Bearer cli-token", "bearer file-token"] {
            let h = headers(&[("authorization", t)]);
            assert_eq!(check(&config, &h, json!({})).0, Verdict::Token);
        }
        let h = headers(&[("authorization", "Bearer nope")]);
        assert_eq!(
            check(&config, &h, json!({})).0,
            Verdict::Denied { offered: true }
        );
        // Yesterday's challenge no longer works.
        let c = Check {
            config: &config,
            token: None,
            secret: "s",
            peer,
            unix_day: 20001,
        };
        let Value::Object(req) = json!({"authorize": {"username": "admin", "password": good}})
        else {
            panic!()
        };
        assert!(!c.verdict(&headers(&[]), &req).0.allowed());
    }
}

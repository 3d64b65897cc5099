//! Signed, expiring play URLs: who may play a stream that has a play secret.
//!
//! A token is `EXPIRES-SIGNATURE`: `EXPIRES` the unix time (seconds, decimal) after which
//! it is refused, `SIGNATURE` the lowercase hex HMAC-SHA256, keyed with the secret, of the
//! text `STREAM:EXPIRES` (the stream's full name as mist names it: lowercase base, `+`
//! wildcard kept). Players pass it as `?tkn=TOKEN` on any URL (RTMP: on the play name,
//! `rtmp://HOST/live/STREAM?tkn=TOKEN`), or as a `tkn` cookie, which HLS answers set so
//! players carry it to every segment.
//!
//! Making one in a shell (the tests check mist against exactly this):
//!
//! ```text
//! exp=$(( $(date +%s) + 3600 ))
//! sig=$(printf '%s' "live:$exp" | openssl dgst -sha256 -hmac "$SECRET" | sed 's/.* //')
//! echo "?tkn=$exp-$sig"
//! ```
//!
//! The secret of a stream is its own `play_secret` option (a wildcard stream inherits its
//! base's), else the server's `play_secret`; without either, the stream plays for anyone.
//! Signatures are compared in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The query parameter (and cookie) that carries a token.
pub const TOKEN_PARAM: &str = "tkn";
/// Longest token looked at (20 digits, a dash, 64 hex digits, with room to spare).
pub const MAX_TOKEN: usize = 128;

/// Why a token was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No token given.
    #[error("this stream needs a signed play token (?tkn=EXPIRES-SIGNATURE)")]
    Missing,
    /// Not `EXPIRES-HEX`.
    #[error("the play token is malformed")]
    Malformed,
    /// Past its time.
    #[error("the play token expired")]
    Expired,
    /// The signature does not match.
    #[error("the play token is not valid for this stream")]
    BadSignature,
}

fn mac(secret: &[u8], stream: &str, expires: u64) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(stream.as_bytes());
    m.update(b":");
    m.update(expires.to_string().as_bytes());
    m
}

/// The token for playing `stream` until unix time `expires`.
pub fn sign(secret: &[u8], stream: &str, expires: u64) -> String {
    let sig = mac(secret, stream, expires).finalize().into_bytes();
    let hex: String = sig.iter().map(|b| format!("{b:02x}")).collect();
    format!("{expires}-{hex}")
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Checks `token` for `stream` at unix time `now`.
pub fn verify(secret: &[u8], stream: &str, token: Option<&str>, now: u64) -> Result<(), Denied> {
    let token = token.filter(|t| !t.is_empty()).ok_or(Denied::Missing)?;
    if token.len() > MAX_TOKEN {
        return Err(Denied::Malformed);
    }
    let (exp, hex) = token.split_once('-').ok_or(Denied::Malformed)?;
    if exp.is_empty() || !exp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Denied::Malformed);
    }
    let expires: u64 = exp.parse().map_err(|_| Denied::Malformed)?;
    let sig = unhex(hex)
        .filter(|s| s.len() == 32)
        .ok_or(Denied::Malformed)?;
    // The signature first: a forged token learns nothing from the expiry check.
    mac(secret, stream, expires)
        .verify_slice(&sig)
        .map_err(|_| Denied::BadSignature)?;
    if now > expires {
        return Err(Denied::Expired);
    }
    Ok(())
}

/// The token in a query string (`tkn=`), if any.
pub fn token_in_query(query: Option<&str>) -> Option<String> {
    query?.split('&').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k == TOKEN_PARAM).then(|| crate::serve::http::query::percent_decode(v, true))
    })
}

/// The token in a `Cookie:` header value, if any.
pub fn token_in_cookie(cookie: &str) -> Option<String> {
    cookie.split(';').find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == TOKEN_PARAM).then(|| v.to_string())
    })
}

/// Appends `tkn=TOKEN` to every URI of an HLS playlist (the URI lines and `URI="..."`
/// attributes), so a player that got the playlist with a token fetches everything with it.
pub fn sign_playlist(text: &str, token: &str) -> String {
    let add = |uri: &str| -> String {
        let sep = if uri.contains('?') { '&' } else { '?' };
        format!("{uri}{sep}{TOKEN_PARAM}={token}")
    };
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        // The line's own ending (`\r\n`, `\n` or none) is kept as it was.
        let body = line.trim_end_matches(['\r', '\n']);
        let end = &line[body.len()..];
        if body.is_empty() {
            out.push_str(line);
            continue;
        }
        if !body.starts_with('#') {
            out.push_str(&add(body));
            out.push_str(end);
            continue;
        }
        // Tags with URI="..." attributes (EXT-X-MAP, EXT-X-MEDIA, EXT-X-PART ...).
        let mut rest = body;
        while let Some(i) = rest.find("URI=\"") {
            let (head, tail) = rest.split_at(i + 5);
            out.push_str(head);
            match tail.find('"') {
                Some(j) => {
                    out.push_str(&add(&tail[..j]));
                    rest = &tail[j..];
                }
                None => {
                    rest = tail;
                    break;
                }
            }
        }
        out.push_str(rest);
        out.push_str(end);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_stream_secret_and_expiry() {
        // (The independent oracle, openssl's HMAC, is in tests/access.rs.)
        let t = sign(b"Jefe", "live", 1_700_000_000);
        assert!(t.starts_with("1700000000-"));
        assert_eq!(t.len(), 11 + 64);
        assert_eq!(verify(b"Jefe", "live", Some(&t), 1_699_999_999), Ok(()));
        assert_eq!(verify(b"Jefe", "live", Some(&t), 1_700_000_000), Ok(()));
        assert_eq!(
            verify(b"Jefe", "live", Some(&t), 1_700_000_001),
            Err(Denied::Expired)
        );
        assert_eq!(
            verify(b"Jefe", "other", Some(&t), 0),
            Err(Denied::BadSignature)
        );
        assert_eq!(
            verify(b"jefe", "live", Some(&t), 0),
            Err(Denied::BadSignature)
        );
        // A later expiry with the old signature is a forgery.
        let forged = t.replacen("1700000000", "1800000000", 1);
        assert_eq!(
            verify(b"Jefe", "live", Some(&forged), 0),
            Err(Denied::BadSignature)
        );
        for bad in [
            "",
            "x",
            "1-zz",
            "-abcd",
            "12-",
            "1a-00",
            &format!("1-{}", "0".repeat(200)),
        ] {
            assert!(verify(b"Jefe", "live", Some(bad), 0).is_err(), "{bad}");
        }
        assert_eq!(verify(b"Jefe", "live", None, 0), Err(Denied::Missing));
    }

    #[test]
    fn tokens_in_queries_and_cookies() {
        assert_eq!(token_in_query(Some("a=1&tkn=5-ab&b")), Some("5-ab".into()));
        assert_eq!(token_in_query(Some("xtkn=1")), None);
        assert_eq!(token_in_cookie("a=b; tkn=9-ff; c=d"), Some("9-ff".into()));
    }

    #[test]
    fn playlists_carry_the_token_everywhere() {
        let m3u8 = "#EXTM3U\r\n#EXT-X-MAP:URI=\"init.mp4\"\r\n#EXTINF:2,\r\nseg1.m4s\r\n\
                    #EXT-X-STREAM-INF:BANDWIDTH=1\nv/index.m3u8?x=1\n";
        assert_eq!(
            sign_playlist(m3u8, "5-ab"),
            "#EXTM3U\r\n#EXT-X-MAP:URI=\"init.mp4?tkn=5-ab\"\r\n#EXTINF:2,\r\nseg1.m4s?tkn=5-ab\r\n\
             #EXT-X-STREAM-INF:BANDWIDTH=1\nv/index.m3u8?x=1&tkn=5-ab\n"
        );
    }
}

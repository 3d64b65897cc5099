//! What `mist serve` serves: the stream table and server-wide settings, in MistServer's
//! config shape (`streams: {NAME: {name, source, DVR, ...}}`, `config`, `account`,
//! `streamkeys`), loaded from and saved to one JSON file. Members mist does not use
//! (`auto_push`, `ui_settings`, `variables` ...) are kept as they are and written back.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Default DVR window of a live stream in ms (MistServer's `DVR`).
pub const DEFAULT_DVR_MS: u64 = 50_000;
/// Default for how far behind live a viewer may fall before it is moved forward, in ms
/// (MistServer's `maxkeepaway`).
pub const DEFAULT_MAX_KEEP_AWAY_MS: u64 = 45_000;
/// Default time a live stream waits for its publisher to come back, in ms.
pub const DEFAULT_GRACE_MS: u64 = 10_000;

/// One configured stream (MistServer's stream object; unknown options are kept as they are).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamConfig {
    /// The stream's name (also its key in the table).
    #[serde(default)]
    pub name: String,
    /// `push://[HOST][@PASSWORD]`, a file path, or a folder path ending in `/`.
    pub source: String,
    /// DVR window in ms for live streams.
    #[serde(rename = "DVR", default, skip_serializing_if = "Option::is_none")]
    pub dvr: Option<u64>,
    /// How far behind live a viewer may fall, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxkeepaway: Option<u64>,
    /// Shortest segment of segmented outputs, in ms (MistServer's `segmentsize`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segmentsize: Option<u64>,
    /// How long viewers wait for a publisher that left, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace: Option<u64>,
    /// Playing needs a token signed with this secret ([`crate::serve::access`]); mist's
    /// option.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub play_secret: Option<String>,
    /// Publishing needs this password (as the RTMP application name, the stream key part,
    /// or `?password=`), besides what the `push://` source allows; mist's option.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_password: Option<String>,
    /// Every other option, kept for the API to show and save.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The whole server configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Configured streams by name.
    #[serde(default)]
    pub streams: BTreeMap<String, StreamConfig>,
    /// A folder whose files are served under their own names (`mist serve PATH`, or the
    /// current folder with no config).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<PathBuf>,
    /// Accept RTMP publishing to names that are not configured (MistServer refuses them once
    /// `no_unconfigured_streams` is set; mist with no config accepts them).
    #[serde(default = "yes")]
    pub accept_unconfigured_push: bool,
    /// Stream keys: publishing with KEY as the stream name publishes to the mapped stream.
    #[serde(default)]
    pub streamkeys: BTreeMap<String, String>,
    /// API accounts by user name (MistServer's `account`); each holds `password`, the hex MD5
    /// of the password.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub account: BTreeMap<String, Account>,
    /// A bearer token that authorises API requests from any address (mist's own member).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_token: Option<String>,
    /// Every stream without a `play_secret` of its own needs a token signed with this one
    /// to play (mist's own member; [`crate::serve::access`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub play_secret: Option<String>,
    /// Server-wide settings (MistServer's `config` object: `serverid`, `protocols`, `debug`
    /// ...), kept as given; the API's `config` call merges into it.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub config: serde_json::Map<String, serde_json::Value>,
    /// Every other top-level member, kept for the file to be written back as it was read.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// One API account.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Account {
    /// Hex MD5 of the password (MistServer stores it so; the challenge-response builds on it).
    #[serde(default)]
    pub password: String,
    /// Other members, kept.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn yes() -> bool {
    true
}

impl Default for Config {
    fn default() -> Self {
        Config {
            streams: BTreeMap::new(),
            folder: None,
            accept_unconfigured_push: true,
            streamkeys: BTreeMap::new(),
            account: BTreeMap::new(),
            api_token: None,
            play_secret: None,
            config: serde_json::Map::new(),
            extra: serde_json::Map::new(),
        }
    }
}

impl Config {
    /// Reads a config file's text; unknown members are kept.
    pub fn from_json(text: &str) -> Result<Config, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The file's text: pretty JSON without the run-time members MistServer also leaves out
    /// of its files (`online` and `error` of streams, the `log`).
    pub fn to_json(&self) -> String {
        let mut c = self.clone();
        c.extra.remove("log");
        for s in c.streams.values_mut() {
            s.extra.remove("online");
            s.extra.remove("error");
        }
        let mut text = serde_json::to_string_pretty(&c).unwrap_or_else(|_| "{}".into());
        text.push('\n');
        text
    }
}

/// Publishing rules of a `push://` source.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushRule {
    /// Only this host (address or name) may publish, when set.
    pub host: Option<String>,
    /// Any host may publish with this password, when set.
    pub password: Option<String>,
}

impl PushRule {
    /// Parses `push://`, `push://HOST`, `push://HOST@PASSWORD`, `push://@PASSWORD`.
    pub fn parse(source: &str) -> Option<PushRule> {
        let rest = source.strip_prefix("push://")?;
        let (host, password) = match rest.rsplit_once('@') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        };
        Some(PushRule {
            host: (!host.is_empty()).then(|| host.to_string()),
            password: password.filter(|p| !p.is_empty()).map(str::to_string),
        })
    }

    /// Whether a publisher from `peer` offering `passwords` may publish.
    pub fn allows(&self, peer: std::net::IpAddr, passwords: &[&str]) -> bool {
        if let Some(p) = &self.password {
            if passwords.iter().any(|c| c == p) {
                return true;
            }
        }
        match &self.host {
            Some(h) => h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip == peer),
            None => self.password.is_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_rules_as_mistserver_documents_them() {
        let lo: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let other: std::net::IpAddr = "10.0.0.2".parse().unwrap();
        let any = PushRule::parse("push://").unwrap();
        assert!(any.allows(other, &[]));
        let host = PushRule::parse("push://127.0.0.1").unwrap();
        assert!(host.allows(lo, &[]) && !host.allows(other, &[]));
        let pw = PushRule::parse("push://@secret").unwrap();
        assert!(pw.allows(other, &["live", "secret"]) && !pw.allows(lo, &["live"]));
        let both = PushRule::parse("push://127.0.0.1@secret").unwrap();
        assert!(
            both.allows(lo, &[]) && both.allows(other, &["secret"]) && !both.allows(other, &[])
        );
        assert_eq!(PushRule::parse("/x.flv"), None);
    }

    #[test]
    fn mistserver_stream_objects_round_trip() {
        let json = r#"{"streams":{"live":{"name":"live","source":"push://","DVR":30000,"stop_sessions":false}}}"#;
        let c: Config = serde_json::from_str(json).unwrap();
        assert_eq!(c.streams["live"].dvr, Some(30000));
        assert!(c.accept_unconfigured_push);
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(back["streams"]["live"]["stop_sessions"], false);
        assert_eq!(back["streams"]["live"]["DVR"], 30000);
    }

    #[test]
    fn unknown_members_survive_a_round_trip() {
        let json = r#"{"streams":{"a":{"name":"a","source":"push://","online":1,"error":"x"}},
            "account":{"admin":{"password":"5ebe2294ecd0e0f08eab7690d2a6ee69","x":1}},
            "config":{"serverid":"s1","protocols":[{"connector":"RTMP"}]},
            "auto_push":{"1":["a","/rec.flv"]},"ui_settings":{"theme":"dark"},
            "log":[[1,"INFO","hi"]]}"#;
        let c = Config::from_json(json).unwrap();
        assert_eq!(
            c.account["admin"].password,
            "5ebe2294ecd0e0f08eab7690d2a6ee69"
        );
        let back: serde_json::Value = serde_json::from_str(&c.to_json()).unwrap();
        assert_eq!(back["auto_push"]["1"][1], "/rec.flv");
        assert_eq!(back["ui_settings"]["theme"], "dark");
        assert_eq!(back["config"]["serverid"], "s1");
        assert_eq!(back["account"]["admin"]["x"], 1);
        // Run-time state is not written.
        assert!(back.get("log").is_none());
        assert!(back["streams"]["a"].get("online").is_none());
        assert!(back["streams"]["a"].get("error").is_none());
    }
}

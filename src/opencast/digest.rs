//! HTTP Digest authentication (RFC 7616 with MD5 and `qop=auth`, as Opencast's Spring
//! Security entry point offers it) for Opencast's in-memory capture-agent users.
//!
//! Opencast sends the challenge only to a request carrying `X-Requested-Auth: Digest`; its
//! nonce lives 300 s, so a client keeps the challenge and counts `nc` up on it, and answers
//! a `stale=true` challenge by taking the new nonce. This module reads challenges and
//! writes `Authorization` values; it sends nothing itself.

use md5::{Digest as _, Md5};

/// A `WWW-Authenticate: Digest …` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    /// The server offered `qop=auth` (castd does not do `auth-int`).
    pub qop_auth: bool,
    /// The nonce expired and the credentials were fine: answer again with the new one.
    pub stale: bool,
    /// `algorithm` as sent (`MD5` when absent).
    pub algorithm: Option<String>,
}

/// Splits `key=value, key="quoted, value"` pairs; keys lower-cased.
fn parameters(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq]
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, next)) = chars.next() {
                            out.push(next);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    other => out.push(other),
                }
            }
            value = out;
            rest = quoted[end.min(quoted.len())..].trim_start();
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
        pairs.push((key, value));
    }
    pairs
}

impl Challenge {
    /// Reads one `WWW-Authenticate` value; `None` unless it is a usable Digest challenge
    /// (MD5, with a realm and a nonce).
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(char::is_whitespace)?;
        if !scheme.eq_ignore_ascii_case("digest") {
            return None;
        }
        let pairs = parameters(rest);
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let algorithm = get("algorithm");
        if algorithm
            .as_deref()
            .is_some_and(|a| !a.eq_ignore_ascii_case("md5"))
        {
            return None;
        }
        let qop = get("qop");
        let qop_auth = qop
            .as_deref()
            .is_some_and(|q| q.split(',').any(|o| o.trim().eq_ignore_ascii_case("auth")));
        if qop.is_some() && !qop_auth {
            return None;
        }
        Some(Challenge {
            realm: get("realm")?,
            nonce: get("nonce")?,
            opaque: get("opaque"),
            qop_auth,
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
            algorithm,
        })
    }

    /// The `Authorization` value for one request. `count` is this nonce's request number
    /// (1 for the first); `cnonce` a fresh random client nonce.
    pub fn authorization(
        &self,
        method: &str,
        uri: &str,
        username: &str,
        password: &str,
        count: u32,
        cnonce: &str,
    ) -> String {
        let ha1 = md5_hex(&format!("{username}:{}:{password}", self.realm));
        let ha2 = md5_hex(&format!("{method}:{uri}"));
        let nc = format!("{count:08x}");
        let response = if self.qop_auth {
            md5_hex(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", self.nonce))
        } else {
            md5_hex(&format!("{ha1}:{}:{ha2}", self.nonce))
        };
        let mut value = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\"",
            quote(username),
            quote(&self.realm),
            quote(&self.nonce),
            quote(uri)
        );
        if self.qop_auth {
            value.push_str(&format!(
                ", qop=auth, nc={nc}, cnonce=\"{}\"",
                quote(cnonce)
            ));
        }
        if let Some(opaque) = &self.opaque {
            value.push_str(&format!(", opaque=\"{}\"", quote(opaque)));
        }
        if let Some(algorithm) = &self.algorithm {
            value.push_str(&format!(", algorithm={algorithm}"));
        }
        value
    }
}

fn quote(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opencasts_challenge_reads() {
        let c = Challenge::parse(
            "Digest realm=\"Opencast\", qop=\"auth\", nonce=\"MTcwMDAwMDAwMDAwMDpkZWFkYmVlZg==\"",
        )
        .unwrap();
        assert_eq!(c.realm, "Opencast");
        assert_eq!(c.nonce, "MTcwMDAwMDAwMDAwMDpkZWFkYmVlZg==");
        assert!(c.qop_auth);
        assert!(!c.stale);
        assert_eq!(c.opaque, None);
    }

    #[test]
    fn quoted_commas_escapes_stale_and_opaque_read() {
        let c = Challenge::parse(
            "Digest realm=\"a, \\\"b\\\"\",nonce=\"n1\", opaque=\"op\", stale=TRUE, qop=\"auth,auth-int\", algorithm=MD5",
        )
        .unwrap();
        assert_eq!(c.realm, "a, \"b\"");
        assert_eq!(c.nonce, "n1");
        assert_eq!(c.opaque.as_deref(), Some("op"));
        assert!(c.stale && c.qop_auth);
    }

    #[test]
    fn other_schemes_and_algorithms_are_not_digest_challenges() {
        assert_eq!(Challenge::parse("Basic realm=\"Opencast\""), None);
        assert_eq!(
            Challenge::parse("Digest realm=\"x\", nonce=\"n\", algorithm=SHA-256"),
            None
        );
        assert_eq!(
            Challenge::parse("Digest realm=\"x\", nonce=\"n\", qop=\"auth-int\""),
            None
        );
        assert_eq!(Challenge::parse("Digest realm=\"x\""), None);
        assert_eq!(Challenge::parse("Digest"), None);
    }

    #[test]
    fn the_answer_matches_rfc_2617s_worked_example() {
        let c = Challenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        let value = c.authorization(
            "GET",
            "/dir/index.html",
            "Mufasa",
            "Circle Of Life",
            1,
            "0a4f113b",
        );
        assert!(
            value.contains("response=\"6629fae49393a05397450978507c4ef1\""),
            "{value}"
        );
        assert!(value.contains("nc=00000001"));
        assert!(value.contains("qop=auth,") || value.contains("qop=auth, "));
        assert!(value.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
        assert!(value.starts_with("Digest username=\"Mufasa\""));
    }

    #[test]
    fn the_count_is_eight_hex_digits() {
        let c = Challenge::parse("Digest realm=\"r\", qop=\"auth\", nonce=\"n\"").unwrap();
        let value = c.authorization("POST", "/ingest/ingest", "u", "p", 26, "c");
        assert!(value.contains("nc=0000001a"), "{value}");
    }
}

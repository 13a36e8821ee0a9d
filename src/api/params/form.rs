//! Splitting an `application/x-www-form-urlencoded` body (or query string) into parameters,
//! forgiving the mistakes real clients make.
//!
//! Real clients send JSON values without url-encoding them (`captureRequest={"title":"A&B"}`),
//! so a value that starts with `{` or `[` and is valid JSON up to the next `&` (or the end)
//! is taken verbatim, even if it contains `&`, `+` or `%`. Everything else is decoded the
//! usual way (`+` is a space, `%XX` a byte).

use percent_encoding::percent_decode;

/// A form that is not valid UTF-8 after decoding.
#[derive(Debug, PartialEq, Eq)]
pub struct MalformedForm;

/// Splits `input` into (name, value) pairs in order.
pub fn parse(input: &[u8]) -> Result<Vec<(String, String)>, MalformedForm> {
    let mut pairs = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let key_end = rest
            .iter()
            .position(|b| *b == b'=' || *b == b'&')
            .unwrap_or(rest.len());
        let key = decode(&rest[..key_end])?;
        if key_end == rest.len() || rest[key_end] == b'&' {
            if !key.is_empty() {
                pairs.push((key, String::new()));
            }
            rest = rest.get(key_end + 1..).unwrap_or_default();
            continue;
        }
        let value_part = &rest[key_end + 1..];
        let (value, consumed) = match raw_json_extent(value_part) {
            Some(len) => (
                std::str::from_utf8(&value_part[..len])
                    .map_err(|_| MalformedForm)?
                    .to_string(),
                len,
            ),
            None => {
                let len = value_part
                    .iter()
                    .position(|b| *b == b'&')
                    .unwrap_or(value_part.len());
                (decode(&value_part[..len])?, len)
            }
        };
        if !key.is_empty() {
            pairs.push((key, value));
        }
        rest = value_part.get(consumed + 1..).unwrap_or_default();
    }
    Ok(pairs)
}

fn decode(raw: &[u8]) -> Result<String, MalformedForm> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_decode(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| MalformedForm)
}

/// Length of a verbatim JSON object/array at the start of `value` that is followed by `&`
/// or the end of input, if there is one.
fn raw_json_extent(value: &[u8]) -> Option<usize> {
    let open = *value.first()?;
    if open != b'{' && open != b'[' {
        return None;
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, b) in value.iter().enumerate() {
        if in_string {
            match (*b, escaped) {
                (_, true) => escaped = false,
                (b'\\', false) => escaped = true,
                (b'"', false) => in_string = false,
                _ => {}
            }
            continue;
        }
        match *b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    let end = i + 1;
                    let followed_ok = value.get(end).is_none_or(|b| *b == b'&');
                    let valid = serde_json::from_slice::<serde_json::Value>(&value[..end]).is_ok();
                    return (followed_ok && valid).then_some(end);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<(String, String)> {
        parse(s.as_bytes()).unwrap()
    }

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn ordinary_forms_are_decoded() {
        assert_eq!(
            p("a=1&b=x+y%21&empty=&flag"),
            vec![
                pair("a", "1"),
                pair("b", "x y!"),
                pair("empty", ""),
                pair("flag", "")
            ]
        );
        assert_eq!(p(""), vec![]);
        assert_eq!(p("&&a=1&"), vec![pair("a", "1")]);
    }

    #[test]
    fn encoded_json_is_decoded() {
        assert_eq!(
            p("captureRequest=%7B%22title%22%3A%22A%26B%22%7D"),
            vec![pair("captureRequest", r#"{"title":"A&B"}"#)]
        );
    }

    #[test]
    fn raw_json_is_kept_verbatim_even_with_ampersands_and_pluses() {
        assert_eq!(
            p(r#"captureRequest={"title":"A&B + 100%","tags":["x"]}&x=1"#),
            vec![
                pair("captureRequest", r#"{"title":"A&B + 100%","tags":["x"]}"#),
                pair("x", "1")
            ]
        );
        assert_eq!(p(r#"ids=[1,2]"#), vec![pair("ids", "[1,2]")]);
    }

    #[test]
    fn bracketed_text_that_is_not_json_is_decoded_normally() {
        assert_eq!(
            p("title=[Draft]+Talk&x=1"),
            vec![pair("title", "[Draft] Talk"), pair("x", "1")]
        );
        assert_eq!(
            p("title={broken&x=1"),
            vec![pair("title", "{broken"), pair("x", "1")]
        );
    }

    #[test]
    fn invalid_utf8_is_malformed() {
        assert_eq!(parse(b"a=%FF"), Err(MalformedForm));
    }
}

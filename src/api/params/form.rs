//! Splitting an `application/x-www-form-urlencoded` body (or query string) into parameters,
//! forgiving the mistakes real clients make.
//!
//! Real clients send JSON values without url-encoding them (`captureRequest={"title":"A&B"}`),
//! so a value that starts with `{` or `[` and is valid JSON up to the next `&` (or the end)
//! is taken verbatim, even if it contains `&`, `+` or `%`. Everything else is decoded the
//! usual way (`+` is a space, `%XX` a byte).
//!
//! Parsing is linear in the input and stops at a limit on the number of pairs, so a body
//! of a hundred thousand empty keys costs no more than reading it.

use percent_encoding::percent_decode;

/// Why a form was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FormError {
    /// Not valid UTF-8 after decoding, or values that start like JSON but never end.
    Malformed,
    /// More pairs than the caller allows.
    TooManyPairs,
}

/// Splits `input` into (name, value) pairs in order; more than `max_pairs` is an error.
pub(super) fn parse(input: &[u8], max_pairs: usize) -> Result<Vec<(String, String)>, FormError> {
    let mut pairs = Vec::new();
    let mut rest = input;
    // Looking for a verbatim JSON value reads ahead; a hostile form of many values that
    // open a JSON string and never close it would make every look-ahead read to the end
    // (quadratic). Legitimate forms read each byte at most twice (look-ahead, then JSON
    // validation), plus once more for a value that opens JSON and never ends.
    let mut scan_budget = input.len().saturating_mul(4);
    while !rest.is_empty() {
        let key_end = rest
            .iter()
            .position(|b| *b == b'=' || *b == b'&')
            .unwrap_or(rest.len());
        let key = decode(&rest[..key_end])?;
        if key_end == rest.len() || rest[key_end] == b'&' {
            if !key.is_empty() {
                push(&mut pairs, key, String::new(), max_pairs)?;
            }
            rest = rest.get(key_end + 1..).unwrap_or_default();
            continue;
        }
        let value_part = &rest[key_end + 1..];
        let (value, consumed) = match raw_json_extent(value_part, &mut scan_budget)? {
            Some(len) => (
                std::str::from_utf8(&value_part[..len])
                    .map_err(|_| FormError::Malformed)?
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
            push(&mut pairs, key, value, max_pairs)?;
        }
        rest = value_part.get(consumed + 1..).unwrap_or_default();
    }
    Ok(pairs)
}

fn push(
    pairs: &mut Vec<(String, String)>,
    key: String,
    value: String,
    max_pairs: usize,
) -> Result<(), FormError> {
    if pairs.len() >= max_pairs {
        return Err(FormError::TooManyPairs);
    }
    pairs.push((key, value));
    Ok(())
}

fn decode(raw: &[u8]) -> Result<String, FormError> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_decode(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| FormError::Malformed)
}

/// Length of a verbatim JSON object/array at the start of `value` that is followed by `&`
/// or the end of input, if there is one. Every byte looked at is taken from `budget`;
/// an exhausted budget makes the form malformed.
fn raw_json_extent(value: &[u8], budget: &mut usize) -> Result<Option<usize>, FormError> {
    let Some(&open) = value.first() else {
        return Ok(None);
    };
    if open != b'{' && open != b'[' {
        return Ok(None);
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, b) in value.iter().enumerate() {
        *budget = budget.checked_sub(1).ok_or(FormError::Malformed)?;
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
                let Some(d) = depth.checked_sub(1) else {
                    return Ok(None);
                };
                depth = d;
                if depth == 0 {
                    let end = i + 1;
                    let followed_ok = value.get(end).is_none_or(|b| *b == b'&');
                    // Validation reads the value once more.
                    *budget = budget.checked_sub(end).ok_or(FormError::Malformed)?;
                    let valid = followed_ok
                        && serde_json::from_slice::<serde_json::Value>(&value[..end]).is_ok();
                    return Ok(valid.then_some(end));
                }
            }
            // Outside a JSON string, `&` ends the value: it cannot be JSON.
            b'&' => return Ok(None),
            _ => {}
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<(String, String)> {
        parse(s.as_bytes(), usize::MAX).unwrap()
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
        assert_eq!(parse(b"a=%FF", 10), Err(FormError::Malformed));
    }

    #[test]
    fn more_pairs_than_allowed_is_an_error_and_parsing_stops_there() {
        assert_eq!(p("a&b&c").len(), 3);
        assert_eq!(parse(b"a&b&c", 3).unwrap().len(), 3);
        assert_eq!(parse(b"a&b&c&d", 3), Err(FormError::TooManyPairs));
        // Empty names are skipped, not counted.
        assert_eq!(parse(b"&&&a=1&&&", 1).unwrap(), vec![pair("a", "1")]);
    }

    #[test]
    fn json_values_that_never_end_cannot_make_parsing_quadratic() {
        // Each value opens a JSON string that an escaped quote keeps open to the end of
        // the body: every look-ahead would read the rest of the body.
        // Without the look-ahead budget this parses (after minutes) into 150,000 pairs.
        let body = "k=[\\\"&".repeat(150_000);
        assert_eq!(
            parse(body.as_bytes(), usize::MAX),
            Err(FormError::Malformed)
        );
        // A single unterminated one is within the budget and decoded the usual way.
        assert_eq!(
            p("title={\"open&x=1&y=2"),
            vec![pair("title", "{\"open"), pair("x", "1"), pair("y", "2")]
        );
    }
}

//! One recorded API call and the filter that lists them: the rows of the audit trail as
//! plain data, bounded in size by [`AuditEntry::bounded`]. Types only: the trail's writer
//! lives in `audit`, its SQL in `store::audit`; neither is reached from here.

use serde::Serialize;
use utoipa::ToSchema;

/// The longest path stored, in bytes; a longer one is cut and ends in `…`.
pub const MAX_PATH_BYTES: usize = 256;
/// The longest user name, route pattern, error code or address stored, in bytes.
pub const MAX_FIELD_BYTES: usize = 64;

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: i64,
    /// When the request arrived, ms since the epoch.
    pub time: i64,
    /// The authenticated user; `null` when the call carried no valid credentials.
    pub user: Option<String>,
    /// The client's IP address.
    pub address: String,
    pub method: String,
    /// The route pattern that matched, e.g. `/api/1/capture/mediaPackages/{id}`; `null`
    /// when no route matched.
    pub route: Option<String>,
    /// The concrete path requested.
    pub path: String,
    /// The HTTP status answered.
    pub status: u16,
    /// The error `code` when the answer was an error.
    pub code: Option<String>,
    /// Time until the answer's headers, in ms.
    pub duration_ms: i64,
    /// The calls this entry stands for: 1, except for a summary of unauthenticated calls
    /// beyond the budget of 60 a minute, which counts the calls of one address and status
    /// in that minute (`path` is then `*`, `method` is `*` when they differed, `address` is
    /// `*` for calls from beyond the 16th address of the minute).
    pub count: i64,
}

impl AuditEntry {
    /// The entry with every text field cut to its bound, so no request can make a row
    /// larger than a few hundred bytes.
    pub fn bounded(mut self) -> AuditEntry {
        cut(&mut self.path, MAX_PATH_BYTES);
        for field in [&mut self.address, &mut self.method] {
            cut(field, MAX_FIELD_BYTES);
        }
        for field in [&mut self.user, &mut self.route, &mut self.code]
            .into_iter()
            .flatten()
        {
            cut(field, MAX_FIELD_BYTES);
        }
        self
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut with `…`.
fn cut(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
}

/// Which entries to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub limit: i64,
    pub offset: i64,
    /// Only entries at or after this time (ms since the epoch).
    pub since: Option<i64>,
    /// Only entries of this user.
    pub user: Option<String>,
}

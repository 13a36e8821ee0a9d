//! The budget for calls without valid credentials (and calls no route matched): each one
//! is cheap to send, so without a budget a flood of them fills the disk through the audit
//! trail. Up to [`PER_MINUTE`] of them a minute get a row each; beyond that they are
//! counted in one summary row per client address and status, so the trail still says who
//! knocked and how often, at a cost that does not grow with the flood.

use std::collections::BTreeMap;

use super::AuditEntry;

/// Unauthenticated calls a minute recorded one by one.
pub const PER_MINUTE: u32 = 60;
/// Addresses summarised separately in one minute; calls from further addresses share one
/// summary per status under the address `*` (an IPv6 attacker has addresses to spare).
const ADDRESSES: usize = 16;
/// The address summaries of calls from further addresses are listed under.
pub(super) const OTHER_ADDRESSES: &str = "*";

const MINUTE_MS: i64 = 60_000;

/// The current minute's count and its summaries, not yet written.
#[derive(Debug, Default)]
pub(super) struct Budget {
    minute: i64,
    recorded: u32,
    summaries: BTreeMap<(String, u16), AuditEntry>,
}

impl Budget {
    /// Returns the entry when it gets a row of its own, `None` when it was counted in a
    /// summary. Summaries of an earlier minute that are now complete go to `finished`.
    pub(super) fn admit(
        &mut self,
        entry: AuditEntry,
        finished: &mut Vec<AuditEntry>,
    ) -> Option<AuditEntry> {
        let minute = entry.time.div_euclid(MINUTE_MS);
        if minute != self.minute {
            finished.extend(self.take_all());
            self.minute = minute;
            self.recorded = 0;
        }
        if self.recorded < PER_MINUTE {
            self.recorded += 1;
            return Some(entry);
        }
        let addresses = self.summaries.len();
        let mut key = (entry.address.clone(), entry.status);
        if addresses >= ADDRESSES && !self.summaries.contains_key(&key) {
            key.0 = OTHER_ADDRESSES.to_string();
        }
        match self.summaries.get_mut(&key) {
            Some(summary) => {
                summary.count += 1;
                if summary.method != entry.method {
                    summary.method = "*".into();
                }
                if summary.route != entry.route {
                    summary.route = None;
                }
                if summary.code != entry.code {
                    summary.code = None;
                }
                summary.duration_ms = summary.duration_ms.max(entry.duration_ms);
            }
            None => {
                self.summaries.insert(
                    key.clone(),
                    AuditEntry {
                        address: key.0,
                        path: "*".into(),
                        count: 1,
                        ..entry
                    },
                );
            }
        }
        None
    }

    /// The summaries of a minute that has passed by `now` (ms since the epoch).
    pub(super) fn take_finished(&mut self, now: i64) -> Vec<AuditEntry> {
        if now.div_euclid(MINUTE_MS) != self.minute {
            self.take_all()
        } else {
            Vec::new()
        }
    }

    /// Every summary so far, the current minute's included (a later call of the same
    /// minute starts a new one; the counts add up either way).
    pub(super) fn take_all(&mut self) -> Vec<AuditEntry> {
        std::mem::take(&mut self.summaries).into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(time: i64, address: &str, status: u16) -> AuditEntry {
        AuditEntry {
            id: 0,
            time,
            user: None,
            address: address.into(),
            method: "POST".into(),
            route: None,
            path: "/api/1/AAAA".into(),
            status,
            code: Some("route.not_found".into()),
            duration_ms: 1,
            count: 1,
        }
    }

    #[test]
    fn a_flood_costs_the_budget_and_a_few_summaries_that_count_every_call() {
        let mut budget = Budget::default();
        let mut rows = Vec::new();
        let start = 10 * MINUTE_MS;
        for n in 0..3000 {
            // 40 addresses, two statuses, all in one minute.
            let entry = call(
                start + n,
                &format!("10.0.0.{}", n % 40),
                400 + (n % 2) as u16,
            );
            let mut finished = Vec::new();
            rows.extend(budget.admit(entry, &mut finished));
            assert!(finished.is_empty());
        }
        assert_eq!(rows.len(), PER_MINUTE as usize);
        // Still in the same minute: nothing is finished yet.
        assert!(budget.take_finished(start + 59_000).is_empty());
        let summaries = budget.take_finished(start + MINUTE_MS);
        assert!(summaries.len() <= ADDRESSES + 2, "{}", summaries.len());
        assert!(summaries.iter().any(|s| s.address == OTHER_ADDRESSES));
        let counted: i64 = summaries.iter().map(|s| s.count).sum();
        assert_eq!(counted + rows.len() as i64, 3000);
        assert!(
            summaries
                .iter()
                .all(|s| s.path == "*" && s.method == "POST")
        );

        // The next minute has a fresh budget and hands over what was left.
        let mut finished = Vec::new();
        assert!(
            budget
                .admit(call(start + MINUTE_MS, "10.0.0.1", 401), &mut finished)
                .is_some()
        );
        assert!(finished.is_empty());
    }
}

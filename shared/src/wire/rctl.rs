//! rctl's records: one rule (`jrctl --json`, `-l`) and one subject's
//! usage (`jrctl --json -u`).

use serde::{Deserialize, Serialize};

use crate::rctl::{Action, Resource, Rule, SubjectType, Usage};

/// One rule, as one line of `jrctl --json` (listing, `-l`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleRecord {
    /// The rule in rctl's syntax, amount exact.
    pub rule: String,
    /// The subject type.
    pub subject: SubjectType,
    /// The subject id (a user's name unless `-n`).
    pub id: String,
    /// The resource.
    pub resource: Resource,
    /// The action.
    pub action: Action,
    /// The amount, exact, in the resource's unit.
    pub amount: u64,
    /// What the amount counts by.
    pub per: SubjectType,
}

impl RuleRecord {
    /// The record of `rule`.
    pub fn of(rule: &Rule) -> Self {
        RuleRecord {
            rule: rule.to_string(),
            subject: rule.subject,
            id: rule.id.clone(),
            resource: rule.resource,
            action: rule.action,
            amount: rule.amount,
            per: rule.per,
        }
    }
}

/// The usage of one subject, as one line of `jrctl --json -u`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageRecord {
    /// The subject type.
    pub subject: SubjectType,
    /// The subject id.
    pub id: String,
    /// Every figure, by resource name, in the kernel's order.
    pub usage: Usage,
}

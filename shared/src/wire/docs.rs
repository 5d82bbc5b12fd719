//! Every example in docs/json.md parses into the type the tools use for its
//! record kind, so the documented format and the code cannot drift apart.

use super::{JailRecord, JailRef, ReleaseRecord};

/// The ```json KIND blocks of docs/json.md: (kind, line).
fn examples() -> Vec<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/json.md");
    let text = std::fs::read_to_string(path).expect("docs/json.md");
    let mut out = Vec::new();
    let mut kind: Option<String> = None;
    for line in text.lines() {
        match (&kind, line.strip_prefix("```")) {
            (None, Some(info)) => kind = info.strip_prefix("json ").map(str::to_string),
            (Some(_), Some(_)) => kind = None,
            (Some(k), None) if !line.trim().is_empty() => out.push((k.clone(), line.to_string())),
            _ => {}
        }
    }
    out
}

#[test]
fn every_documented_example_parses() {
    let all = examples();
    assert!(all.len() >= 8, "examples found: {}", all.len());
    for (kind, line) in all {
        let parsed = match kind.as_str() {
            "jail-record" => serde_json::from_str::<JailRecord>(&line).map(drop),
            "jail-ref" => {
                serde_json::from_str::<JailRef>(&line).map(|r| assert!(r.key().is_some(), "{line}"))
            }
            "release" => serde_json::from_str::<ReleaseRecord>(&line).map(drop),
            "rctl-rule" => serde_json::from_str::<crate::wire::RuleRecord>(&line).map(|r| {
                let rule = crate::rctl::Rule {
                    subject: r.subject,
                    id: r.id.clone(),
                    resource: r.resource,
                    action: r.action,
                    amount: r.amount,
                    per: r.per,
                };
                assert_eq!(
                    rule.to_string(),
                    r.rule,
                    "the fields spell the rule: {line}"
                );
            }),
            "rctl-usage" => serde_json::from_str::<crate::wire::UsageRecord>(&line).map(|u| {
                let names: Vec<_> = u.usage.iter().map(|(r, _)| r).collect();
                let expected: Vec<_> = crate::rctl::Usage::resources_for(u.subject).collect();
                assert_eq!(names, expected, "every resource, in kernel order: {line}");
            }),
            "rdr-rule" => serde_json::from_str::<crate::wire::RdrRecord>(&line).map(|r| {
                let rule = crate::model::rdr::Rule::parse_line(&r.rule).unwrap();
                let back = crate::wire::RdrRecord::of(&r.jail, &rule, r.to.clone());
                assert_eq!(back, r, "the fields spell the rule: {line}");
            }),
            "template-step" => serde_json::from_str::<crate::wire::StepRecord>(&line).map(|s| {
                assert!(s.line > 0, "{line}");
                let back = serde_json::to_string(&s).unwrap();
                assert_eq!(back, line, "a template step prints as documented");
            }),
            "snapshot" => serde_json::from_str::<crate::wire::SnapshotRecord>(&line).map(drop),
            "diff" => serde_json::from_str::<crate::wire::DiffRecord>(&line).map(drop),
            other => panic!("docs/json.md: unknown record kind {other}"),
        };
        parsed
            .unwrap_or_else(|e| panic!("docs/json.md {kind} example does not parse: {e}\n{line}"));
    }
}

#[test]
fn records_round_trip_through_the_documented_shape() {
    for (kind, line) in examples() {
        if kind == "jail-record" {
            let r: JailRecord = serde_json::from_str(&line).unwrap();
            let back: serde_json::Value = serde_json::to_value(&r).unwrap();
            let orig: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(back, orig, "a field was dropped or renamed");
        }
    }
}

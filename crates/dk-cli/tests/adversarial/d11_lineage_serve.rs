//! Defect 11: `dk lineage serve` answered 201 for events it then gave back as null, kept idle
//! and slowloris connections open forever, and refused `bearer` in lower case.

use std::io::{Read, Write};
use std::time::Duration;

use crate::common::{context, lineage_server, run_ok, stop_server};
use crate::d09_side_doors::post_event;

fn event(job: &str, facet: &str, time: &str) -> String {
    format!(
        r#"{{"eventType":"START","eventTime":"{time}","run":{{"runId":"01a22e4e-0000-7000-8000-00000000000{}","facets":{{"x":{facet}}}}},"job":{{"namespace":"ns","name":"{job}"}},"inputs":[],"outputs":[],"producer":"https://example.com","schemaURL":"https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"}}"#,
        job.len() % 10
    )
}

fn nested(depth: usize) -> String {
    let mut facet = String::from("1");
    for _ in 0..depth {
        facet = format!("{{\"a\":{facet}}}");
    }
    facet
}

#[test]
fn only_events_that_come_back_whole_get_201() {
    let ctx = context();
    let (server, base) = lineage_server(&ctx, &[], &[]);
    let time = "2026-11-26T10:00:00Z";
    for (body, message) in [
        (event("deep", &nested(130), time), "levels deep; at most 64"),
        (event("huge", "1e999999", time), "number out of range"),
        (
            event("when", "1", "yesterday"),
            "eventTime `yesterday` is not an RFC 3339 time",
        ),
    ] {
        let answer = post_event(&base, &body, None);
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(answer.contains(message), "{answer}");
    }
    let kept = event("kept", &nested(50), time);
    let answer = post_event(&base, &kept, None);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(stop_server(server).success());

    let events = run_ok(&ctx, &["lineage", "events", "-o", "json"], 0).json();
    let events = events["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{events:?}");
    let sent: serde_json::Value = serde_json::from_str(&kept).unwrap();
    assert_eq!(events[0]["event"], sent);
}

#[test]
fn idle_and_slow_connections_are_closed_after_the_timeout() {
    let ctx = context();
    let (server, base) = lineage_server(&ctx, &[], &["--timeout", "500ms"]);
    let host = base.trim_start_matches("http://");
    // Far above the timeout: only a server that never closes reaches it.
    let bound = Some(Duration::from_secs(30));

    let mut idle = std::net::TcpStream::connect(host).unwrap();
    idle.set_read_timeout(bound).unwrap();
    let mut answer = Vec::new();
    idle.read_to_end(&mut answer)
        .expect("the idle connection was closed");
    assert!(answer.is_empty());

    let mut slow = std::net::TcpStream::connect(host).unwrap();
    slow.set_read_timeout(bound).unwrap();
    write!(
        slow,
        "POST /api/v1/lineage HTTP/1.1\r\nHost: {host}\r\nX-Slow: "
    )
    .unwrap();
    let mut answer = Vec::new();
    slow.read_to_end(&mut answer)
        .expect("the slowloris connection was closed");
    assert!(stop_server(server).success());
}

#[test]
fn the_bearer_scheme_is_case_insensitive() {
    let ctx = context();
    let (server, base) = lineage_server(&ctx, &[("DK_LINEAGE_TOKEN", "t0ken")], &[]);
    let body = event("secure", "1", "2026-11-26T10:00:00Z");
    let refused = post_event(&base, &body, Some("bearer wrong"));
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    let accepted = post_event(&base, &body, Some("bearer t0ken"));
    assert!(accepted.starts_with("HTTP/1.1 201"), "{accepted}");
    assert!(stop_server(server).success());
}

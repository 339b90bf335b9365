//! `--help` and `--version`, and the guard that every option `--help` lists is exercised by
//! some test (and documented in the README).

mod common;

use common::run;

/// The sources of the other test files, where options are exercised.
const TEST_SOURCES: &[&str] = &[
    include_str!("client.rs"),
    include_str!("server.rs"),
    include_str!("errors.rs"),
    include_str!("tls.rs"),
    include_str!("interactive.rs"),
];

/// (short, long) for every option in the help text.
fn options(help: &str) -> Vec<(Option<String>, String)> {
    let mut out = Vec::new();
    for line in help.lines() {
        let t = line.trim_start();
        if !t.starts_with('-') {
            continue;
        }
        let mut short = None;
        for word in t.split([' ', ',']) {
            if let Some(long) = word.strip_prefix("--") {
                out.push((short.clone(), format!("--{long}")));
                break;
            }
            if word.len() == 2 && word.starts_with('-') {
                short = Some(word.to_owned());
            }
        }
    }
    out
}

#[tokio::test]
async fn help_lists_options_and_exit_codes() {
    let done = run(&["--help"]).await;
    assert_eq!(done.code, Some(0), "{done:?}");
    for needle in ["--connect <URL>", "--listen <PORT>", "Exit status:", "130", "/close [code [reason]]"] {
        assert!(done.stdout.contains(needle), "{needle} in {}", done.stdout);
    }
    let short = run(&["-h"]).await;
    assert_eq!(short.code, Some(0));
    assert!(short.stdout.contains("--execute"));
}

#[tokio::test]
async fn version() {
    let done = run(&["--version"]).await;
    assert_eq!(done.code, Some(0));
    assert!(done.stdout.starts_with("wscat "), "{done:?}");
    assert_eq!(run(&["-V"]).await.code, Some(0));
}

#[tokio::test]
async fn every_option_in_help_is_tested_and_documented() {
    let help = run(&["--help"]).await.stdout;
    let opts = options(&help);
    assert!(opts.len() >= 30, "parsed {opts:?}");
    let readme = include_str!("../README.md");
    let mut untested = Vec::new();
    for (short, long) in &opts {
        if long == "--help" || long == "--version" {
            continue; // Tested above.
        }
        let quoted = |o: &str| format!("\"{o}\"");
        let tested = TEST_SOURCES
            .iter()
            .any(|src| src.contains(&quoted(long)) || short.as_deref().is_some_and(|s| src.contains(&quoted(s))));
        if !tested {
            untested.push(long.clone());
        }
        assert!(readme.contains(long.as_str()), "{long} is not in wscat/README.md");
    }
    assert!(untested.is_empty(), "options without a test: {untested:?}");
}

//! Makes the chapters' links to one another work in rustdoc too.
//!
//! The chapters (`src/*.md`) link to each other the mdBook way, `[Limits](limits.md)`, which
//! mdBook turns into `limits.html`. In rustdoc each chapter is the documentation of a module
//! (`src/lib.rs`), where `limits.md` would lead nowhere. This script copies every chapter into
//! `OUT_DIR` with such links rewritten as intra-doc links to the chapter's module
//! (`[Limits](crate::limits)`, an anchor kept: `crate::limits#heading`), and `lib.rs` includes
//! the copies. Only links to chapters that exist are rewritten; the book itself is built from
//! the untouched sources.

use std::path::Path;
use std::{env, fs};

fn main() {
    let manifest = env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let out = env::var("OUT_DIR").expect("OUT_DIR");
    let src = Path::new(&manifest).join("src");
    println!("cargo:rerun-if-changed=src");
    let mut chapters: Vec<String> = fs::read_dir(&src)
        .expect("docs/book/src")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".md") && name != "SUMMARY.md")
        .collect();
    chapters.sort();
    for name in &chapters {
        let text = fs::read_to_string(src.join(name)).expect("a chapter");
        fs::write(Path::new(&out).join(name), rewrite(&text, &chapters)).expect("write to OUT_DIR");
    }
}

/// `text` with every `](chapter.md)` or `](chapter.md#anchor)` link to one of `chapters`
/// replaced by `](crate::chapter)` / `](crate::chapter#anchor)` (`-` in the file name becomes
/// `_`, as in the module names of `lib.rs`).
fn rewrite(text: &str, chapters: &[String]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        let (before, after) = rest.split_at(at + 2);
        out.push_str(before);
        rest = after;
        let Some(end) = rest.find(')') else { continue };
        let target = &rest[..end];
        let (file, anchor) = match target.split_once('#') {
            Some((file, anchor)) => (file, Some(anchor)),
            None => (target, None),
        };
        if chapters.iter().any(|c| c == file) {
            out.push_str("crate::");
            out.push_str(&file.trim_end_matches(".md").replace('-', "_"));
            if let Some(anchor) = anchor {
                out.push('#');
                out.push_str(anchor);
            }
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

//! The module map, enforced: every module may import only from the layers
//! below it. This reads every `.rs` file under `src/` (tests included) and
//! resolves every path that can reach another top-level module — `crate::x`
//! anywhere (not only in `use` lines), grouped `use crate::{x, y}`,
//! `$crate::x` in macros, and `super::` chains that climb to the crate root —
//! then fails on any arrow that points up or sideways. It also checks that
//! `lib.rs` declares the modules in this order and that README's map shows it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Bottom first. Modules in one layer may not import each other.
const LAYERS: &[&[&str]] = &[
    &["http"],
    &["codec"],
    &["json"],
    &["io"],
    &["guarded_fetch"],
    &["config"],
    &["auth"],
    &["context"],
    &["scale"],
    &["callback_log"],
    &["tools"],
    &["mcp", "webhook", "oauth"],
    &["app"],
    &["edge"],
];

fn layer_of(m: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&m))
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The text without comments, string and char literals (which may mention
/// paths without importing them).
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            i += rest.find("*/").map_or(rest.len(), |j| j + 2);
        } else if rest.starts_with("r#\"") || rest.starts_with("r\"") {
            let hashes = rest[1..].bytes().take_while(|c| *c == b'#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let start = 2 + hashes;
            i += rest[start..]
                .find(&close)
                .map_or(rest.len(), |j| start + j + close.len());
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            i = j + 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && (rest.len() > 2 && (b[i + 2] == b'\'' || b[i + 1] == b'\\')) {
            // A char literal ('x' or an escape); lifetimes have no closing quote.
            let j = rest[1..].find('\'').map_or(1, |j| j + 2);
            i += j;
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The module path of a file below `src/` (`src/tools/tasks.rs` → tools, tasks).
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Every top-level module a file's code names.
fn targets(code: &str, here: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        let before = &code[..i];
        if before.ends_with(|c: char| c.is_alphanumeric() || c == '_') && !before.ends_with('$') {
            continue; // e.g. `my_crate::`
        }
        let after = &code[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            for item in inner.split(',') {
                out.insert(ident(item.trim()));
            }
        } else {
            out.insert(ident(after));
        }
    }
    // `super::` chains that climb out of the file's own top-level module.
    for (i, _) in code.match_indices("super::") {
        if code[..i].ends_with("super::")
            || code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
        {
            continue; // counted from the chain's first `super`
        }
        let mut depth = 0;
        let mut rest = &code[i..];
        while let Some(r) = rest.strip_prefix("super::") {
            depth += 1;
            rest = r;
        }
        // Without parsing inline modules (`mod tests`), a chain as long as the
        // file's depth may end at the crate root or one level below it; it is
        // counted when it names a top-level module (none has a child of the
        // same name).
        let name = ident(rest);
        if depth >= here.len() && layer_of(&name).is_some() {
            out.insert(name);
        }
    }
    out
}

#[test]
fn modules_import_only_from_lower_layers() {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut problems = Vec::new();
    let mut arrows = 0;
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap();
        let here = module_path(rel);
        let Some(top) = here.first().filter(|t| *t != "lib") else {
            continue;
        };
        let Some(own) = layer_of(top) else {
            problems.push(format!("{}: module `{top}` is in no layer", rel.display()));
            continue;
        };
        let code = code_only(&std::fs::read_to_string(f).unwrap());
        for t in targets(&code, &here) {
            if t == *top || t.is_empty() || t == "VERSION" {
                continue;
            }
            arrows += 1;
            match layer_of(&t) {
                Some(l) if l < own => {}
                Some(_) => problems.push(format!(
                    "{}: `{top}` imports `{t}`, which is not below it",
                    rel.display()
                )),
                None => problems.push(format!(
                    "{}: `{top}` names `crate::{t}`, which is in no layer",
                    rel.display()
                )),
            }
        }
    }
    assert!(
        arrows > 20,
        "the scan found only {arrows} arrows; is it reading the code?"
    );
    assert!(
        problems.is_empty(),
        "upward or sideways imports:\n{}",
        problems.join("\n")
    );
}

#[test]
fn lib_declares_the_modules_in_layer_order() {
    let lib = code_only(&std::fs::read_to_string(src().join("lib.rs")).unwrap());
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l
                .strip_prefix("pub ")
                .or_else(|| l.strip_prefix("pub(crate) "))
                .unwrap_or(l);
            l.strip_prefix("mod ")?.strip_suffix(';')
        })
        .collect();
    let want: Vec<&str> = LAYERS.iter().flat_map(|l| l.iter().copied()).collect();
    assert_eq!(declared, want);
}

#[test]
fn readme_shows_the_same_map() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let map = LAYERS
        .iter()
        .map(|l| {
            l.iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(" · ")
        })
        .collect::<Vec<_>>()
        .join(" → ");
    assert!(
        readme.contains(&map),
        "README's \"How it is built\" must show the layers as:\n{map}"
    );
}

/// The checker itself: an upward path in any of its forms is seen.
#[test]
fn the_scan_sees_every_form_of_path() {
    let here = vec!["scale".to_string()];
    let code = code_only(
        "use crate::{io, tools::ToolError};\nlet x = crate::mcp::methods::SERVER_NAME;\n\
         // crate::app in a comment\nlet s = \"crate::webhook in a string\";\n\
         $crate::edge::f(); super::app::g(); let c = '\"'; let t = crate::callback_log::X;",
    );
    let t = targets(&code, &here);
    let want: BTreeSet<String> = ["io", "tools", "mcp", "edge", "app", "callback_log"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(t, want);
}

/// Inside `tools` and `mcp` the files are layered too, bottom first, with
/// `mod.rs` above them all: the tools' kernel and shared pieces below the
/// areas, no area importing another, and what MCP tasks need of the waits
/// above them; in `mcp` the wire format at the bottom, MCP tasks below the
/// methods that answer them, and the transport on top. Files of one layer do not import each
/// other. Tests (`tests.rs`, `*_tests.rs`, `testing.rs` and inline test
/// modules) may reach anything.
const FOLDERS: &[(&str, &[&[&str]])] = &[
    (
        "tools",
        &[
            &["error", "schema", "shape"],
            &["args", "formats"],
            &["kernel"],
            &["run", "guard"],
            &["create", "scope"],
            &[
                "tasks",
                "bulk",
                "batches",
                "waits",
                "projects",
                "team",
                "files",
                "callbacks",
                "attachments",
            ],
            &["follow"],
        ],
    ),
    (
        "mcp",
        &[
            &["model"],
            &["rpc"],
            &["lane"],
            &["apps"],
            &["resources", "results"],
            &["tasks"],
            &["methods"],
            &["stream"],
        ],
    ),
];

/// The files of its folder a file's code names: `super::x` and
/// `crate::<folder>::x` (also grouped, and `$crate::` in macros), where `x`
/// is a sibling file, or `mod` for a name `mod.rs` defines or re-exports.
fn sibling_targets(code: &str, folder: &str, files: &[String]) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut names = Vec::new();
    let own = format!("crate::{folder}::");
    for prefix in ["super::", own.as_str()] {
        for (i, _) in code.match_indices(prefix) {
            let before = &code[..i];
            if prefix == "super::"
                && (before.ends_with("super::")
                    || before.ends_with(|c: char| c.is_alphanumeric() || c == '_'))
            {
                continue;
            }
            if prefix != "super::" && before.ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let after = &code[i + prefix.len()..];
            if after.starts_with("super::") {
                continue;
            }
            match after.strip_prefix('{') {
                Some(group) => {
                    let inner = &group[..group.find('}').unwrap_or(group.len())];
                    names.extend(inner.split(',').map(ident));
                }
                None => names.push(ident(after)),
            }
        }
    }
    names
        .into_iter()
        .filter(|n| !n.is_empty() && n != "self")
        .map(|n| {
            if files.contains(&n) {
                n
            } else {
                "mod".to_string()
            }
        })
        .collect()
}

#[test]
fn files_inside_tools_and_mcp_import_only_from_lower_layers() {
    let mut problems = Vec::new();
    for (folder, layers) in FOLDERS {
        let dir = src().join(folder);
        let layer = |f: &str| layers.iter().position(|l| l.contains(&f));
        let mut files = Vec::new();
        for e in std::fs::read_dir(&dir).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().to_string();
            if let Some(stem) = name.strip_suffix(".rs") {
                if stem != "mod" && !stem.ends_with("tests") && stem != "testing" {
                    files.push(stem.to_string());
                }
            }
        }
        for f in &files {
            let Some(own) = layer(f) else {
                problems.push(format!("src/{folder}/{f}.rs is in no layer of FOLDERS"));
                continue;
            };
            let text = std::fs::read_to_string(dir.join(format!("{f}.rs"))).unwrap();
            let code = code_only(&text);
            // Inline test modules come last in a file.
            let code = &code[..code.find("#[cfg(test)]").unwrap_or(code.len())];
            for t in sibling_targets(code, folder, &files) {
                if t == *f {
                    continue;
                }
                match layer(&t) {
                    Some(l) if l < own => {}
                    _ => problems.push(format!(
                        "src/{folder}/{f}.rs imports {folder}/{t}, which is not below it"
                    )),
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "imports inside a folder that point up or sideways:\n{}",
        problems.join("\n")
    );
}

/// The folder check itself: a sibling, a group, `mod.rs`'s own names and a
/// macro's `$crate` path are all seen.
#[test]
fn the_folder_scan_sees_siblings_groups_and_mod() {
    let files: Vec<String> = ["args", "tasks", "kernel"].map(String::from).to_vec();
    let code = code_only(
        "use super::{args::d, kernel};\nuse super::ToolResult;\nlet x = $crate::tools::tasks::TOOLS;\n\
         // super::bulk in a comment\nlet y = super::super::app::f();",
    );
    let t = sibling_targets(&code, "tools", &files);
    let want: BTreeSet<String> = ["args", "kernel", "mod", "tasks"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(t, want);
}

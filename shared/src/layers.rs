//! The layer map of the crate documentation, checked against the sources:
//! each module may import only the modules before it in [`LAYERS`], and
//! `cfg(target_os)` and `unsafe` stay where the map puts them.

use std::fs;
use std::path::{Path, PathBuf};

/// The top-level modules, layer by layer and in order within a layer: a
/// module may use the ones before it (and itself), never one after it.
const LAYERS: &[&[&str]] = &[
    &["error", "paths", "fsio", "lock"],
    &["model", "conf", "rctl", "template", "exec", "wire"],
    &["backend"],
    &["ops"],
    &["jexec", "jls", "jrctl", "jtpl", "cli"],
];

/// A module's place in the map.
fn rank(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .flat_map(|l| l.iter())
        .position(|m| *m == module)
}

/// Where `cfg(target_os = ...)` may appear.
const PLATFORM_MODULES: &[&str] = &["backend", "paths", "cli"];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`lib` for lib.rs).
fn module_of(file: &Path) -> String {
    let rel = file.strip_prefix(src_dir()).expect("under src");
    let first = rel.components().next().expect("a component");
    let name = first.as_os_str().to_string_lossy();
    name.strip_suffix(".rs").unwrap_or(&name).to_string()
}

/// The code of a source text without its comments (so that docs may name
/// any module).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules `code` names through `crate::`, including each
/// name of a `use crate::{a, b::c}` group.
fn crate_uses(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(group.len(), |(i, _)| i);
            for item in split_top_level(&group[..end]) {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push(name);
        }
    }
    found
}

/// `a, b::{c, d}, e` split at its top-level commas.
fn split_top_level(group: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let mut level = 0;
    let mut start = 0;
    for (i, c) in group.char_indices() {
        match c {
            '{' => level += 1,
            '}' => level -= 1,
            ',' if level == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&group[start..]);
    items
}

/// Every import of a later module, as `file: module uses other`.
fn upward_imports() -> Vec<String> {
    let mut files = Vec::new();
    sources(&src_dir(), &mut files);
    let mut bad = Vec::new();
    for file in files {
        let module = module_of(&file);
        if module == "lib" || module == "layers" {
            continue;
        }
        let own = rank(&module).unwrap_or_else(|| {
            panic!(
                "{}: module {module} is not in the layer map",
                file.display()
            )
        });
        let code = code_of(&fs::read_to_string(&file).expect("read source"));
        for used in crate_uses(&code) {
            if matches!(used.as_str(), "Error" | "Result") {
                continue;
            }
            match rank(&used) {
                Some(r) if r <= own => {}
                _ => bad.push(format!("{}: {module} uses {used}", file.display())),
            }
        }
    }
    bad.sort();
    bad.dedup();
    bad
}

#[test]
fn modules_import_only_the_layers_below_them() {
    let bad = upward_imports();
    assert!(
        bad.is_empty(),
        "imports against the layer map:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_import_scanner_sees_single_paths_and_groups() {
    let code = "use crate::backend::Backend;\nuse crate::{ops::{self, Jkit}, wire};\nlet x = crate::jls::run();";
    assert_eq!(crate_uses(code), ["backend", "ops", "wire", "jls"]);
}

#[test]
fn platform_conditions_stay_in_the_platform_modules() {
    let mut files = Vec::new();
    sources(&src_dir(), &mut files);
    let mut bad = Vec::new();
    for file in files {
        let module = module_of(&file);
        if PLATFORM_MODULES.contains(&module.as_str()) || module == "layers" {
            continue;
        }
        let code = code_of(&fs::read_to_string(&file).expect("read source"));
        if code.contains("target_os") {
            bad.push(file.display().to_string());
        }
    }
    assert!(
        bad.is_empty(),
        "cfg(target_os) outside backend, paths and cli:\n{}",
        bad.join("\n")
    );
}

#[test]
fn unsafe_code_stays_in_the_sys_files() {
    let mut files = Vec::new();
    sources(&src_dir(), &mut files);
    let mut bad = Vec::new();
    for file in files {
        if file.file_name().is_some_and(|n| n == "sys.rs") || module_of(&file) == "layers" {
            continue;
        }
        let code = code_of(&fs::read_to_string(&file).expect("read source"));
        if code.contains("unsafe ") {
            bad.push(file.display().to_string());
        }
    }
    assert!(
        bad.is_empty(),
        "unsafe outside the sys.rs files:\n{}",
        bad.join("\n")
    );
}

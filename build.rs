//! Chooses the annotation view document that src/mcp/apps.rs includes: the
//! minified one scripts/build.sh writes for the release worker (named by
//! `SCALE_VIEW_HTML`), else the readable source in src/view/, which is what
//! `cargo test` and any other build without that variable include.

fn main() {
    println!("cargo:rerun-if-env-changed=SCALE_VIEW_HTML");
    let path = match std::env::var("SCALE_VIEW_HTML") {
        Ok(path) if !path.is_empty() => path,
        _ => format!(
            "{}/src/view/annotations.html",
            std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()
        ),
    };
    println!("cargo:rerun-if-changed={path}");
    println!("cargo:rustc-env=SCALE_VIEW_HTML_PATH={path}");
}

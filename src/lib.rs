//! scale-mcp-worker: Scale AI's v1 API as a remote MCP server on Cloudflare Workers.
//!
//! Everything but [`edge`] is the pure core: it takes no `worker` types and runs
//! under plain `cargo test` on the host. The edge reads the Workers request,
//! configuration and bindings, hands them to [`app::handle`], and writes the answer
//! back; all I/O the core needs goes through the two traits in [`io`].

pub mod app;
pub mod config;
pub mod io;
pub mod json;
pub mod mcp;
pub mod scale;
pub mod tools;
pub mod webhook;

#[cfg(target_arch = "wasm32")]
mod edge;

/// The crate version, reported by `/health` and in MCP `serverInfo`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

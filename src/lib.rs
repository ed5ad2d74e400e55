//! scale-mcp-worker: Scale AI's v1 API as a remote MCP server on Cloudflare Workers.
//!
//! Everything but `edge` is the pure core: it takes no `worker` types and runs
//! under plain `cargo test` on the host. The edge reads the Workers request,
//! configuration and bindings, hands them to [`app::handle`], and writes the
//! answer back; all I/O the core needs goes through the traits in [`io`].
//!
//! The modules are one-way layers, declared here bottom first: each imports
//! only from modules above it in this list (`tests/layers.rs` checks it, and
//! README's "How it is built" draws it). `mcp`, `webhook` and `oauth` share a
//! layer and do not import each other.

// Linked for the serde_json instances it compiles for speed (see its docs).
extern crate json_hot;

pub mod http;
pub(crate) mod codec;
pub mod json;
pub mod io;
pub(crate) mod guarded_fetch;
pub mod config;
pub mod auth;
pub(crate) mod context;
pub(crate) mod scale;
pub mod callback_log;
pub mod tools;
pub(crate) mod mcp;
pub(crate) mod webhook;
pub(crate) mod oauth;
pub mod app;
#[cfg(target_arch = "wasm32")]
mod edge;

/// The crate version, reported by `/health` and in MCP `serverInfo`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

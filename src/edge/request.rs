//! The incoming request's body, as a source the core reads only when it
//! decides to and never past the cap it asks for; the capped read serves
//! upstream answers too.

use crate::http::{BodyError, BodySource, LocalFut};
use futures_util::StreamExt;
use std::cell::RefCell;
use worker::*;

/// Reads a stream to its end, or stops (`None`) once more than `cap` bytes
/// arrived; dropping the stream cancels the rest.
pub(super) async fn read_capped(mut stream: ByteStream, cap: usize) -> Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk?);
        if body.len() > cap {
            return Ok(None);
        }
    }
    Ok(Some(body))
}

/// The request's body, left unread until the core asks for it.
pub(super) struct EdgeBody(pub(super) RefCell<Option<Request>>);

impl BodySource for EdgeBody {
    fn read(&self, cap: usize) -> LocalFut<'_, std::result::Result<Vec<u8>, BodyError>> {
        let req = self.0.borrow_mut().take();
        Box::pin(async move {
            let failed = |e: Error| BodyError::Failed(e.to_string());
            let Some(mut req) = req else {
                return Err(BodyError::Failed("the body was already read".into()));
            };
            // Streamed and capped: the core refused a declared length above
            // the cap before asking, and a body of unknown length stops at it.
            match req.stream() {
                Ok(s) => read_capped(s, cap)
                    .await
                    .map_err(failed)?
                    .ok_or(BodyError::TooLarge),
                // No body at all.
                Err(_) => Ok(Vec::new()),
            }
        })
    }
}

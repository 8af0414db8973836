//! Callback parameters mapped to core errors.
//!
//! Status codes and bodies are mapped in one place, [`oauth_link_alloy::api_error`]
//! (shared with the Connectivity adapter; see the crate docs' error map), which the client
//! applies to every non-2xx answer.

use oauth_link_core::{Callback, Error};

use crate::KIND;

/// `Denied` when the browser came back with `error` / `error_description`.
pub(crate) fn callback_denied(callback: &Callback) -> Option<Error> {
    oauth_link_alloy::callback_denied(KIND, callback)
}

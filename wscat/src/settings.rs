//! What the options mean for ws-tokio: the connection settings and the permessage-deflate
//! configuration, shared by the client and the server.

use std::time::Duration;

use ws_tokio::{Config, DeflateConfig};

use crate::args::Args;

/// How long the closing handshake may take before the connection is dropped.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The connection settings: `--max-payload` and a short close timeout.
pub fn connection_config(args: &Args) -> Config {
    let mut config = Config::default();
    if let Some(max) = args.max_payload {
        config = config.max_message_size(Some(max));
    }
    config = config.close_timeout(Some(CLOSE_TIMEOUT));
    config
}

/// The permessage-deflate settings, or `None` with `--no-deflate`.
pub fn deflate(args: &Args) -> Option<DeflateConfig> {
    if args.no_deflate {
        return None;
    }
    let mut d = DeflateConfig::default()
        // An absent flag is Node's "not set" (`None`), not `false` (which refuses the parameter).
        .server_no_context_takeover(args.deflate_server_no_context_takeover.then_some(true))
        .client_no_context_takeover(args.deflate_client_no_context_takeover.then_some(true))
        .server_max_window_bits(args.deflate_server_max_window_bits)
        .client_max_window_bits(args.deflate_client_max_window_bits);
    if let Some(level) = args.deflate_level {
        d = d.compression_level(level);
    }
    if let Some(threshold) = args.deflate_threshold {
        d = d.threshold(threshold);
    }
    Some(d)
}

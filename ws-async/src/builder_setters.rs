//! [`client_builder_setters!`]: the client builders' option methods, written once for the
//! async `ClientBuilder` and ws-blocking's.

/// Emits the option methods of a client builder whose `options` field is a
/// [`ClientOptions`](crate::ClientOptions), documented once for every builder.
#[doc(hidden)]
#[macro_export]
macro_rules! client_builder_setters {
    () => {
        /// The subprotocols to offer, most preferred first (Node `protocols`), replacing earlier
        /// ones. They must be unique tokens; the server picks at most one
        /// (`WebSocket::protocol`).
        pub fn subprotocols<I, P>(mut self, protocols: I) -> Self
        where
            I: IntoIterator<Item = P>,
            P: Into<String>,
        {
            self.options.subprotocols = protocols.into_iter().map(Into::into).collect();
            self
        }

        /// Adds one subprotocol to offer.
        pub fn subprotocol(mut self, protocol: impl Into<String>) -> Self {
            self.options.subprotocols.push(protocol.into());
            self
        }

        /// The `Origin` header (`Sec-WebSocket-Origin` for protocol version 8), Node `origin`.
        pub fn origin(mut self, origin: impl Into<String>) -> Self {
            self.options.origin = Some(origin.into());
            self
        }

        /// Adds a request header (Node `headers`), replacing an earlier one of the same name
        /// (case-insensitive). The handshake's own headers (`Upgrade`, `Connection`,
        /// `Sec-WebSocket-Key`, `-Version`, `-Extensions`) cannot be overridden;
        /// `Sec-WebSocket-Protocol` adds subprotocols; `Host` replaces the authority. On a
        /// redirect to another host, or from `wss` to `ws`, `Authorization` and `Cookie` are
        /// dropped (and `Host` too for another host), as Node `ws` and curl do.
        pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
            let name = name.into();
            self.options.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
            self.options.headers.push((name, value.into()));
            self
        }

        /// The `Sec-WebSocket-Version` to send: 13 (default) or 8 (Node `protocolVersion`).
        pub fn protocol_version(mut self, version: u8) -> Self {
            self.options.protocol_version = version;
            self
        }

        /// Bounds each connection attempt (Node `handshakeTimeout`, reset on every redirect):
        /// resolving and connecting, the proxy tunnel, TLS and the WebSocket handshake
        /// together. Overrides `Config::handshake_timeout` (10 s by default). Expiry is
        /// `ConnectError::Timeout`.
        pub fn handshake_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.options.handshake_timeout = Some(timeout);
            self
        }

        /// Follows `3xx` responses with a `Location` (Node `followRedirects`, default off).
        /// The location is resolved against the current URL; `http(s)` locations mean
        /// `ws(s)`. When off, a redirect is `ConnectError::Rejected` with its status and
        /// `Location` header.
        pub fn follow_redirects(mut self, on: bool) -> Self {
            self.options.follow_redirects = on;
            self
        }

        /// Most redirects followed (Node `maxRedirects`, default 10); one more is
        /// `ConnectError::TooManyRedirects`.
        pub fn max_redirects(mut self, n: usize) -> Self {
            self.options.max_redirects = n;
            self
        }

        /// Binds the TCP socket to this local address before connecting (Node
        /// `localAddress`). Only remote addresses of the same family are tried. Not used for
        /// `ws+unix:` URLs, nor by a custom connector.
        pub fn local_address(mut self, address: std::net::IpAddr) -> Self {
            self.options.local_address = Some(address);
            self
        }

        /// Tunnels through an HTTP proxy with `CONNECT host:port`
        /// (`http://[user:pass@]host:port`; userinfo becomes `Proxy-Authorization: Basic`).
        /// Used for `ws://` and `wss://` alike (TLS runs end to end inside the tunnel). A
        /// refusal is `ConnectError::ProxyRejected`.
        ///
        /// Proxy environment variables (`HTTP_PROXY`, `HTTPS_PROXY`, `NO_PROXY`…) are **not**
        /// read: pass the proxy here explicitly if the application wants to honour them. Not
        /// used for `ws+unix:` URLs.
        pub fn proxy(mut self, url: impl Into<String>) -> Self {
            self.options.proxy = Some(url.into());
            self
        }

        /// The permessage-deflate offer (Node `perMessageDeflate`): `None` offers nothing. On
        /// by default, as in Node: `DeflateConfig::default()` (with ws-proto's miniz_oxide
        /// backend the offer is `permessage-deflate` without `client_max_window_bits`; with
        /// zlib-rs it adds `client_max_window_bits`). Replaces `Config::permessage_deflate` of
        /// [`config`](Self::config).
        pub fn per_message_deflate(mut self, deflate: Option<$crate::DeflateConfig>) -> Self {
            self.options.per_message_deflate = deflate;
            self
        }

        /// Limits, timers and the rest of the connection's settings (Node `maxPayload`,
        /// `skipUTF8Validation`, `autoPong`…). Its `permessage_deflate` is replaced by
        /// [`per_message_deflate`](Self::per_message_deflate)'s setting, and its handshake
        /// timeout by [`handshake_timeout`](Self::handshake_timeout) when set.
        pub fn config(mut self, config: std::sync::Arc<$crate::Config>) -> Self {
            self.options.config = Some(config);
            self
        }

        /// TLS settings for `wss://`: roots, client certificate, server name, verification.
        #[cfg(feature = "rustls")]
        pub fn tls(mut self, options: $crate::tls::TlsOptions) -> Self {
            self.options.tls = options;
            self
        }

        /// The options collected so far.
        pub fn options(&self) -> &$crate::ClientOptions {
            &self.options
        }
    };
}

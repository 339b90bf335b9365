//! [`client_builder_setters!`]: the client builders' option methods, written once for the
//! async `ClientBuilder` and ws-blocking's.

/// Emits the option methods of a client builder whose `options` field is a
/// [`ClientOptions`](crate::ClientOptions), documented once for every builder. `$krate` names
/// the crate the doc examples import the builder from (`"ws_tokio"`, `"ws_blocking"`).
#[doc(hidden)]
#[macro_export]
macro_rules! client_builder_setters {
    ($krate:literal) => {
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
        /// by default, as in Node: `DeflateConfig::default()`, which offers
        /// `permessage-deflate; client_max_window_bits` with the default zlib-rs backend (with
        /// the `miniz` feature alone, without `client_max_window_bits`). Replaces
        /// `Config::permessage_deflate` of
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

        /// Fails the handshake with `ConnectError::Handshake(HandshakeError::SubprotocolMissing)`
        /// when subprotocols were offered and the server's `101` chose none (Node `ws` always
        /// fails then: "Server sent no subprotocol"). Off by default: RFC 6455 allows the
        /// server to choose none, and `WebSocket::protocol` is then `None`. No effect without
        /// [`subprotocols`](Self::subprotocols).
        pub fn require_subprotocol(mut self, on: bool) -> Self {
            self.options.require_subprotocol = on;
            self
        }

        /// Sends `Authorization: Basic` with `credentials`, `"user:password"` (Node `auth`).
        /// As in Node, userinfo in the URL wins over it, and an `Authorization`
        /// [`header`](Self::header) wins over both. Like any `Authorization`, it is dropped on
        /// a redirect to another host or from `wss` to `ws`.
        pub fn auth(mut self, credentials: impl Into<String>) -> Self {
            self.options.auth = Some(credentials.into());
            self
        }

        /// Takes the masking key of every frame the client sends from `generate` (Node
        /// `generateMask`): it fills a 4-byte key, e.g. with a faster generator, or with a
        /// fixed key to make the output reproducible in tests. The `Sec-WebSocket-Key` still
        /// comes from the OS. RFC 6455 §10.3 wants masking keys unpredictable, so that a
        /// script cannot choose the bytes on the wire (cache poisoning through proxies): only
        /// give up the OS's randomness (the default, `OsEntropy`) where no untrusted code
        /// chooses the payloads. Shared by every connection these options open (keep any
        /// state in atomics or a mutex).
        pub fn generate_mask<F>(mut self, generate: F) -> Self
        where
            F: Fn(&mut [u8]) + Send + Sync + 'static,
        {
            self.options.generate_mask = Some(std::sync::Arc::new(generate));
            self
        }

        /// Calls `hook` before each redirect is followed (Node's `'redirect'` event; only with
        /// [`follow_redirects`](Self::follow_redirects)). It gets a
        /// [`RedirectRequest`](crate::RedirectRequest): the new URL, the redirect response,
        /// and the custom headers of the next request, which it may edit. They come with the
        /// safe policy already applied (`Authorization` and `Cookie` removed for another host
        /// or `wss` → `ws`); `keep_credentials()` keeps them anyway, `drop_credentials()`
        /// removes them on any redirect. Returning [`RedirectAction::Stop`](crate::RedirectAction)
        /// ends `connect` with the redirect as `ConnectError::Rejected`. Without a hook the safe
        /// policy applies alone.
        ///
        /// ```no_run
        #[doc = concat!("use ", $krate, "::{ClientBuilder, RedirectAction};")]
        ///
        /// let builder = ClientBuilder::new("wss://a.example/chat")
        ///     .header("Authorization", "Bearer abc")
        ///     .follow_redirects(true)
        ///     .on_redirect(|redirect| {
        ///         match redirect.url().host_str() {
        ///             // A sibling host of the same service: the token may follow.
        ///             Some("b.example") => redirect.keep_credentials(),
        ///             Some("a.example") => {}
        ///             _ => return RedirectAction::Stop,
        ///         }
        ///         redirect.set_header("X-Redirected", "1");
        ///         RedirectAction::Follow
        ///     });
        /// # drop(builder);
        /// ```
        pub fn on_redirect<F>(mut self, hook: F) -> Self
        where
            F: Fn(&mut $crate::RedirectRequest<'_>) -> $crate::RedirectAction + Send + Sync + 'static,
        {
            self.options.on_redirect = Some(std::sync::Arc::new(hook));
            self
        }

        /// Edits every upgrade request right before it is sent, the first one and each
        /// redirect's (Node `finishRequest`): `hook` gets the [`ClientRequest`](crate::ClientRequest)
        /// with every option applied (headers, subprotocols, origin) and returns it, e.g. with
        /// a header that signs the request target. The handshake's own headers
        /// (`Sec-WebSocket-Key`…) are added after it and cannot be changed.
        ///
        /// ```no_run
        #[doc = concat!("use ", $krate, "::ClientBuilder;")]
        ///
        /// let builder = ClientBuilder::new("ws://127.0.0.1:9001/chat").finish_request(|request| {
        ///     let signature = format!("sig-of-{}", request.path_and_query());
        ///     request.header("X-Signature", &signature).remove_header("User-Agent")
        /// });
        /// # drop(builder);
        /// ```
        pub fn finish_request<F>(mut self, hook: F) -> Self
        where
            F: Fn($crate::ClientRequest) -> $crate::ClientRequest + Send + Sync + 'static,
        {
            self.options.finish_request = Some(std::sync::Arc::new(hook));
            self
        }

        /// The options collected so far.
        pub fn options(&self) -> &$crate::ClientOptions {
            &self.options
        }
    };
}

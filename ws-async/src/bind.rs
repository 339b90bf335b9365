//! [`bind_runtime!`]: the public API of a binding crate, generated once for every binding.

/// Emits, in a binding crate's root, this crate's API with the binding's runtime filled in:
/// type aliases (`WebSocket<S>`, `WsReader<S>`, `ClientBuilder`, …), the free functions
/// (`connect`, `accept_with`, …), the re-exports of every type they take, and the `server` and
/// `offload` modules. Pass the path of the runtime type (e.g. `Tokio`, in scope at the crate root)
/// and of the binding's client stream type.
///
/// Every binding invokes it, so the bindings cannot drift apart: the same names, signatures
/// and docs everywhere.
#[macro_export]
macro_rules! bind_runtime {
    ($rt:ident, $client_stream:ident) => {
        /// A WebSocket connection over a stream `S`, driven by this crate's runtime (the
        /// methods are documented on `ws_async::WebSocket`).
        pub type WebSocket<S> = $crate::WebSocket<S, $rt>;
        /// The receiving half of a split [`WebSocket`].
        pub type WsReader<S> = $crate::WsReader<S, $rt>;
        /// The sending half of a split [`WebSocket`].
        pub type WsWriter<S> = $crate::WsWriter<S, $rt>;
        /// The task that runs a connection in driver mode.
        pub type Driver<S> = $crate::Driver<S, $rt>;
        /// A [`WebSocket`] as a byte stream (Node `createWebSocketStream`).
        pub type WsByteStream<S> = $crate::WsByteStream<S, $rt>;
        /// Builds and opens a client connection (Node `new WebSocket(address, protocols,
        /// options)`).
        pub type ClientBuilder = $crate::ClientBuilder<$rt>;
        /// The future a hand-written `Connector<R>` returns (implement `Connector<` the
        /// runtime type `>`; closures implement it already).
        pub type ConnectFuture<'a> = $crate::ConnectFuture<'a, $rt>;
        /// The stream a client connection runs over: another name for the client stream.
        pub type MaybeTlsStream = $client_stream;

        pub use $crate::extension;
        pub use $crate::offload;
        pub use $crate::ws_proto;
        pub use $crate::{
            http, Accept, AcceptError, Backend, Bytes, ClientErrorReply, ClientOptions, ClientRequest, CloseCode,
            CloseFrame, CloseInfo, Config, ConnectError, Connection, Connector, DeflateConfig, DeflateParams, Error,
            Event, EventReceiver, Fragment, HandshakeError, MaxWindowBits, Message, MessageKind, MessagePieces,
            NoContextTakeover, OsEntropy, Outbound, PreparedMessage, RedirectAction, RedirectRequest, Refusal,
            Rejection, ReuniteError, SendError, SendOptions, ServerOptions, State, Strategy, Target, TrySendError,
            UpgradeRequest, Utf8Bytes, WsHandle,
        };

        /// Connects to `url` (`ws://`, `wss://`, `ws+unix://`) with the default `Config` and
        /// performs the handshake; see [`ClientBuilder`] for every client option.
        pub async fn connect(
            url: &str,
        ) -> Result<(WebSocket<$client_stream>, $crate::http::Response<()>), ConnectError> {
            $crate::connect::<$rt>(url).await
        }

        /// [`connect`] with a custom `Config`; its handshake timeout also bounds the connect.
        pub async fn connect_config(
            url: &str,
            config: std::sync::Arc<Config>,
        ) -> Result<(WebSocket<$client_stream>, $crate::http::Response<()>), ConnectError> {
            $crate::connect_config::<$rt>(url, config).await
        }

        /// Opens the stream for `url` and builds its request without the handshake: add
        /// headers, subprotocols or an origin, then call [`connect_with`].
        pub async fn dial(url: &str) -> Result<($client_stream, ClientRequest), ConnectError> {
            $crate::dial::<$rt>(url).await
        }

        /// Performs the client handshake over an open stream and returns the connection and
        /// the server's `101` response.
        pub async fn connect_with<S>(
            io: S,
            request: ClientRequest,
            config: std::sync::Arc<Config>,
        ) -> Result<(WebSocket<S>, $crate::http::Response<()>), ConnectError>
        where
            $rt: $crate::runtime::Io<S>,
        {
            $crate::connect_with::<S, $rt>(io, request, config).await
        }

        /// Accepts a WebSocket upgrade on a fresh stream: reads the request, applies `options`
        /// and writes the `101`; a refused request is answered with its HTTP status.
        pub async fn accept_with<S>(
            io: S,
            config: std::sync::Arc<Config>,
            options: std::sync::Arc<ServerOptions>,
        ) -> Result<WebSocket<S>, AcceptError>
        where
            $rt: $crate::runtime::Io<S>,
        {
            $crate::accept_with::<S, $rt>(io, config, options).await
        }

        /// [`accept_with`] where `decide` inspects the request and accepts or refuses it.
        pub async fn accept_hdr_with<S, F>(
            io: S,
            config: std::sync::Arc<Config>,
            options: std::sync::Arc<ServerOptions>,
            decide: F,
        ) -> Result<WebSocket<S>, AcceptError>
        where
            $rt: $crate::runtime::Io<S>,
            F: FnOnce(&UpgradeRequest) -> Result<Accept, Rejection>,
        {
            $crate::accept_hdr_with::<S, $rt, F>(io, config, options, decide).await
        }

        /// [`accept_hdr_with`] with asynchronous verification (Node `verifyClient` with a
        /// callback), bounded by the handshake deadline (408 when it expires).
        pub async fn accept_async_with<S, F, Fut>(
            io: S,
            config: std::sync::Arc<Config>,
            options: std::sync::Arc<ServerOptions>,
            decide: F,
        ) -> Result<WebSocket<S>, AcceptError>
        where
            $rt: $crate::runtime::Io<S>,
            F: FnOnce(&UpgradeRequest) -> Fut,
            Fut: std::future::Future<Output = Result<Accept, Rejection>>,
        {
            $crate::accept_async_with::<S, $rt, F, Fut>(io, config, options, decide).await
        }

        /// A Node `ws`-style WebSocket server (`WebSocket.Server`): listener, path,
        /// `verify_client`, subprotocols, client tracking with encode-once broadcast, close.
        #[cfg(feature = "server")]
        pub mod server {
            pub use $crate::server::{
                forwarded_for, rejection_response, BroadcastReport, ClientId, ClientInfo, Clients, IntoVerdict,
                ServerConnection, ServerError, Shutdown, SlowPolicy, VerifyFuture,
            };

            /// The server (the methods are documented on `ws_async::server::Server`).
            pub type Server = $crate::server::Server<super::$rt>;
            /// Builds a [`Server`].
            pub type ServerBuilder = $crate::server::ServerBuilder<super::$rt>;
            /// A connection accepted as a plain `WebSocket`, with its request.
            pub type Accepted<S> = $crate::server::Accepted<S, super::$rt>;
        }
    };
}

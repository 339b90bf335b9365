//! [`client_stream!`]: a binding's client stream enum (TCP, Unix socket, TLS, a connector's
//! stream), and [`server_stream!`]: its server stream enum (TCP, TLS over it), written once
//! for both IO-trait ecosystems.
//!
//! The enum cannot be a generic type of this crate: its TLS variant wraps the enum itself
//! (TLS over a proxy tunnel or a connector's stream), and a generic `Tls(Box<R::Tls>)` with
//! `R::Tls = TlsStream<ClientStream<R>>` makes proving `ClientStream<R>: AsyncRead` cycle
//! through itself. A macro expanded in the binding names concrete types instead.

/// Emits, in a binding crate, `ClientStream` (the enum [`Net::ClientStream`](crate::Net)
/// names), the `AsyncStream` trait a connector's stream implements, `BoxStream`, and the
/// `AsyncRead`/`AsyncWrite` implementations of the binding's IO traits.
///
/// Arguments: `tokio` or `futures_io` (which IO traits), then the TCP stream type, the Unix
/// stream type, and the rustls client stream over the enum itself (e.g.
/// `tokio_rustls::client::TlsStream<ClientStream>`).
#[doc(hidden)]
#[macro_export]
macro_rules! client_stream {
    (tokio, $tcp:ty, $unix:ty, $tls:ty) => {
        $crate::__client_stream_enum!([$crate::tokio_io::AsyncRead + $crate::tokio_io::AsyncWrite], $tcp, $unix, $tls);
        $crate::__client_stream_io!(tokio, ClientStream);
    };
    (futures_io, $tcp:ty, $unix:ty, $tls:ty) => {
        $crate::__client_stream_enum!(
            [$crate::futures_io::AsyncRead + $crate::futures_io::AsyncWrite],
            $tcp,
            $unix,
            $tls
        );
        $crate::__client_stream_io!(futures_io, ClientStream);
    };
}

/// Emits, in a binding crate, `ServerStream` (the enum [`Net::ServerStream`](crate::Net) names):
/// what the `Server`'s listener accepted, plain TCP or TLS over it, with the `AsyncRead` /
/// `AsyncWrite` implementations of the binding's IO traits. Invoke it in the module that
/// invokes [`client_stream!`] (it uses that module's `AsyncStream`).
///
/// Arguments: `tokio` or `futures_io`, the TCP stream type, and the rustls server stream over
/// it (e.g. `tokio_rustls::server::TlsStream<tokio::net::TcpStream>`).
#[doc(hidden)]
#[macro_export]
macro_rules! server_stream {
    ($io:ident, $tcp:ty, $tls:ty) => {
        /// A connection the [`Server`](crate::server::Server)'s listener accepted: TCP, or TLS
        /// over it for a server bound with `bind_tls` / `serve_tls` (whose `ClientInfo::secure`
        /// is then set).
        #[non_exhaustive]
        pub enum ServerStream {
            /// A TCP connection (`ws://`).
            Tcp($tcp),
            /// TLS over TCP (`wss://`). `get_ref()` gives the TCP stream and the rustls
            /// connection (SNI, client certificates…).
            #[cfg(feature = "rustls")]
            Tls(Box<$tls>),
        }

        impl std::fmt::Debug for ServerStream {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self {
                    Self::Tcp(s) => f.debug_tuple("Tcp").field(s).finish(),
                    #[cfg(feature = "rustls")]
                    Self::Tls(s) => f.debug_tuple("Tls").field(&s.get_ref().0).finish(),
                }
            }
        }

        impl ServerStream {
            /// The TCP stream beneath (for its addresses and socket options).
            pub fn tcp(&self) -> &$tcp {
                match self {
                    Self::Tcp(s) => s,
                    #[cfg(feature = "rustls")]
                    Self::Tls(s) => s.get_ref().0,
                }
            }

            /// Whether the connection is TLS.
            pub fn is_tls(&self) -> bool {
                !matches!(self, Self::Tcp(_))
            }

            #[allow(dead_code)] // used by the tokio IO implementation only
            fn stream(&self) -> &dyn AsyncStream {
                match self {
                    Self::Tcp(s) => s,
                    #[cfg(feature = "rustls")]
                    Self::Tls(s) => &**s,
                }
            }

            fn pinned(self: std::pin::Pin<&mut Self>) -> std::pin::Pin<&mut dyn AsyncStream> {
                match self.get_mut() {
                    Self::Tcp(s) => std::pin::Pin::new(s),
                    #[cfg(feature = "rustls")]
                    Self::Tls(s) => std::pin::Pin::new(&mut **s),
                }
            }
        }

        $crate::__client_stream_io!($io, ServerStream);
    };
}

/// The enum half of [`client_stream!`], given the IO traits' bound.
#[doc(hidden)]
#[macro_export]
macro_rules! __client_stream_enum {
    ([$($io:tt)+], $tcp:ty, $unix:ty, $tls:ty) => {
        /// A byte stream a [`Connector`](crate::Connector) may return: any
        /// `AsyncRead + AsyncWrite + Unpin + Send` of this runtime's IO traits. Implemented for
        /// every such type.
        pub trait AsyncStream: $($io)+ + Unpin + Send + 'static {}

        impl<T: $($io)+ + Unpin + Send + 'static> AsyncStream for T {}

        /// A boxed [`AsyncStream`], held by [`ClientStream::Custom`].
        pub type BoxStream = Box<dyn AsyncStream>;

        /// The stream [`connect`](crate::connect) and [`ClientBuilder`](crate::ClientBuilder)
        /// open (also named [`MaybeTlsStream`](crate::MaybeTlsStream)): TCP, a Unix domain
        /// socket for `ws+unix:` URLs, TLS for `wss://`, or a [`Connector`](crate::Connector)'s
        /// stream.
        #[non_exhaustive]
        pub enum ClientStream {
            /// A TCP connection (`ws://`).
            Tcp($tcp),
            /// A Unix domain socket connection (`ws+unix://`).
            #[cfg(unix)]
            Unix($unix),
            /// TLS (`wss://`) over another `ClientStream` (TCP, a proxy tunnel or a connector's
            /// stream). `get_ref()` gives the inner stream and the rustls connection
            /// (negotiated version, peer certificates…).
            #[cfg(feature = "rustls")]
            Tls(Box<$tls>),
            /// A stream opened by a [`Connector`](crate::Connector).
            Custom(BoxStream),
        }

        impl std::fmt::Debug for ClientStream {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self {
                    Self::Tcp(s) => f.debug_tuple("Tcp").field(s).finish(),
                    #[cfg(unix)]
                    Self::Unix(s) => f.debug_tuple("Unix").field(s).finish(),
                    #[cfg(feature = "rustls")]
                    Self::Tls(s) => f.debug_tuple("Tls").field(&s.get_ref().0).finish(),
                    Self::Custom(_) => f.write_str("Custom(..)"),
                }
            }
        }

        impl ClientStream {
            /// The variant's stream as a trait object.
            #[allow(dead_code)] // used by the tokio IO implementation only
            fn stream(&self) -> &dyn AsyncStream {
                match self {
                    Self::Tcp(s) => s,
                    #[cfg(unix)]
                    Self::Unix(s) => s,
                    #[cfg(feature = "rustls")]
                    Self::Tls(s) => &**s,
                    Self::Custom(s) => &**s,
                }
            }

            /// The variant's stream as one pinned trait object, for the IO implementations.
            fn pinned(self: std::pin::Pin<&mut Self>) -> std::pin::Pin<&mut dyn AsyncStream> {
                match self.get_mut() {
                    Self::Tcp(s) => std::pin::Pin::new(s),
                    #[cfg(unix)]
                    Self::Unix(s) => std::pin::Pin::new(s),
                    #[cfg(feature = "rustls")]
                    Self::Tls(s) => std::pin::Pin::new(&mut **s),
                    Self::Custom(s) => std::pin::Pin::new(&mut **s),
                }
            }
        }

    };
}

/// The IO-trait half of [`client_stream!`] and [`server_stream!`]: implementations for the
/// named enum that forward to the variant's stream.
#[doc(hidden)]
#[macro_export]
macro_rules! __client_stream_io {
    (tokio, $name:ident) => {
        impl $crate::tokio_io::AsyncRead for $name {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut $crate::tokio_io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                $crate::tokio_io::AsyncRead::poll_read(self.pinned(), cx, buf)
            }
        }

        impl $crate::tokio_io::AsyncWrite for $name {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::tokio_io::AsyncWrite::poll_write(self.pinned(), cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::tokio_io::AsyncWrite::poll_write_vectored(self.pinned(), cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                $crate::tokio_io::AsyncWrite::is_write_vectored(self.stream())
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                $crate::tokio_io::AsyncWrite::poll_flush(self.pinned(), cx)
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                $crate::tokio_io::AsyncWrite::poll_shutdown(self.pinned(), cx)
            }
        }
    };
    (futures_io, $name:ident) => {
        impl $crate::futures_io::AsyncRead for $name {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::futures_io::AsyncRead::poll_read(self.pinned(), cx, buf)
            }
        }

        impl $crate::futures_io::AsyncWrite for $name {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::futures_io::AsyncWrite::poll_write(self.pinned(), cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::futures_io::AsyncWrite::poll_write_vectored(self.pinned(), cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                $crate::futures_io::AsyncWrite::poll_flush(self.pinned(), cx)
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                $crate::futures_io::AsyncWrite::poll_close(self.pinned(), cx)
            }
        }
    };
}

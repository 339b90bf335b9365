//! [`ClientStream`]: what an async-std or smol client connection runs over.

ws_async::client_stream!(
    futures_io,
    async_net::TcpStream,
    async_net::unix::UnixStream,
    futures_rustls::client::TlsStream<ClientStream>
);

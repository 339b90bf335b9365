//! [`ClientStream`]: what a tokio client connection runs over.

ws_async::client_stream!(
    tokio,
    tokio::net::TcpStream,
    tokio::net::UnixStream,
    tokio_rustls::client::TlsStream<ClientStream>
);

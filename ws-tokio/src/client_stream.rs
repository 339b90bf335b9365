//! [`ClientStream`]: what a tokio client connection runs over; [`ServerStream`]: what a
//! connection the server's listener accepted runs over.

ws_async::client_stream!(
    tokio,
    tokio::net::TcpStream,
    tokio::net::UnixStream,
    tokio_rustls::client::TlsStream<ClientStream>
);

ws_async::server_stream!(tokio, tokio::net::TcpStream, tokio_rustls::server::TlsStream<tokio::net::TcpStream>);

//! [`ClientStream`]: what an async-std or smol client connection runs over; [`ServerStream`]:
//! what a connection the server's listener accepted runs over.

ws_async::client_stream!(
    futures_io,
    async_net::TcpStream,
    async_net::unix::UnixStream,
    futures_rustls::client::TlsStream<ClientStream>
);

ws_async::server_stream!(futures_io, async_net::TcpStream, futures_rustls::server::TlsStream<async_net::TcpStream>);

//! Graceful shutdown: requests in flight complete, new connections are refused, `run` returns Ok.

use std::time::Duration;

use agtoken::Uid;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::common::*;

#[tokio::test]
async fn in_flight_request_completes_then_run_returns_ok() {
    let mut server = start(config()).await;
    let body = br#"{"service": "rtc", "channel": "drain", "uid": 5, "role": "publisher"}"#;
    let head = format!(
        "POST /v1/tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // The request is under way: head and half of the body sent.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    server.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!server.state.is_ready(), "readyz turns 503 once shutdown begins");
    assert!(TcpStream::connect(server.addr).await.is_err(), "no new connections while draining");

    // The rest of the body arrives; the answer is complete and correct.
    stream.write_all(&body[10..]).await.unwrap();
    let reply = read_reply(&mut stream).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("connection"), Some("close"));
    let token = reply.json()["token"].as_str().unwrap().to_owned();
    admit(&token, &publish("drain", Uid::Int(5))).unwrap();

    server.stop().await.expect("run returns Ok after draining");
}

#[tokio::test]
async fn idle_keep_alive_connections_do_not_hold_shutdown() {
    let server = start(config()).await;
    // A keep-alive connection that has finished its request and stays open.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 1024];
    let n = tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    server.stop().await.expect("run returns Ok");
}

#[tokio::test]
async fn slow_and_idle_clients_are_disconnected() {
    let mut cfg = config();
    cfg.header_read_timeout = Duration::from_millis(300);
    let server = start(cfg).await;
    // Half a request head, then nothing (slowloris).
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"POST /fetch_rtc_token HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut buf = Vec::new();
    let read =
        tokio::time::timeout(Duration::from_secs(3), tokio::io::AsyncReadExt::read_to_end(&mut slow, &mut buf)).await;
    assert!(read.is_ok(), "the server closed the connection of a client that never finished its head");
    // Idle keep-alive connections are closed too.
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let read =
        tokio::time::timeout(Duration::from_secs(3), tokio::io::AsyncReadExt::read_to_end(&mut idle, &mut buf)).await;
    assert!(read.is_ok(), "an idle keep-alive connection stays open");
    server.stop().await.unwrap();
}

//! `GET /rtc/` with four segments serves two families: the community token service's
//! `/rtc/:channel/:role/:tokentype/:uid/` and the docs' Spring server's `/rtc/:channel/:uid/:role/token`.
//! An account literally named `token` is a community request, not a Spring one.

use agtoken::Uid;

use crate::common::*;

#[tokio::test]
async fn an_account_named_token_is_a_community_request() {
    let server = start(config()).await;
    for path in
        ["/rtc/ch/publisher/userAccount/token/", "/rtc/ch/publisher/userAccount/token", "/rtc/ch/1/account/token/"]
    {
        let reply = server.get(path).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        assert!(reply.header("content-type").unwrap().starts_with("application/json"), "{path}");
        let token = reply.json()["rtcToken"].as_str().unwrap().to_owned();
        admit(&token, &publish("ch", Uid::Account("token".into()))).unwrap();
        // It is the account "token", not any other user.
        assert!(admit(&token, &join("ch", Uid::Account("other".into()))).is_err(), "{path}");
    }
    let reply = server.get("/rtc/ch/subscriber/userAccount/token/?expiry=600").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let token = reply.json()["rtcToken"].as_str().unwrap().to_owned();
    let admitted = admit(&token, &join("ch", Uid::Account("token".into()))).unwrap();
    assert_expires_in(&admitted, 600);
    assert!(admit(&token, &publish("ch", Uid::Account("token".into()))).is_err(), "subscriber only");
    // tokentype uid with the uid "token": the community route's own error, in its shape.
    let reply = server.get("/rtc/ch/publisher/uid/token/").await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["status"], 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("failed to parse uid"), "{body}");
    // Other accounts and integer uids as before.
    let reply = server.get("/rtc/ch/publisher/uid/7/").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    admit(reply.json()["rtcToken"].as_str().unwrap(), &publish("ch", Uid::Int(7))).unwrap();
    server.stop().await.unwrap();
}

#[tokio::test]
async fn the_spring_route_is_still_served() {
    let server = start(config()).await;
    for (path, may_publish) in [
        ("/rtc/ch/42/1/token", true),
        ("/rtc/ch/42/publisher/token", true),
        ("/rtc/ch/42/2/token", false),
        ("/rtc/ch/42/subscriber/token/", false),
    ] {
        let reply = server.get(path).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        assert!(reply.header("content-type").unwrap().starts_with("text/plain"), "{path}");
        admit(&reply.body, &join("ch", Uid::Int(42))).unwrap();
        assert_eq!(admit(&reply.body, &publish("ch", Uid::Int(42))).is_ok(), may_publish, "{path}");
    }
    // A Spring request with a bad role gets the Spring route's plain-text error.
    let reply = server.get("/rtc/ch/42/owner/token").await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.header("content-type").unwrap().starts_with("text/plain"));
    assert!(reply.body.contains("role"), "{}", reply.body);
    server.stop().await.unwrap();
}

//! People through the real binary (issue 15): the first start prints a one-time owner
//! invitation at the admin address (and no bare token when the token is a setting), the
//! invitation makes the owner, a restart of a node with an owner prints none, and a signed-in
//! owner and the admin token see the same API.

use crate::harness::{Edge, TOKEN};
use serde_json::json;

fn invitation(edge: &Edge) -> Option<String> {
    edge.printed
        .iter()
        .find_map(|l| l.split_once("/#/invite/").map(|(_, rest)| rest))
        .map(|rest| {
            rest.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned()
        })
}

#[tokio::test]
async fn the_first_start_prints_an_owner_invitation_that_works_once_and_then_no_more() {
    let dir = tempfile::tempdir().unwrap();
    let edge = Edge::start(dir.path(), &[]);
    let line = edge
        .printed
        .iter()
        .find(|l| l.contains("/#/invite/"))
        .cloned();
    let line = line.unwrap_or_else(|| panic!("no invitation in {:?}", edge.printed));
    assert!(
        line.contains(&format!("{}/#/invite/inv_", edge.admin)),
        "{line}"
    );
    assert!(
        !edge.printed.iter().any(|l| l.contains(TOKEN)),
        "a token given as a setting is never printed: {:?}",
        edge.printed
    );
    let token = invitation(&edge).unwrap();
    let accept = json!({"token": token, "email": "owner@example.com", "password": "twelve chars!"});
    let url = format!("{}/v1/admin/auth/invitation", edge.admin);
    let (status, v) = edge.call("POST", &url, None, Some(accept.clone())).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["user"]["role"], "owner");
    let bearer = format!("Bearer {}", v["access_token"].as_str().unwrap());
    let users = format!("{}/v1/admin/users", edge.admin);
    let (status, as_owner) = edge.call("GET", &users, Some(&bearer), None).await;
    assert_eq!(status, 200);
    let (_, as_token) = edge
        .call("GET", &users, Some(&format!("Bearer {TOKEN}")), None)
        .await;
    assert_eq!(as_owner, as_token);
    assert_eq!(as_owner["data"][0]["email"], "owner@example.com");
    assert_eq!(edge.call("POST", &url, None, Some(accept)).await.0, 401);
    edge.kill();
    let again = Edge::start(dir.path(), &[]);
    assert_eq!(invitation(&again), None, "{:?}", again.printed);
}

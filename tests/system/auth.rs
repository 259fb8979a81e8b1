//! The authentication matrix of the HTTPS API, against a running agent.

use lbs_protocol::{ApiError, TokenCreated};
use lbs_tests::Agent;
use reqwest::StatusCode;

async fn call(agent: &Agent, method: reqwest::Method, path: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut req = agent.http().request(method, agent.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    (resp.status(), resp.text().await.unwrap_or_default())
}

async fn create_token(agent: &Agent, role: &str, label: &str) -> TokenCreated {
    agent
        .http()
        .post(agent.url("/api/v1/tokens"))
        .bearer_auth(&agent.link.token)
        .json(&serde_json::json!({"role": role, "label": label}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn error_code(body: &str) -> String {
    serde_json::from_str::<ApiError>(body)
        .map(|e| e.code)
        .unwrap_or_else(|_| format!("not JSON: {body}"))
}

#[tokio::test]
async fn every_route_but_health_needs_a_valid_token_and_admin_routes_need_admin() {
    let mut agent = Agent::init("auth");
    agent.start();
    let admin = agent.link.token.clone();
    let viewer = create_token(&agent, "viewer", "wallboard").await.token;
    use reqwest::Method as M;

    // The bare health probe is open and says nothing else.
    assert_eq!(
        call(&agent, M::GET, "/healthz", None).await,
        (StatusCode::OK, "{\"ok\":true}".into())
    );

    let read_routes = ["/api/v1/status", "/api/v1/metrics/series", "/api/v1/metrics"];
    for path in read_routes {
        let (s, body) = call(&agent, M::GET, path, None).await;
        assert_eq!(
            (s, error_code(&body).as_str()),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "{path} without token"
        );
        let (s, body) = call(&agent, M::GET, path, Some("lbs_deadbeef_wrong")).await;
        assert_eq!(
            (s, error_code(&body).as_str()),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "{path} wrong token"
        );
        assert_eq!(
            call(&agent, M::GET, path, Some(&viewer)).await.0,
            StatusCode::OK,
            "{path} as viewer"
        );
        assert_eq!(
            call(&agent, M::GET, path, Some(&admin)).await.0,
            StatusCode::OK,
            "{path} as admin"
        );
    }
    for (method, path) in [
        (M::GET, "/api/v1/tokens"),
        (M::POST, "/api/v1/tokens"),
        (M::DELETE, "/api/v1/tokens/abc"),
    ] {
        assert_eq!(
            call(&agent, method.clone(), path, None).await.0,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        let (s, body) = call(&agent, method.clone(), path, Some(&viewer)).await;
        assert_eq!(
            (s, error_code(&body).as_str()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{method} {path} as viewer"
        );
    }
    // Unknown routes do not reveal themselves to strangers.
    assert_eq!(
        call(&agent, M::GET, "/api/v1/nothing", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&agent, M::GET, "/api/v1/nothing", Some(&viewer)).await.0,
        StatusCode::NOT_FOUND
    );
    // A malformed Authorization header is a 401, not a crash.
    let resp = agent
        .http()
        .get(agent.url("/api/v1/status"))
        .header("Authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.headers().get("www-authenticate").map(|v| v.to_str().unwrap()),
        Some("Bearer")
    );

    // Secrets never reach the log, even at debug level.
    let log = agent.log();
    for secret in [&admin, &viewer] {
        // `lbs_<id>_<secret>`: the secret is base64url, which may itself contain '_'.
        let secret_part = secret.splitn(3, '_').nth(2).unwrap();
        assert!(secret_part.len() >= 40, "{secret_part}");
        assert!(!log.contains(secret_part), "a token secret appeared in the log");
    }
}

#[tokio::test]
async fn tokens_created_and_revoked_through_the_api_take_effect_at_once() {
    let mut agent = Agent::init("tokens");
    agent.start();
    let admin = agent.link.token.clone();
    let created = create_token(&agent, "admin", "laptop").await;
    assert_eq!(
        call(&agent, reqwest::Method::GET, "/api/v1/status", Some(&created.token))
            .await
            .0,
        StatusCode::OK
    );
    let listed = call(&agent, reqwest::Method::GET, "/api/v1/tokens", Some(&admin))
        .await
        .1;
    assert!(
        listed.contains("laptop") && !listed.contains(&created.token),
        "list shows labels, never secrets: {listed}"
    );
    let path = format!("/api/v1/tokens/{}", created.info.id);
    assert_eq!(
        call(&agent, reqwest::Method::DELETE, &path, Some(&admin)).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&agent, reqwest::Method::GET, "/api/v1/status", Some(&created.token))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&agent, reqwest::Method::DELETE, &path, Some(&admin)).await.0,
        StatusCode::NOT_FOUND
    );

    // Malformed bodies are refused with a reason.
    let resp = agent
        .http()
        .post(agent.url("/api/v1/tokens"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{\"role\": \"superuser\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let err: ApiError = resp.json().await.unwrap();
    assert!(err.message.contains("superuser"), "{}", err.message);
}

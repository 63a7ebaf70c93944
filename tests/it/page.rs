//! The page's embedding: every file the page loads is served from the
//! binary with its media type, and the page shares the hook's client core
//! instead of carrying a copy of it.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use qa_reload::api::page;
use tower::ServiceExt;

async fn get(path: &str) -> (StatusCode, String, String) {
    let router: axum::Router = axum::Router::new()
        .route("/", axum::routing::get(|| async { page::index() }))
        .merge(page::assets());
    let response = router
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

fn source(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

#[tokio::test]
async fn the_page_and_every_file_it_loads_are_served_with_their_media_type() {
    let (status, kind, html) = get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.starts_with("text/html"), "{kind}");
    for (path, expected_kind) in [
        ("/ui/app.js", "text/javascript"),
        ("/ui/list.js", "text/javascript"),
        ("/ui/connection.js", "text/javascript"),
        ("/ui/diff.js", "text/javascript"),
        ("/ui/dom.js", "text/javascript"),
        ("/ui/finder.js", "text/javascript"),
        ("/ui/geometry.js", "text/javascript"),
        ("/ui/integrations.js", "text/javascript"),
        ("/ui/rows.js", "text/javascript"),
        ("/ui/runs.js", "text/javascript"),
        ("/ui/state.js", "text/javascript"),
        ("/ui/toasts.js", "text/javascript"),
        ("/ui/style.css", "text/css"),
        ("/hooks/client.js", "text/javascript"),
        ("/hooks/json_patch.js", "text/javascript"),
    ] {
        let (status, kind, _) = get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(kind.starts_with(expected_kind), "{path}: {kind}");
    }
    assert!(html.contains(r#"src="/ui/app.js""#));
    assert!(html.contains(r#"href="/ui/style.css""#));
}

#[tokio::test]
async fn the_page_runs_the_hooks_client_core_not_a_copy() {
    let (_, _, served) = get("/hooks/client.js").await;
    assert_eq!(served, source("hooks/client.js"));
    let (_, _, served) = get("/hooks/json_patch.js").await;
    assert_eq!(served, source("hooks/json_patch.js"));
    let (_, _, app) = get("/ui/app.js").await;
    assert!(app.contains("from '/hooks/client.js'"));
    // Connection and patch logic live only in the core.
    for logic in ["new WebSocket", "json_patch", "setTimeout(connect"] {
        assert!(!app.contains(logic), "ui/app.js has its own {logic}");
    }
    let hook = source("hooks/useHotReload.ts");
    assert!(hook.contains("from './client.js'"));
    assert!(
        !hook.contains("WebSocket("),
        "the hook opens its own socket"
    );
}

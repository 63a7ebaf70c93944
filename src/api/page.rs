//! Stage `ui` (served by `api`): the page at `/` and its static files,
//! embedded in the binary so `cargo build` needs no JavaScript tooling.
//!
//! The page imports the same `hooks/client.js` the React hook uses, served
//! here at `/hooks/client.js` (with the `json_patch.js` it imports): one
//! client core, no second copy. This module
//! only hands out bytes compiled into the binary; it reads no file, holds no
//! state and writes no JSON.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file: the path it is served at, its media type and bytes.
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

/// Every file the page needs.
pub const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../../ui/index.html"),
    },
    script("/ui/app.js", include_str!("../../ui/app.js")),
    script("/ui/list.js", include_str!("../../ui/list.js")),
    script("/ui/runs.js", include_str!("../../ui/runs.js")),
    script("/ui/connection.js", include_str!("../../ui/connection.js")),
    script("/ui/diff.js", include_str!("../../ui/diff.js")),
    script("/ui/dom.js", include_str!("../../ui/dom.js")),
    script("/ui/finder.js", include_str!("../../ui/finder.js")),
    script("/ui/geometry.js", include_str!("../../ui/geometry.js")),
    script(
        "/ui/integrations.js",
        include_str!("../../ui/integrations.js"),
    ),
    script("/ui/rows.js", include_str!("../../ui/rows.js")),
    script("/ui/state.js", include_str!("../../ui/state.js")),
    script("/ui/toasts.js", include_str!("../../ui/toasts.js")),
    Asset {
        path: "/ui/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../ui/style.css"),
    },
    script("/hooks/client.js", include_str!("../../hooks/client.js")),
    script(
        "/hooks/json_patch.js",
        include_str!("../../hooks/json_patch.js"),
    ),
];

/// A module of the page's script.
const fn script(path: &'static str, body: &'static str) -> Asset {
    Asset {
        path,
        content_type: "text/javascript; charset=utf-8",
        body,
    }
}

/// Scripts, styles and connections only from this server; no inline code,
/// no framing (the page shows configuration a foreign page must not overlay).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Whether `path` is the page or one of its files: public even when the
/// server needs a token, as they hold no configuration (the page reads the
/// token from its own URL and sends it with every API call).
pub fn is_public(path: &str) -> bool {
    ASSETS.iter().any(|a| a.path == path)
}

/// The page itself (`GET /`, routed with the API's routes).
pub fn index() -> Response {
    respond(&ASSETS[0])
}

/// `GET` routes for the page's files (everything but `/`).
pub fn assets<S: Clone + Send + Sync + 'static>() -> Router<S> {
    ASSETS[1..].iter().fold(Router::new(), |router, asset| {
        router.route(asset.path, get(move || async move { respond(asset) }))
    })
}

fn respond(asset: &'static Asset) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            // Revalidate every time: a rebuilt binary's page is never stale.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        asset.body,
    )
        .into_response()
}

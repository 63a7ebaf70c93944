//! Stage `api`: `Json`, `Path` and `Query` extractors whose rejection is
//! [`ApiError`], so a handler that takes bad input answers
//! `{"code","message"}` instead of axum's plain text.
//!
//! Derived wrappers over axum's extractors (the conversions of their
//! rejections are in `error`); they add no parsing of their own and may not
//! touch application state.

use axum::extract::{FromRequest, FromRequestParts};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::ApiError;

/// `axum::Json`, rejecting with [`ApiError`]. As a response it is
/// `axum::Json`, so handlers can use one `Json` both ways.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Path`, rejecting with [`ApiError`].
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// `axum::extract::Query`, rejecting with [`ApiError`].
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

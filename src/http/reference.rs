//! The browsable API reference: `GET /api/docs` renders the OpenAPI document
//! (`/api/v1/openapi.json`) with Redoc, vendored into the binary (`vendor/`, see its README),
//! so the page works on a box without Internet access. Neither needs a login: the document
//! holds no secrets (docs/decisions.md, "API reference page").
//!
//! The page gets its own content security policy, looser than the API's only where Redoc
//! needs it: scripts from this origin only (the bundle; no inline script, no `eval`), inline
//! styles (Redoc's styled-components write `<style>` elements), `data:` images and fonts, and
//! a `blob:` worker (Redoc's search index). It is still never framed. The bundle's path names
//! its version, so it is cached for a year (`immutable`); the page itself is not cached.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

/// The vendored Redoc version (the bundle's path names it).
pub const REDOC_VERSION: &str = "2.5.4";

/// Where the page is served.
pub const PAGE_PATH: &str = "/api/docs";

/// Where the Redoc bundle is served.
pub const BUNDLE_PATH: &str = "/api/docs/redoc-2.5.4.standalone.js";

/// The Redoc standalone bundle (MIT, `vendor/redoc-LICENSE`), as published on npm.
const BUNDLE: &[u8] = include_bytes!("vendor/redoc-2.5.4.standalone.js");

/// The page: Redoc reads the document from `spec-url` (no inline script).
const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vpbx API reference</title>
</head>
<body>
<noscript>This page needs JavaScript. The document itself is at <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</noscript>
<redoc spec-url="/api/v1/openapi.json"></redoc>
<script src="/api/docs/redoc-2.5.4.standalone.js"></script>
</body>
</html>
"#;

/// The content security policy of the page (the API's is [`super::CSP`]).
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; \
                            style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                            font-src 'self' data:; connect-src 'self'; worker-src blob:; \
                            frame-ancestors 'none'; base-uri 'none'; form-action 'none'; \
                            object-src 'none'";

async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_CSP))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(PAGE)
}

async fn bundle() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(BUNDLE)
}

/// Registers the page and the bundle (outside `/api/v1`, no authentication).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(PAGE_PATH, web::get().to(page))
        .route(BUNDLE_PATH, web::get().to(bundle));
}

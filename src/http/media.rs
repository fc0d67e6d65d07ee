//! Content negotiation for /graphql (GraphQL over HTTP, "Accept" and
//! "Content-Type"): which media type a response is written in, and whether a
//! GET asks for GraphiQL or for a query's result.

use axum::http::{HeaderMap, HeaderValue, header};

pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";
const HTML: &str = "text/html";

/// The two media types a GraphQL response can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphqlMedia {
    /// `application/graphql-response+json`: request errors are HTTP 400.
    GraphqlResponse,
    /// `application/json`, the legacy type: every well-formed request is 200.
    Json,
}

impl GraphqlMedia {
    pub fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            GraphqlMedia::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            GraphqlMedia::Json => "application/json; charset=utf-8",
        })
    }
}

/// How well the Accept header takes a media type: (q, specificity), where an
/// exact range beats `type/*`, which beats `*/*` (RFC 9110 §12.5.1).
/// None when it is not acceptable.
fn acceptance(accept: &str, wanted: &str) -> Option<(u16, u8)> {
    let (wanted_type, _) = wanted.split_once('/')?;
    let mut best: Option<(u8, u16)> = None;
    for range in accept.split(',') {
        let mut params = range.split(';');
        let media = params
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let specificity = if media == wanted {
            3
        } else if media.strip_suffix("/*") == Some(wanted_type) {
            2
        } else if media == "*/*" {
            1
        } else {
            continue;
        };
        let q = params
            .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let q = (q.clamp(0.0, 1.0) * 1000.0).round() as u16;
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, q));
        }
    }
    best.and_then(|(specificity, q)| (q > 0).then_some((q, specificity)))
}

fn accept(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::ACCEPT)?.to_str().ok()?;
    (!value.trim().is_empty()).then_some(value)
}

/// The media type to answer a GraphQL request in; None when the client accepts
/// neither (406). No Accept header means `application/json`, as does `*/*`;
/// `application/graphql-response+json` when the client ranks it higher.
pub fn graphql(headers: &HeaderMap) -> Option<GraphqlMedia> {
    let Some(accept) = accept(headers) else {
        return Some(GraphqlMedia::Json);
    };
    let modern = acceptance(accept, GRAPHQL_RESPONSE_JSON);
    let legacy = acceptance(accept, JSON);
    match (modern, legacy) {
        (Some(m), Some(l)) if m > l => Some(GraphqlMedia::GraphqlResponse),
        (Some(_), None) => Some(GraphqlMedia::GraphqlResponse),
        (_, Some(_)) => Some(GraphqlMedia::Json),
        (None, None) => None,
    }
}

/// True when a GET is a browser asking for a page: `text/html` ranks above
/// both JSON types.
pub fn wants_html(headers: &HeaderMap) -> bool {
    let Some(accept) = accept(headers) else {
        return false;
    };
    let Some(html) = acceptance(accept, HTML) else {
        return false;
    };
    let beats = |other: Option<(u16, u8)>| other.is_none_or(|o| html > o);
    beats(acceptance(accept, GRAPHQL_RESPONSE_JSON)) && beats(acceptance(accept, JSON))
}

/// Whether a POST body is declared as JSON in UTF-8 (the only encoding
/// GraphQL over HTTP allows).
pub fn is_json_body(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case(JSON) {
        return false;
    }
    parts.all(|param| match param.trim().split_once('=') {
        Some((name, charset)) if name.trim().eq_ignore_ascii_case("charset") => charset
            .trim()
            .trim_matches('"')
            .eq_ignore_ascii_case("utf-8"),
        _ => true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn the_response_type_follows_accept() {
        use GraphqlMedia::*;
        let media = |accept: &str| graphql(&with(header::ACCEPT, accept));
        assert_eq!(graphql(&HeaderMap::new()), Some(Json));
        assert_eq!(media("*/*"), Some(Json));
        assert_eq!(media("application/json"), Some(Json));
        assert_eq!(media(GRAPHQL_RESPONSE_JSON), Some(GraphqlResponse));
        assert_eq!(
            media("application/graphql-response+json, application/json;q=0.9"),
            Some(GraphqlResponse)
        );
        assert_eq!(
            media("application/graphql-response+json;q=0.5, application/json"),
            Some(Json)
        );
        assert_eq!(media("application/*"), Some(Json));
        assert_eq!(media("text/html"), None);
        assert_eq!(media("application/json;q=0"), None);
    }

    #[test]
    fn browsers_get_the_page() {
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert!(wants_html(&with(header::ACCEPT, browser)));
        assert!(!wants_html(&with(header::ACCEPT, "*/*")));
        assert!(!wants_html(&with(header::ACCEPT, "application/json")));
        assert!(!wants_html(&HeaderMap::new()));
    }

    #[test]
    fn bodies_must_be_json_in_utf8() {
        let body = |ct: &str| is_json_body(&with(header::CONTENT_TYPE, ct));
        assert!(body("application/json"));
        assert!(body("application/json; charset=utf-8"));
        assert!(body("Application/JSON; charset=\"UTF-8\""));
        assert!(!body("application/json; charset=iso-8859-1"));
        assert!(!body("text/plain"));
        assert!(!is_json_body(&HeaderMap::new()));
    }
}

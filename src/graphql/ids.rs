//! Opaque global ids for the `Node` interface: base64url of `Type:key`.

use async_graphql::ID;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobalId {
    Realm(i32),
    User(i32),
    Dataset(i32),
    ApiToken(i32),
    UserChange(i64),
    AuditEvent(i64),
    ApiRequest(i64),
    ReportJob(i64),
    Token(i32),
    TokenCounter(i64),
    ProductEvent(i64),
}

impl GlobalId {
    pub fn encode(self) -> ID {
        let raw = match self {
            GlobalId::Realm(id) => format!("Realm:{id}"),
            GlobalId::User(id) => format!("User:{id}"),
            GlobalId::Dataset(id) => format!("Dataset:{id}"),
            GlobalId::ApiToken(id) => format!("ApiToken:{id}"),
            GlobalId::UserChange(id) => format!("UserChange:{id}"),
            GlobalId::AuditEvent(id) => format!("AuditEvent:{id}"),
            GlobalId::ApiRequest(id) => format!("ApiRequest:{id}"),
            GlobalId::ReportJob(id) => format!("ReportJob:{id}"),
            GlobalId::Token(id) => format!("Token:{id}"),
            GlobalId::TokenCounter(id) => format!("TokenCounter:{id}"),
            GlobalId::ProductEvent(id) => format!("ProductEvent:{id}"),
        };
        ID(URL_SAFE_NO_PAD.encode(raw))
    }

    /// Decodes an id; a malformed one is BAD_USER_INPUT naming `field`.
    pub fn decode(id: &str, field: &str) -> ApiResult<Self> {
        let malformed = || ApiError::bad_input(field, format!("malformed id '{id}'"));
        let bytes = URL_SAFE_NO_PAD.decode(id).map_err(|_| malformed())?;
        let raw = String::from_utf8(bytes).map_err(|_| malformed())?;
        let (kind, key) = raw.split_once(':').ok_or_else(malformed)?;
        let small = || key.parse::<i32>().map_err(|_| malformed());
        Ok(match kind {
            "Realm" => GlobalId::Realm(small()?),
            "User" => GlobalId::User(small()?),
            "Dataset" => GlobalId::Dataset(small()?),
            "ApiToken" => GlobalId::ApiToken(small()?),
            "UserChange" => GlobalId::UserChange(key.parse().map_err(|_| malformed())?),
            "AuditEvent" => GlobalId::AuditEvent(key.parse().map_err(|_| malformed())?),
            "ApiRequest" => GlobalId::ApiRequest(key.parse().map_err(|_| malformed())?),
            "ReportJob" => GlobalId::ReportJob(key.parse().map_err(|_| malformed())?),
            "Token" => GlobalId::Token(small()?),
            "TokenCounter" => GlobalId::TokenCounter(key.parse().map_err(|_| malformed())?),
            "ProductEvent" => GlobalId::ProductEvent(key.parse().map_err(|_| malformed())?),
            _ => return Err(malformed()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        for id in [
            GlobalId::User(7),
            GlobalId::UserChange(1 << 40),
            GlobalId::Realm(1),
        ] {
            assert_eq!(GlobalId::decode(&id.encode(), "id").ok(), Some(id));
        }
        assert!(GlobalId::decode("nope", "id").is_err());
        assert!(GlobalId::decode(&URL_SAFE_NO_PAD.encode("Bogus:1"), "id").is_err());
        assert!(GlobalId::decode(&URL_SAFE_NO_PAD.encode("User:x"), "id").is_err());
    }
}

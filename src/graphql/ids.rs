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

/// The longest `Type:key`: the longest kind, a colon, an i64.
const RAW_MAX: usize = "ProductEvent".len() + 1 + 20;
/// Its base64 length.
const ENCODED_MAX: usize = RAW_MAX.div_ceil(3) * 4;

/// An encoded id, on the stack.
pub struct EncodedId {
    text: [u8; ENCODED_MAX],
    len: usize,
}

impl EncodedId {
    pub fn as_str(&self) -> &str {
        // base64 is ASCII.
        std::str::from_utf8(&self.text[..self.len]).unwrap_or_default()
    }
}

impl GlobalId {
    pub fn encode(self) -> ID {
        ID(self.encoded().as_str().to_owned())
    }

    /// [`GlobalId::encode`] without allocating, for writing a great many
    /// (reports).
    pub fn encoded(self) -> EncodedId {
        let (kind, key) = match self {
            GlobalId::Realm(id) => ("Realm", id.into()),
            GlobalId::User(id) => ("User", id.into()),
            GlobalId::Dataset(id) => ("Dataset", id.into()),
            GlobalId::ApiToken(id) => ("ApiToken", id.into()),
            GlobalId::UserChange(id) => ("UserChange", id),
            GlobalId::AuditEvent(id) => ("AuditEvent", id),
            GlobalId::ApiRequest(id) => ("ApiRequest", id),
            GlobalId::ReportJob(id) => ("ReportJob", id),
            GlobalId::Token(id) => ("Token", id.into()),
            GlobalId::TokenCounter(id) => ("TokenCounter", id),
            GlobalId::ProductEvent(id) => ("ProductEvent", id),
        };
        let mut raw = [0u8; RAW_MAX];
        let mut len = 0;
        let mut digits = itoa::Buffer::new();
        for part in [kind.as_bytes(), b":", digits.format(key).as_bytes()] {
            raw[len..len + part.len()].copy_from_slice(part);
            len += part.len();
        }
        let mut text = [0u8; ENCODED_MAX];
        // The buffer holds the longest kind and key (checked in the tests).
        let len = URL_SAFE_NO_PAD
            .encode_slice(&raw[..len], &mut text)
            .expect("an id fits its buffer");
        EncodedId { text, len }
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

    #[test]
    fn ids_are_base64_of_type_and_key_even_the_longest() {
        for (id, raw) in [
            (GlobalId::User(7), "User:7".to_owned()),
            (GlobalId::Realm(i32::MIN), format!("Realm:{}", i32::MIN)),
            (
                GlobalId::ProductEvent(i64::MIN),
                format!("ProductEvent:{}", i64::MIN),
            ),
            (
                GlobalId::TokenCounter(i64::MIN),
                format!("TokenCounter:{}", i64::MIN),
            ),
            (
                GlobalId::UserChange(i64::MAX),
                format!("UserChange:{}", i64::MAX),
            ),
        ] {
            assert_eq!(id.encode().0, URL_SAFE_NO_PAD.encode(&raw), "{raw}");
            assert_eq!(id.encoded().as_str(), URL_SAFE_NO_PAD.encode(&raw), "{raw}");
        }
    }
}

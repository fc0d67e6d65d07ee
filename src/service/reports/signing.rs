//! Signed download URLs: HMAC-SHA256 over the job id and the expiry, with a
//! key kept in the database (one row), so every replica verifies every
//! other's URLs.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use entity::report_key;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sea_orm::{EntityTrait, Set};
use sha2::Sha256;

use super::Reports;
use crate::service::{Error, Result};

/// A signature over one job's download until an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Unix seconds.
    pub expires: i64,
    /// base64url, no padding.
    pub value: String,
}

const KEY_ROW: i32 = 1;

fn mac(key: &[u8], id: i64, expires: i64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(format!("report:{id}:{expires}").as_bytes());
    mac
}

impl Reports {
    /// The signing key, created on first use (the first replica to insert
    /// it wins; the others read the same row).
    async fn signing_key(&self) -> Result<Vec<u8>> {
        self.key.get_or_try_init(|| self.load_key()).await.cloned()
    }

    async fn load_key(&self) -> Result<Vec<u8>> {
        let db = self.db.conn();
        if let Some(row) = report_key::Entity::find_by_id(KEY_ROW).one(db).await? {
            return decode_key(&row.secret);
        }
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        report_key::Entity::insert(report_key::ActiveModel {
            id: Set(KEY_ROW),
            secret: Set(URL_SAFE_NO_PAD.encode(key)),
        })
        .on_conflict_do_nothing_on([report_key::Column::Id])
        .exec(db)
        .await?;
        let row = report_key::Entity::find_by_id(KEY_ROW)
            .one(db)
            .await?
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("the report signing key is missing")))?;
        decode_key(&row.secret)
    }

    /// Signs a download of job `id` valid until `expires`.
    pub async fn sign(&self, id: i64, expires: DateTime<Utc>) -> Result<Signature> {
        let key = self.signing_key().await?;
        let expires = expires.timestamp();
        Ok(Signature {
            expires,
            value: URL_SAFE_NO_PAD.encode(mac(&key, id, expires).finalize().into_bytes()),
        })
    }

    /// True when `signature` was made by [`Reports::sign`] for job `id` and
    /// has not expired (compared in constant time).
    pub async fn verify(&self, id: i64, signature: &Signature) -> Result<bool> {
        if signature.expires <= self.clock.now().timestamp() {
            return Ok(false);
        }
        let Ok(given) = URL_SAFE_NO_PAD.decode(&signature.value) else {
            return Ok(false);
        };
        let key = self.signing_key().await?;
        Ok(mac(&key, id, signature.expires)
            .verify_slice(&given)
            .is_ok())
    }
}

fn decode_key(stored: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(stored)
        .map_err(|err| Error::Internal(anyhow::anyhow!("the report signing key is corrupt: {err}")))
}

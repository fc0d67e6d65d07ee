//! The changelog as stored, for reading a great many rows (reports): a
//! change's columns as read, its lists decoded only when written, borrowing
//! from the row.
//!
//! On SQLite a page comes as one JSON value (`page::Columns`), parsed into
//! owned text. On PostgreSQL and MySQL each row stays the driver's row and
//! its text columns are read from it, borrowed, when the row is written: a
//! `String` per text column (eight a row) was most of what the decoding cost.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use entity::user_change;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use sea_orm::sqlx;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Order, QueryResult, QuerySelect,
    QueryTrait, Select, TryGetError, TryGetable, TryGetableMany,
};
use serde::Deserialize;

use crate::service::directory::state::{DatasetRoleRef, read_datasets, read_roles};
use crate::service::directory::{ChangeType, Realms, UserStatus};
use crate::service::page::{self, Cursors, Rows};
use crate::service::{Error, Result};
use crate::time::from_micros;

/// A [`super::UserChange`] as stored.
#[derive(Debug)]
pub struct StoredChange {
    pub id: i64,
    pub(super) changed_at: i64,
    pub user_id: i32,
    realm_id: i32,
    change_mask: i32,
    texts: Texts,
}

/// The columns read, in order.
const COLUMNS: [user_change::Column; 13] = [
    user_change::Column::Id,
    user_change::Column::ChangedAt,
    user_change::Column::UserId,
    user_change::Column::UserEmail,
    user_change::Column::RealmId,
    user_change::Column::ActorName,
    user_change::Column::PreviousStatus,
    user_change::Column::Status,
    user_change::Column::PreviousRoles,
    user_change::Column::Roles,
    user_change::Column::PreviousDatasets,
    user_change::Column::Datasets,
    user_change::Column::ChangeMask,
];

/// The text columns: their positions in [`COLUMNS`].
#[derive(Debug, Clone, Copy)]
enum Text {
    UserEmail = 3,
    Updater = 5,
    PreviousStatus = 6,
    Status = 7,
    PreviousRoles = 8,
    Roles = 9,
    PreviousDatasets = 10,
    Datasets = 11,
}

/// Where a change's text columns are.
#[derive(Debug)]
enum Texts {
    /// Read into strings (a page's JSON on SQLite).
    Owned(OwnedTexts),
    /// Still in the driver's row, whose column types were checked on the
    /// first row of its page (every row of a result has the same).
    Row(QueryResult),
}

#[derive(Debug)]
struct OwnedTexts {
    user_email: String,
    updater: Option<String>,
    previous_status: Option<String>,
    status: String,
    previous_roles: String,
    roles: String,
    previous_datasets: String,
    datasets: String,
}

impl StoredChange {
    pub fn date(&self) -> DateTime<Utc> {
        from_micros(self.changed_at)
    }

    pub fn realm<'a>(&self, realms: &'a Realms) -> &'a str {
        realms.name_of(self.realm_id)
    }

    pub fn user_email(&self) -> &str {
        self.text(Text::UserEmail).unwrap_or_default()
    }

    /// Who made the change.
    pub fn updater(&self) -> Option<&str> {
        self.text(Text::Updater)
    }

    pub fn previous_status(&self) -> Option<UserStatus> {
        previous_status_of(self.text(Text::PreviousStatus))
    }

    pub fn status(&self) -> UserStatus {
        status_of(self.text(Text::Status).unwrap_or_default())
    }

    pub fn previous_roles(&self) -> Vec<Cow<'_, str>> {
        read_roles(self.list(Text::PreviousRoles))
    }

    pub fn roles(&self) -> Vec<Cow<'_, str>> {
        read_roles(self.list(Text::Roles))
    }

    pub fn previous_datasets(&self) -> Vec<DatasetRoleRef<'_>> {
        read_datasets(self.list(Text::PreviousDatasets))
    }

    pub fn datasets(&self) -> Vec<DatasetRoleRef<'_>> {
        read_datasets(self.list(Text::Datasets))
    }

    pub fn changes_made(&self) -> impl Iterator<Item = ChangeType> + use<> {
        ChangeType::in_mask(self.change_mask)
    }

    fn text(&self, column: Text) -> Option<&str> {
        match &self.texts {
            Texts::Owned(t) => match column {
                Text::UserEmail => Some(&t.user_email),
                Text::Updater => t.updater.as_deref(),
                Text::PreviousStatus => t.previous_status.as_deref(),
                Text::Status => Some(&t.status),
                Text::PreviousRoles => Some(&t.previous_roles),
                Text::Roles => Some(&t.roles),
                Text::PreviousDatasets => Some(&t.previous_datasets),
                Text::Datasets => Some(&t.datasets),
            },
            // Checked on the page's first row (`from_row`): a text column
            // of this result reads as text.
            Texts::Row(row) => row_text(row, column as usize, false).ok().flatten(),
        }
    }

    /// A stored list (JSON text; an empty list when absent).
    fn list(&self, column: Text) -> &str {
        self.text(column).unwrap_or("[]")
    }

    /// Takes a driver's row, reading its numbers now and its text when
    /// written; `check` reads every text column once, to fail here if the
    /// result's column types are not what this reads.
    fn from_row(row: QueryResult, check: bool) -> Result<Self, TryGetError> {
        if check {
            for column in [
                Text::UserEmail,
                Text::Updater,
                Text::PreviousStatus,
                Text::Status,
                Text::PreviousRoles,
                Text::Roles,
                Text::PreviousDatasets,
                Text::Datasets,
            ] {
                row_text(&row, column as usize, true).map_err(|err| {
                    TryGetError::DbErr(DbErr::Type(format!(
                        "user_changes column {}: {err}",
                        column as usize
                    )))
                })?;
            }
        }
        Ok(Self {
            id: i64::try_get_by_index(&row, 0)?,
            changed_at: i64::try_get_by_index(&row, 1)?,
            user_id: i32::try_get_by_index(&row, 2)?,
            realm_id: i32::try_get_by_index(&row, 4)?,
            change_mask: i32::try_get_by_index(&row, 12)?,
            texts: Texts::Row(row),
        })
    }
}

/// A text column of a driver's row, borrowed; `checked`: its type too
/// (which costs a type comparison and a clone per value).
fn row_text(row: &QueryResult, i: usize, checked: bool) -> Result<Option<&str>, sqlx::Error> {
    fn text<'r, R: sqlx::Row>(row: &'r R, i: usize, checked: bool) -> sqlx::Result<Option<&'r str>>
    where
        usize: sqlx::ColumnIndex<R>,
        Option<&'r str>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    {
        if checked {
            row.try_get(i)
        } else {
            row.try_get_unchecked(i)
        }
    }
    if let Some(row) = row.try_as_pg_row() {
        return text(row, i, checked);
    }
    if let Some(row) = row.try_as_mysql_row() {
        return text(row, i, checked);
    }
    if let Some(row) = row.try_as_sqlite_row() {
        return text(row, i, checked);
    }
    Err(sqlx::Error::Protocol("not a sqlx row".to_owned()))
}

/// A stored status (an unknown one reads as active).
pub(super) fn status_of(stored: &str) -> UserStatus {
    stored.parse().unwrap_or(UserStatus::Active)
}

pub(super) fn previous_status_of(stored: Option<&str>) -> Option<UserStatus> {
    stored.and_then(|s| s.parse().ok())
}

/// A change as a JSON array of its columns in order (SQLite's page).
#[derive(Deserialize)]
struct Parsed(
    i64,
    i64,
    i32,
    String,
    i32,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    String,
    String,
    i32,
);

impl<'de> Deserialize<'de> for StoredChange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Parsed(
            id,
            changed_at,
            user_id,
            user_email,
            realm_id,
            updater,
            previous_status,
            status,
            previous_roles,
            roles,
            previous_datasets,
            datasets,
            change_mask,
        ) = Parsed::deserialize(d)?;
        Ok(Self {
            id,
            changed_at,
            user_id,
            realm_id,
            change_mask,
            texts: Texts::Owned(OwnedTexts {
                user_email,
                updater,
                previous_status,
                status,
                previous_roles,
                roles,
                previous_datasets,
                datasets,
            }),
        })
    }
}

/// Read by position from any row (what `page::Columns` asks of its rows;
/// [`StoredRows`] keeps the row itself instead).
impl TryGetableMany for StoredChange {
    fn try_get_many(res: &QueryResult, pre: &str, cols: &[String]) -> Result<Self, TryGetError> {
        if cols.len() != COLUMNS.len() {
            return Err(TryGetError::DbErr(DbErr::Type(format!(
                "{} columns for a stored change, not {}",
                COLUMNS.len(),
                cols.len()
            ))));
        }
        Self::read(At::Name(res, pre, cols))
    }

    fn try_get_many_by_index(res: &QueryResult) -> Result<Self, TryGetError> {
        Self::read(At::Index(res))
    }
}

/// Where the columns of a row are: by position, or named (with a prefix).
enum At<'a> {
    Index(&'a QueryResult),
    Name(&'a QueryResult, &'a str, &'a [String]),
}

impl At<'_> {
    fn get<T: TryGetable>(&self, i: usize) -> Result<T, TryGetError> {
        match *self {
            At::Index(res) => T::try_get_by_index(res, i),
            At::Name(res, pre, cols) => T::try_get(res, pre, &cols[i]),
        }
    }
}

impl StoredChange {
    /// Reads the columns in order, into owned text.
    fn read(at: At<'_>) -> Result<Self, TryGetError> {
        Ok(Self {
            id: at.get(0)?,
            changed_at: at.get(1)?,
            user_id: at.get(2)?,
            realm_id: at.get(4)?,
            change_mask: at.get(12)?,
            texts: Texts::Owned(OwnedTexts {
                user_email: at.get(3)?,
                updater: at.get(5)?,
                previous_status: at.get(6)?,
                status: at.get(7)?,
                previous_roles: at.get(8)?,
                roles: at.get(9)?,
                previous_datasets: at.get(10)?,
                datasets: at.get(11)?,
            }),
        })
    }
}

/// How a page of stored changes is read: on SQLite as one JSON value
/// (`page::Columns`), elsewhere as the driver's rows, kept; only the last
/// change gets a cursor (reports start the next page after it).
pub(super) struct StoredRows {
    json: page::Columns<user_change::Entity, StoredChange>,
}

impl StoredRows {
    pub(super) fn new() -> Self {
        Self {
            json: page::Columns::new(COLUMNS.to_vec()).checking_order(
                |a: &StoredChange, b: &StoredChange| {
                    (a.changed_at, a.id).cmp(&(b.changed_at, b.id))
                },
            ),
        }
    }
}

/// Stored changes as the database yields them.
pub type StoredChangeStream = BoxStream<'static, Result<StoredChange>>;

impl StoredRows {
    /// The changes `query` selects, one statement, each change as its row
    /// arrives (the driver's row kept, as [`StoredRows`] keeps it).
    pub(super) async fn stream(
        db: &DatabaseConnection,
        query: Select<user_change::Entity>,
    ) -> Result<StoredChangeStream> {
        let mut first = true;
        page::stream(db, query.select_only().columns(COLUMNS), move |row| {
            let check = std::mem::take(&mut first);
            StoredChange::from_row(row, check).map_err(|err| Error::from(DbErr::from(err)))
        })
        .await
    }
}

impl Rows<user_change::Entity> for StoredRows {
    type Row = StoredChange;

    fn fetch<'a, C: ConnectionTrait + Sync>(
        &'a self,
        db: &'a C,
        query: Select<user_change::Entity>,
        order: Vec<(user_change::Column, Order)>,
    ) -> BoxFuture<'a, Result<Vec<StoredChange>>> {
        let backend = db.get_database_backend();
        if backend == DbBackend::Sqlite {
            return self.json.fetch(db, query, order);
        }
        Box::pin(async move {
            let query = query.select_only().columns(COLUMNS).into_query();
            let rows = db.query_all_raw(backend.build(&query)).await?;
            rows.into_iter()
                .enumerate()
                .map(|(i, row)| StoredChange::from_row(row, i == 0))
                .collect::<Result<_, TryGetError>>()
                .map_err(|err| Error::from(DbErr::from(err)))
        })
    }

    /// Reports read the changelog through, each page after the last.
    fn cursors(&self) -> Cursors {
        Cursors::Last
    }
}

//! One keyset pagination function for every connection (Relay Cursor
//! Connections: https://relay.dev/graphql/connections.htm).
//!
//! Rows are ordered by a list of key columns ending in a unique one; a cursor
//! is the opaque encoding of a row's key, so a page costs one index range scan
//! at any depth and a cursor stays valid while rows are inserted. `first + 1`
//! (or `last + 1`) rows are fetched to know whether more follow; whether rows
//! precede the page is asked with one `LIMIT 1` probe, so both flags are exact.
//!
//! How the rows of a page are read is up to the caller ([`Rows`]): whole
//! SeaORM models ([`Models`]), or chosen columns into a tuple ([`Columns`]),
//! which on SQLite come back as one JSON array built by the database.

use std::cmp::Ordering;
use std::marker::PhantomData;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt};
use sea_orm::sea_query::{ColumnType, Expr, ExprTrait, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    FromQueryResult, IdenStatic, Order, PaginatorTrait, QueryFilter, QueryOrder, QueryResult,
    QuerySelect, QueryTrait, Select, Statement, StreamTrait, TryGetableMany, Value,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Error, Result};

pub const DEFAULT_PAGE_SIZE: i32 = 50;
pub const MAX_PAGE_SIZE: i32 = 1000;

/// Relay's four paging arguments, as given.
#[derive(Debug, Clone, Default)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

/// One page of rows, each with its cursor (only the last one's, when its
/// rows are read through: [`Cursors::Last`]).
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<(String, T)>,
    pub has_next: bool,
    pub has_previous: bool,
}

impl<T> Page<T> {
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(|(c, t)| (c, f(t))).collect(),
            has_next: self.has_next,
            has_previous: self.has_previous,
        }
    }
}

/// One part of a row's sort key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeyPart {
    Int(i64),
    Text(String),
}

impl KeyPart {
    /// Whether this part can be a value of `column`.
    fn fits<C: ColumnTrait>(&self, column: &C) -> bool {
        let def = column.def();
        let column_type = def.get_column_type();
        match self {
            KeyPart::Int(_) => matches!(
                column_type,
                ColumnType::TinyInteger
                    | ColumnType::SmallInteger
                    | ColumnType::Integer
                    | ColumnType::BigInteger
            ),
            KeyPart::Text(_) => matches!(
                column_type,
                ColumnType::String(_) | ColumnType::Text | ColumnType::Char(_)
            ),
        }
    }
}

impl From<KeyPart> for Value {
    fn from(part: KeyPart) -> Self {
        match part {
            KeyPart::Int(i) => Value::BigInt(Some(i)),
            KeyPart::Text(s) => Value::String(Some(s)),
        }
    }
}

/// Which items of a page get a cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursors {
    /// Every item (a connection's edges).
    Every,
    /// The last item only, the one the next page starts after; the others'
    /// are empty. For reading a whole list page by page (reports), where a
    /// cursor per row cost a JSON and a base64 encoding each.
    Last,
}

/// How a connection orders its rows: a name (cursors of one ordering are
/// rejected by another), the key columns, and the direction.
pub struct Keyset<E: EntityTrait> {
    pub name: &'static str,
    pub columns: Vec<E::Column>,
    pub order: Order,
}

#[derive(Serialize, Deserialize)]
struct CursorData(String, Vec<KeyPart>);

fn encode_cursor(name: &str, key: Vec<KeyPart>) -> String {
    let json = serde_json::to_vec(&CursorData(name.to_owned(), key)).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

fn decode_cursor<C: ColumnTrait>(
    name: &str,
    columns: &[C],
    cursor: &str,
    field: &str,
) -> Result<Vec<KeyPart>> {
    let malformed = || Error::bad_input(field, format!("malformed cursor '{cursor}'"));
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| malformed())?;
    let CursorData(kind, key) = serde_json::from_slice(&bytes).map_err(|_| malformed())?;
    // A part of the wrong type would reach the database as a bound value of
    // that type: PostgreSQL fails on it, MySQL reads a string as 0.
    let fits = key.len() == columns.len()
        && key
            .iter()
            .zip(columns)
            .all(|(part, column)| part.fits(column));
    if kind != name || !fits {
        return Err(Error::bad_input(
            field,
            format!("cursor '{cursor}' does not belong to this list or ordering"),
        ));
    }
    Ok(key)
}

/// Validated paging: which way, how many, and the bounds.
struct Plan {
    backward: bool,
    limit: u64,
    after: Option<Vec<KeyPart>>,
    before: Option<Vec<KeyPart>>,
}

fn check_size(value: Option<i32>, field: &str) -> Result<Option<u64>> {
    match value {
        None => Ok(None),
        Some(n) if (0..=MAX_PAGE_SIZE).contains(&n) => Ok(Some(n as u64)),
        Some(n) => Err(Error::bad_input(
            field,
            format!("{field} must be between 0 and {MAX_PAGE_SIZE}, got {n}"),
        )),
    }
}

fn plan<C: ColumnTrait>(name: &str, columns: &[C], args: &PageArgs) -> Result<Plan> {
    let first = check_size(args.first, "first")?;
    let last = check_size(args.last, "last")?;
    let after = args
        .after
        .as_deref()
        .map(|c| decode_cursor(name, columns, c, "after"))
        .transpose()?;
    let before = args
        .before
        .as_deref()
        .map(|c| decode_cursor(name, columns, c, "before"))
        .transpose()?;
    let (backward, limit) = match (first, last) {
        (Some(_), Some(_)) => {
            return Err(Error::bad_input(
                "last",
                "pass either first or last, not both",
            ));
        }
        (Some(n), None) => (false, n),
        (None, Some(n)) => (true, n),
        (None, None) => (false, DEFAULT_PAGE_SIZE as u64),
    };
    Ok(Plan {
        backward,
        limit,
        after,
        before,
    })
}

/// Checks paging arguments without running a query (for adapters that want to
/// fail before doing other work).
pub fn validate(args: &PageArgs) -> Result<()> {
    check_size(args.first, "first")?;
    check_size(args.last, "last")?;
    Ok(())
}

/// `key > values` in the keyset's order (`key >= values` when `inclusive`),
/// written so an index on the key columns serves it as a range scan on every
/// backend: `c1 >= v1 AND (c1 > v1 OR (c2 >= v2 AND (c2 > v2 OR ...)))`.
fn beyond<C: ColumnTrait>(
    columns: &[C],
    values: &[KeyPart],
    ascending: bool,
    inclusive: bool,
) -> SimpleExpr {
    let (col, value) = (columns[0], Value::from(values[0].clone()));
    let strictly = if ascending {
        Expr::col(col).gt(value.clone())
    } else {
        Expr::col(col).lt(value.clone())
    };
    let at_least = if ascending {
        Expr::col(col).gte(value)
    } else {
        Expr::col(col).lte(value)
    };
    if columns.len() == 1 {
        return if inclusive { at_least } else { strictly };
    }
    at_least.and(strictly.or(beyond(&columns[1..], &values[1..], ascending, inclusive)))
}

/// How the rows of a page are read from the database.
pub trait Rows<E: EntityTrait>: Sync {
    type Row: Send;

    /// Runs `query` (filtered, ordered by `order`, limited) and decodes its rows.
    fn fetch<'a, C: ConnectionTrait + Sync>(
        &'a self,
        db: &'a C,
        query: Select<E>,
        order: Vec<(E::Column, Order)>,
    ) -> BoxFuture<'a, Result<Vec<Self::Row>>>;

    /// Which of the page's items get a cursor.
    fn cursors(&self) -> Cursors {
        Cursors::Every
    }
}

/// Whole SeaORM models, one per database row.
pub struct Models;

impl<E: EntityTrait> Rows<E> for Models
where
    E::Model: Send + Sync,
{
    type Row = E::Model;

    fn fetch<'a, C: ConnectionTrait + Sync>(
        &'a self,
        db: &'a C,
        query: Select<E>,
        _order: Vec<(E::Column, Order)>,
    ) -> BoxFuture<'a, Result<Vec<E::Model>>> {
        Box::pin(async move { Ok(query.all(db).await?) })
    }
}

/// Chosen columns, decoded by position into the tuple `R` (rather than whole
/// models decoded column by column by name).
///
/// On SQLite the database folds the page into one JSON array of arrays
/// (`json_group_array`, ordered inside the aggregate), so the driver hands
/// over one value instead of one row per item: sqlx runs SQLite on a worker
/// thread and passes every row across on its own, with a copy of each value.
/// On a 50-user page that took the read from most of the request's time to a
/// small part of it. PostgreSQL and MySQL stream rows over their socket
/// anyway; there, building JSON in the database cost more than it saved
/// (docs/BENCHMARKS.md), so they read ordinary rows.
///
/// The keyset's columns must be among the chosen ones (the SQLite form sorts
/// the page by them again inside the aggregate, unless the caller checks the
/// order: [`Columns::checking_order`]).
pub struct Columns<E: EntityTrait, R> {
    columns: Vec<E::Column>,
    /// The keyset's ascending order on rows, when the page's order is
    /// checked here rather than sorted again by SQLite.
    key_order: Option<fn(&R, &R) -> Ordering>,
    row: PhantomData<fn() -> R>,
}

impl<E: EntityTrait, R> Columns<E, R> {
    pub fn new(columns: Vec<E::Column>) -> Self {
        Self {
            columns,
            key_order: None,
            row: PhantomData,
        }
    }

    /// On SQLite, aggregates the page's rows in the order the query yields
    /// them (SQLite gives no guarantee; it feeds the limited, ordered
    /// subquery's rows through in order) and checks that order here with
    /// `ascending` (the keyset's order on two rows), sorting only a page
    /// found out of order. Sorting every page again inside the aggregate
    /// cost SQLite's thread a temporary b-tree per page.
    pub fn checking_order(mut self, ascending: fn(&R, &R) -> Ordering) -> Self {
        self.key_order = Some(ascending);
        self
    }
}

impl<E, R> Rows<E> for Columns<E, R>
where
    E: EntityTrait,
    R: DeserializeOwned + TryGetableMany + Send,
{
    type Row = R;

    fn fetch<'a, C: ConnectionTrait + Sync>(
        &'a self,
        db: &'a C,
        query: Select<E>,
        order: Vec<(E::Column, Order)>,
    ) -> BoxFuture<'a, Result<Vec<R>>> {
        Box::pin(async move {
            let query = query.select_only().columns(self.columns.iter().copied());
            let backend = db.get_database_backend();
            if backend != DbBackend::Sqlite {
                return Ok(query.into_tuple::<R>().all(db).await?);
            }
            let descending = matches!(order.first(), Some((_, Order::Desc)));
            let inner = backend.build(&query.into_query());
            let quoted = |column: &E::Column| format!("page.\"{}\"", column.as_str());
            let items = self
                .columns
                .iter()
                .map(quoted)
                .collect::<Vec<_>>()
                .join(", ");
            let order = order
                .iter()
                .map(|(column, order)| {
                    let direction = if matches!(order, Order::Desc) {
                        "DESC"
                    } else {
                        "ASC"
                    };
                    format!("{} {direction}", quoted(column))
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sorted_inside = match self.key_order {
                Some(_) => String::new(),
                None => format!(" ORDER BY {order}"),
            };
            let sql = format!(
                "SELECT json_group_array(json_array({items}){sorted_inside}) FROM ({}) AS page",
                inner.sql
            );
            let statement = Statement::from_sql_and_values(
                backend,
                sql,
                inner.values.map(|v| v.0).unwrap_or_default(),
            );
            let Some(row) = db.query_one_raw(statement).await? else {
                return Ok(Vec::new());
            };
            let json: Option<String> = row.try_get_by_index(0)?;
            let mut rows: Vec<R> = match json {
                None => return Ok(Vec::new()),
                Some(json) => serde_json::from_str(&json)
                    .map_err(|err| Error::Internal(anyhow::anyhow!("decoding a page: {err}")))?,
            };
            if let Some(ascending) = self.key_order {
                let walk = |a: &R, b: &R| {
                    let order = ascending(a, b);
                    if descending { order.reverse() } else { order }
                };
                if !rows.is_sorted_by(|a, b| walk(a, b).is_le()) {
                    rows.sort_by(walk);
                }
            }
            Ok(rows)
        })
    }
}

/// Fetches one page of the rows matching `condition` in `keyset` order,
/// their columns read by `rows`.
///
/// The cursor's bounds come first in the WHERE clause, before `condition`:
/// given two bounds on one index column (a range's end and a cursor), SQLite
/// scans from the first it sees, so a page deep into a long range started at
/// the range's end and stepped over every row before the cursor (89 ms
/// instead of 0.5 ms at depth 900k). PostgreSQL and MySQL take the tighter
/// bound whatever the order.
pub async fn paginate<E, C, F>(
    db: &C,
    condition: Condition,
    keyset: &Keyset<E>,
    args: &PageArgs,
    rows: &F,
    key_of: impl Fn(&F::Row) -> Vec<KeyPart>,
) -> Result<Page<F::Row>>
where
    E: EntityTrait,
    C: ConnectionTrait + Sync,
    F: Rows<E>,
{
    paginate_from(db, E::find(), condition, keyset, args, rows, key_of).await
}

/// [`paginate`] from `from`: `E::find()` with something other than filters,
/// such as an index hint for MySQL.
pub async fn paginate_from<E, C, F>(
    db: &C,
    from: Select<E>,
    condition: Condition,
    keyset: &Keyset<E>,
    args: &PageArgs,
    rows: &F,
    key_of: impl Fn(&F::Row) -> Vec<KeyPart>,
) -> Result<Page<F::Row>>
where
    E: EntityTrait,
    C: ConnectionTrait + Sync,
    F: Rows<E>,
{
    let plan = plan(keyset.name, &keyset.columns, args)?;
    let asc = matches!(keyset.order, Order::Asc);
    let cols = &keyset.columns;

    // Walk forward from `after`, or backward from `before`. The cursor the
    // walk starts from is included in the scan: when its row is still there,
    // it proves a row exists on the far side, without a second query.
    let (start, end) = if plan.backward {
        (&plan.before, &plan.after)
    } else {
        (&plan.after, &plan.before)
    };
    let walk_asc = asc != plan.backward;
    let mut query = from.clone();
    if let Some(key) = start {
        query = query.filter(beyond(cols, key, walk_asc, true));
    }
    if let Some(key) = end {
        query = query.filter(beyond(cols, key, !walk_asc, false));
    }
    let mut query = query.filter(condition.clone());
    let walk = if walk_asc { Order::Asc } else { Order::Desc };
    for col in cols {
        query = query.order_by(*col, walk.clone());
    }
    let order = cols.iter().map(|col| (*col, walk.clone())).collect();
    let rows_read = rows;
    let mut rows = rows_read
        .fetch(db, query.limit(plan.limit + 2), order)
        .await?;
    let mut start_found = false;
    if let Some(key) = start
        && rows.first().is_some_and(|row| key_of(row) == *key)
    {
        rows.remove(0);
        start_found = true;
    }
    let overflow = rows.len() as u64 > plan.limit;
    rows.truncate(plan.limit as usize);
    if plan.backward {
        rows.reverse();
    }

    // A row at or before the start cursor (gone, e.g. deleted: probe with one
    // index seek), and a row at or after the end cursor.
    let far_side = |key: &Vec<KeyPart>, ascending: bool| {
        let mut probe = from
            .clone()
            .filter(beyond(cols, key, ascending, true))
            .filter(condition.clone());
        for col in cols {
            probe = probe.order_by(*col, if ascending { Order::Asc } else { Order::Desc });
        }
        probe
    };
    let mut behind = start_found;
    if let Some(key) = start
        && !behind
    {
        behind = exists(db, far_side(key, !walk_asc)).await?;
    }
    let mut ahead = overflow;
    if let Some(key) = end
        && !ahead
    {
        ahead = exists(db, far_side(key, walk_asc)).await?;
    }
    let (has_next, has_previous) = if plan.backward {
        (behind, ahead)
    } else {
        (ahead, behind)
    };

    let every = rows_read.cursors() == Cursors::Every;
    let last = rows.len().saturating_sub(1);
    let items = rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let cursor = if every || i == last {
                encode_cursor(keyset.name, key_of(&row))
            } else {
                String::new()
            };
            (cursor, row)
        })
        .collect();
    Ok(Page {
        items,
        has_next,
        has_previous,
    })
}

/// The rows matching `condition` after the cursor `after` (from the first
/// without one) in `keyset` order, at most `limit`: one statement, for
/// reading a whole list through rather than a page at a time (reports, on
/// a database that streams rows: `History::walk_changelog`).
pub fn walk<E: EntityTrait>(
    condition: Condition,
    keyset: &Keyset<E>,
    after: Option<&str>,
    limit: u64,
) -> Result<Select<E>> {
    let cols = &keyset.columns;
    let asc = matches!(keyset.order, Order::Asc);
    let mut query = E::find();
    if let Some(cursor) = after {
        let key = decode_cursor(keyset.name, cols, cursor, "after")?;
        query = query.filter(beyond(cols, &key, asc, false));
    }
    let mut query = query.filter(condition);
    for col in cols {
        query = query.order_by(*col, keyset.order.clone());
    }
    Ok(query.limit(limit))
}

/// [`walk`]'s rows as whole models, each turned into a `T` by `item` as it
/// arrives.
pub async fn walk_models<E, T>(
    db: &DatabaseConnection,
    condition: Condition,
    keyset: &Keyset<E>,
    after: Option<&str>,
    limit: u64,
    item: fn(E::Model) -> T,
) -> Result<BoxStream<'static, Result<T>>>
where
    E: EntityTrait,
    T: Send + 'static,
{
    let query = walk(condition, keyset, after, limit)?;
    stream(db, query, move |row| {
        Ok(item(E::Model::from_query_result(&row, "")?))
    })
    .await
}

/// The rows of `query`, one statement, each decoded by `decode` as it
/// arrives.
pub async fn stream<E, T>(
    db: &DatabaseConnection,
    query: Select<E>,
    mut decode: impl FnMut(QueryResult) -> Result<T> + Send + 'static,
) -> Result<BoxStream<'static, Result<T>>>
where
    E: EntityTrait,
    T: Send + 'static,
{
    let backend = db.get_database_backend();
    let rows = db.stream_raw(backend.build(&query.into_query())).await?;
    Ok(rows.map(move |row| decode(row?)).boxed())
}

/// The cursor of the row whose key is `key` (a page after it starts at the
/// row after it).
pub fn cursor<E: EntityTrait>(keyset: &Keyset<E>, key: Vec<KeyPart>) -> String {
    encode_cursor(keyset.name, key)
}

async fn exists<E, C>(db: &C, query: Select<E>) -> Result<bool>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let one = query
        .select_only()
        .expr(Expr::val(1))
        .limit(1)
        .into_tuple::<i32>()
        .one(db)
        .await?;
    Ok(one.is_some())
}

/// Counts every row of `base` (for `totalCount`, only when selected).
pub async fn count<E, C>(db: &C, base: Select<E>) -> Result<i64>
where
    E: EntityTrait,
    E::Model: Sync,
    C: ConnectionTrait,
{
    Ok(base.count(db).await? as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    use entity::user::Column;

    #[test]
    fn cursors_round_trip_and_reject_other_lists() {
        let cursor = encode_cursor("users:id", vec![KeyPart::Int(7)]);
        assert_eq!(
            decode_cursor("users:id", &[Column::Id], &cursor, "after").unwrap(),
            vec![KeyPart::Int(7)]
        );
        assert!(
            decode_cursor(
                "users:email",
                &[Column::Email, Column::Id],
                &cursor,
                "after"
            )
            .is_err()
        );
        let err = decode_cursor("users:id", &[Column::Id], "not a cursor!", "before").unwrap_err();
        assert!(matches!(err, Error::BadInput { field, .. } if field == "before"));
    }

    #[test]
    fn cursor_parts_must_have_their_columns_types() {
        let columns = [Column::Email, Column::Id];
        let good = encode_cursor(
            "users:email",
            vec![KeyPart::Text("a@b".into()), KeyPart::Int(1)],
        );
        assert!(decode_cursor("users:email", &columns, &good, "after").is_ok());
        let swapped = encode_cursor(
            "users:email",
            vec![KeyPart::Int(1), KeyPart::Text("1".into())],
        );
        let err = decode_cursor("users:email", &columns, &swapped, "after").unwrap_err();
        assert!(matches!(err, Error::BadInput { field, .. } if field == "after"));
    }

    #[test]
    fn page_sizes_are_bounded() {
        let args = |first, last| PageArgs {
            first,
            last,
            ..Default::default()
        };
        let id = [Column::Id];
        assert!(plan("x", &id, &args(Some(-1), None)).is_err());
        assert!(plan("x", &id, &args(Some(1001), None)).is_err());
        assert!(plan("x", &id, &args(Some(1), Some(1))).is_err());
        assert_eq!(plan("x", &id, &args(None, None)).unwrap().limit, 50);
        assert!(plan("x", &id, &args(None, Some(1000))).unwrap().backward);
    }
}

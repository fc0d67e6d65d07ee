//! The user filter shared by users, snapshots and the changelog: each given
//! field must match (any of its values), `and` needs every sub-filter, `or`
//! any of them (Indico's UserReportFilter, with nesting).

use sea_orm::Condition;
use sea_orm::sea_query::{Expr, ExprTrait, IntoColumnRef, LikeExpr, SimpleExpr};

use super::directory::{Realms, RoleCatalog, UserStatus};
use super::{Error, Principal, Result};

/// Most values one list of a filter may hold (`userId: [...]`).
pub const MAX_FILTER_VALUES: usize = 1000;
/// Most values all the lists of one filter may hold together. Each value is a
/// bound parameter (an email is two in the changelog), which keeps a
/// statement well under SQLite's 32,766 (PostgreSQL and MySQL: 65,535).
pub const MAX_FILTER_TOTAL_VALUES: usize = 5000;
/// Deepest nesting of AND/OR: a sub-filter of a sub-filter is at depth 2.
pub const MAX_FILTER_DEPTH: usize = 5;
/// Most AND/OR entries in one filter, at every depth together. Each one adds
/// to the expression the database parses (SQLite stops at a depth of 1000).
pub const MAX_FILTER_BRANCHES: usize = 100;

/// BAD_USER_INPUT naming `field` when a list argument (the activity and
/// request logs' filters) holds more than [`MAX_FILTER_VALUES`] values.
pub fn check_list<T>(values: Option<&[T]>, field: &str) -> Result<()> {
    match values {
        Some(v) if v.len() > MAX_FILTER_VALUES => Err(Error::bad_input(
            field,
            format!(
                "{field} holds {} values; at most {MAX_FILTER_VALUES}",
                v.len()
            ),
        )),
        _ => Ok(()),
    }
}

#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub user_id: Option<Vec<i32>>,
    pub user_email: Option<Vec<String>>,
    pub realm: Option<Vec<String>>,
    pub status: Option<Vec<UserStatus>>,
    pub role: Option<Vec<String>>,
    pub and: Vec<UserFilter>,
    pub or: Vec<UserFilter>,
}

/// How a filter's fields read on one table.
pub trait FilterTarget {
    fn user_id(&self, ids: Vec<i32>) -> SimpleExpr;
    fn email(&self, emails: Vec<String>) -> SimpleExpr;
    fn realm_id(&self, ids: Vec<i32>) -> SimpleExpr;
    fn status(&self, statuses: Vec<String>) -> SimpleExpr;
    /// Holds any of `roles` (app or dataset roles, catalog spelling).
    fn role(&self, roles: Vec<String>) -> SimpleExpr;
}

/// What resolving names needs: the realms, the role catalog, the caller.
pub struct FilterContext<'a> {
    pub realms: &'a Realms,
    pub catalog: &'a RoleCatalog,
    pub actor: &'a Principal,
    /// The argument's name, for errors (e.g. `filter`).
    pub field: &'a str,
}

/// What the lists and AND/OR entries seen so far hold, against the limits.
#[derive(Default)]
struct Size {
    values: usize,
    branches: usize,
}

impl UserFilter {
    /// The SQL condition, validating names: an unknown realm or role is
    /// BAD_USER_INPUT naming the field; a realm outside a bound caller's
    /// bindings is FORBIDDEN, checked first so it tells nothing of existence.
    /// So is a filter over the size limits above (naming the list that
    /// crossed one), before anything is resolved.
    pub fn condition(
        &self,
        target: &dyn FilterTarget,
        cx: &FilterContext<'_>,
    ) -> Result<Condition> {
        self.check_size(cx.field, 0, &mut Size::default())?;
        self.build(target, cx)
    }

    fn check_size(&self, field: &str, depth: usize, size: &mut Size) -> Result<()> {
        let lists = [
            ("userId", self.user_id.as_ref().map(Vec::len)),
            ("userEmail", self.user_email.as_ref().map(Vec::len)),
            ("realm", self.realm.as_ref().map(Vec::len)),
            ("status", self.status.as_ref().map(Vec::len)),
            ("role", self.role.as_ref().map(Vec::len)),
        ];
        for (name, len) in lists {
            let Some(len) = len else { continue };
            let list = || format!("{field}.{name}");
            if len > MAX_FILTER_VALUES {
                return Err(Error::bad_input(
                    list(),
                    format!("{} holds {len} values; at most {MAX_FILTER_VALUES}", list()),
                ));
            }
            size.values += len;
            if size.values > MAX_FILTER_TOTAL_VALUES {
                return Err(Error::bad_input(
                    list(),
                    format!(
                        "a filter holds at most {MAX_FILTER_TOTAL_VALUES} values in all its lists"
                    ),
                ));
            }
        }
        for (name, subs) in [("AND", &self.and), ("OR", &self.or)] {
            if subs.is_empty() {
                continue;
            }
            let list = format!("{field}.{name}");
            if depth == MAX_FILTER_DEPTH {
                return Err(Error::bad_input(
                    &list,
                    format!("AND and OR nest at most {MAX_FILTER_DEPTH} deep"),
                ));
            }
            size.branches += subs.len();
            if size.branches > MAX_FILTER_BRANCHES {
                return Err(Error::bad_input(
                    &list,
                    format!(
                        "a filter holds at most {MAX_FILTER_BRANCHES} AND and OR entries in all"
                    ),
                ));
            }
            for (i, sub) in subs.iter().enumerate() {
                sub.check_size(&format!("{list}[{i}]"), depth + 1, size)?;
            }
        }
        Ok(())
    }

    fn build(&self, target: &dyn FilterTarget, cx: &FilterContext<'_>) -> Result<Condition> {
        let mut all = Condition::all();
        if let Some(ids) = &self.user_id {
            all = all.add(target.user_id(ids.clone()));
        }
        if let Some(emails) = &self.user_email {
            all = all.add(target.email(emails.iter().map(|e| e.trim().to_lowercase()).collect()));
        }
        if let Some(names) = &self.realm {
            let field = format!("{}.realm", cx.field);
            let mut ids = Vec::with_capacity(names.len());
            for name in names {
                cx.actor.require_realm(name)?;
                let realm = cx.realms.resolve(name, &field)?;
                ids.push(realm.id);
            }
            ids.sort_unstable();
            ids.dedup();
            all = all.add(target.realm_id(ids));
        }
        if let Some(statuses) = &self.status {
            all = all.add(target.status(statuses.iter().map(|s| s.as_str().to_owned()).collect()));
        }
        if let Some(roles) = &self.role {
            let field = format!("{}.role", cx.field);
            let mut roles = roles
                .iter()
                .map(|r| cx.catalog.any(r, &field))
                .collect::<Result<Vec<_>>>()?;
            // Each role is two LIKEs, chained: once each is enough.
            roles.sort_unstable();
            roles.dedup();
            all = all.add(target.role(roles));
        }
        for (i, sub) in self.and.iter().enumerate() {
            let field = format!("{}.AND[{i}]", cx.field);
            all = all.add(sub.build(
                target,
                &FilterContext {
                    field: &field,
                    ..*cx
                },
            )?);
        }
        if !self.or.is_empty() {
            let mut any = Condition::any();
            for (i, sub) in self.or.iter().enumerate() {
                let field = format!("{}.OR[{i}]", cx.field);
                any = any.add(sub.build(
                    target,
                    &FilterContext {
                        field: &field,
                        ..*cx
                    },
                )?);
            }
            all = all.add(any);
        }
        Ok(all)
    }
}

/// Restricts rows to the realms the caller may see.
pub fn realm_scope(target: &dyn FilterTarget, realms: &Realms, actor: &Principal) -> Condition {
    match realms.visible_ids(&actor.realms) {
        None => Condition::all(),
        Some(ids) => Condition::all().add(target.realm_id(ids)),
    }
}

/// `column LIKE '%<before><literal><after>%'`, LIKE's wildcards in `literal` escaped.
fn contains(column: impl IntoColumnRef, before: &str, literal: &str, after: &str) -> SimpleExpr {
    let escaped = literal
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    Expr::col(column).like(LikeExpr::new(format!("%{before}{escaped}{after}%")).escape('\\'))
}

/// Holds any of `roles`, read from the stored JSON arrays of app roles
/// (`["APP_ADMIN",...]`) and dataset roles (`[[id,"name","ROLE"],...]`).
/// A name is matched with its quotes (and as the last element of a dataset
/// triple), so no role matches inside another, nor inside a dataset name
/// (JSON escapes any quote in it).
pub fn holds_any_role<C: IntoColumnRef + Copy>(
    roles_col: C,
    datasets_col: C,
    roles: &[String],
) -> SimpleExpr {
    let mut any = Condition::any();
    for role in roles {
        any = any.add(contains(roles_col, "\"", role, "\"")).add(contains(
            datasets_col,
            ",\"",
            role,
            "\"]",
        ));
    }
    any.into()
}

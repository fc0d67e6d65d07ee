//! A user's state, and what changed between two states.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UserStatus {
    Active,
    Dormant,
    Suspended,
}

impl UserStatus {
    pub const ALL: [UserStatus; 3] = [Self::Active, Self::Dormant, Self::Suspended];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Dormant => "DORMANT",
            Self::Suspended => "SUSPENDED",
        }
    }

    /// False exactly when suspended.
    pub fn enabled(self) -> bool {
        self != Self::Suspended
    }
}

impl fmt::Display for UserStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UserStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown status '{s}'"))
    }
}

/// A user's role on one dataset.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DatasetRole {
    pub dataset_id: i32,
    pub dataset_name: String,
    pub role: String,
}

/// The kinds of change one history entry can record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChangeType {
    Created,
    Enablement,
    Status,
    AppRole,
    DatasetRole,
    Profile,
    Deleted,
}

impl ChangeType {
    pub const ALL: [ChangeType; 7] = [
        Self::Created,
        Self::Enablement,
        Self::Status,
        Self::AppRole,
        Self::DatasetRole,
        Self::Profile,
        Self::Deleted,
    ];

    fn bit(self) -> i32 {
        1 << (self as i32)
    }

    /// Stored form: one bit per type.
    pub fn mask(types: &[ChangeType]) -> i32 {
        types.iter().fold(0, |mask, t| mask | t.bit())
    }

    pub fn from_mask(mask: i32) -> Vec<ChangeType> {
        Self::in_mask(mask).collect()
    }

    /// [`ChangeType::from_mask`] without a list, in the same order.
    pub fn in_mask(mask: i32) -> impl Iterator<Item = ChangeType> {
        Self::ALL.into_iter().filter(move |t| mask & t.bit() != 0)
    }
}

/// Everything history records about a user at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserState {
    pub email: String,
    pub name: String,
    pub status: UserStatus,
    pub roles: BTreeSet<String>,
    /// dataset id → (dataset name, role)
    pub datasets: BTreeMap<i32, (String, String)>,
}

impl UserState {
    /// The state stored in a user row.
    pub fn of(row: &entity::user::Model) -> Self {
        Self {
            email: row.email.clone(),
            name: row.name.clone(),
            status: row.status.parse().unwrap_or(UserStatus::Active),
            roles: decode_roles(&row.roles).into_iter().collect(),
            datasets: decode_datasets(&row.datasets)
                .into_iter()
                .map(|d| (d.dataset_id, (d.dataset_name, d.role)))
                .collect(),
        }
    }

    pub fn roles_vec(&self) -> Vec<String> {
        self.roles.iter().cloned().collect()
    }

    /// What changed from `self` to `after`, in the enum's order.
    pub fn diff(&self, after: &UserState) -> Vec<ChangeType> {
        let mut changes = Vec::new();
        if self.status.enabled() != after.status.enabled() {
            changes.push(ChangeType::Enablement);
        }
        if self.status != after.status {
            changes.push(ChangeType::Status);
        }
        if self.roles != after.roles {
            changes.push(ChangeType::AppRole);
        }
        if self.datasets != after.datasets {
            changes.push(ChangeType::DatasetRole);
        }
        if self.email != after.email || self.name != after.name {
            changes.push(ChangeType::Profile);
        }
        changes
    }
}

/// Stored form of a role list: a JSON array of names, sorted.
pub fn encode_roles(roles: &BTreeSet<String>) -> String {
    serde_json::to_string(roles).unwrap_or_else(|_| "[]".to_owned())
}

pub fn decode_roles(stored: &str) -> Vec<String> {
    read_roles(stored)
        .into_iter()
        .map(Cow::into_owned)
        .collect()
}

/// [`decode_roles`], borrowing each name from `stored` (unless it holds an
/// escape), for reading many rows.
pub fn read_roles(stored: &str) -> Vec<Cow<'_, str>> {
    if let Some(names) = plain::roles(stored) {
        return names;
    }
    #[derive(Deserialize)]
    struct Name<'a>(#[serde(borrow)] Cow<'a, str>);
    let names: Vec<Name> = serde_json::from_str(stored).unwrap_or_default();
    names.into_iter().map(|Name(name)| name).collect()
}

#[derive(Serialize)]
struct StoredDatasetRole(i32, String, String);

/// A dataset role read from its stored form, borrowing its names (unless
/// they hold an escape).
#[derive(Debug, Deserialize)]
pub struct DatasetRoleRef<'a> {
    pub dataset_id: i32,
    #[serde(borrow)]
    pub dataset_name: Cow<'a, str>,
    #[serde(borrow)]
    pub role: Cow<'a, str>,
}

/// Stored form of dataset roles: a JSON array of `[id, name, role]`, by id.
pub fn encode_datasets(datasets: &BTreeMap<i32, (String, String)>) -> String {
    let rows: Vec<StoredDatasetRole> = datasets
        .iter()
        .map(|(id, (name, role))| StoredDatasetRole(*id, name.clone(), role.clone()))
        .collect();
    serde_json::to_string(&rows).unwrap_or_else(|_| "[]".to_owned())
}

pub fn decode_datasets(stored: &str) -> Vec<DatasetRole> {
    read_datasets(stored)
        .into_iter()
        .map(|d| DatasetRole {
            dataset_id: d.dataset_id,
            dataset_name: d.dataset_name.into_owned(),
            role: d.role.into_owned(),
        })
        .collect()
}

/// [`decode_datasets`], borrowing from `stored`, for reading many rows.
pub fn read_datasets(stored: &str) -> Vec<DatasetRoleRef<'_>> {
    if let Some(datasets) = plain::datasets(stored) {
        return datasets;
    }
    // Each is stored as `[id, name, role]`, which reads as the struct's
    // fields in order.
    serde_json::from_str(stored).unwrap_or_default()
}

/// The stored lists as `serde_json` writes them, when no string holds an
/// escape (nearly always): read by hand, about four times faster than
/// through serde, which matters to a report of a million changes (four
/// lists a row). Anything else (an escape, a space, a number out of range)
/// is None, and serde reads it.
mod plain {
    use std::borrow::Cow;

    use super::DatasetRoleRef;

    /// `["a","b"]`.
    pub(super) fn roles(stored: &str) -> Option<Vec<Cow<'_, str>>> {
        let mut rest = list(stored)?;
        let mut names = Vec::new();
        while !rest.is_empty() {
            let name;
            (name, rest) = string(rest)?;
            names.push(Cow::Borrowed(name));
            rest = separator(rest)?;
        }
        Some(names)
    }

    /// `[[1,"name","role"],[2,"name","role"]]`.
    pub(super) fn datasets(stored: &str) -> Option<Vec<DatasetRoleRef<'_>>> {
        let mut rest = list(stored)?;
        let mut datasets = Vec::new();
        while !rest.is_empty() {
            rest = rest.strip_prefix('[')?;
            let digits = rest.find(|c: char| c != '-' && !c.is_ascii_digit())?;
            let dataset_id = rest[..digits].parse().ok()?;
            let (name, after) = string(rest[digits..].strip_prefix(',')?)?;
            let (role, after) = string(after.strip_prefix(',')?)?;
            datasets.push(DatasetRoleRef {
                dataset_id,
                dataset_name: Cow::Borrowed(name),
                role: Cow::Borrowed(role),
            });
            rest = separator(after.strip_prefix(']')?)?;
        }
        Some(datasets)
    }

    /// What is between the brackets, if nothing in it is escaped.
    fn list(stored: &str) -> Option<&str> {
        let inner = stored.strip_prefix('[')?.strip_suffix(']')?;
        (!inner.contains('\\')).then_some(inner)
    }

    /// A string without escapes at the start, and what follows it.
    fn string(rest: &str) -> Option<(&str, &str)> {
        let rest = rest.strip_prefix('"')?;
        let end = rest.find('"')?;
        let text = &rest[..end];
        // serde_json escapes every control character.
        if text.bytes().any(|b| b < 0x20) {
            return None;
        }
        Some((text, &rest[end + 1..]))
    }

    /// After an item: the next one, or the end.
    fn separator(rest: &str) -> Option<&str> {
        if rest.is_empty() {
            return Some(rest);
        }
        let next = rest.strip_prefix(',')?;
        (!next.is_empty()).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What serde reads from `stored` (the readers' slow path).
    fn serde_roles(stored: &str) -> Option<Vec<String>> {
        serde_json::from_str(stored).ok()
    }

    fn serde_datasets(stored: &str) -> Option<Vec<(i32, String, String)>> {
        serde_json::from_str(stored).ok().map(owned_datasets)
    }

    fn owned_datasets(read: Vec<DatasetRoleRef>) -> Vec<(i32, String, String)> {
        read.into_iter()
            .map(|d| {
                (
                    d.dataset_id,
                    d.dataset_name.into_owned(),
                    d.role.into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn stored_lists_read_by_hand_or_by_serde_alike() {
        for stored in [
            "[]",
            r#"["a"]"#,
            r#"["a","b,c","d:e"]"#,
            r#"["",""]"#,
            r#"["quote \" inside"]"#,
            r#"["tab\tand é"]"#,
            r#"[ "spaced" ]"#,
            r#"["a",]"#,
            r#"["a""b"]"#,
            r#"["unterminated]"#,
            "not json",
            "",
        ] {
            let read: Vec<String> = read_roles(stored)
                .into_iter()
                .map(Cow::into_owned)
                .collect();
            assert_eq!(read, serde_roles(stored).unwrap_or_default(), "{stored}");
            if plain::roles(stored).is_some() {
                assert!(serde_roles(stored).is_some(), "{stored}: read by hand only");
            }
        }
        for stored in [
            "[]",
            r#"[[1,"Sales","VIEWER"]]"#,
            r#"[[-2,"a,b","c:d"],[30,"x","y"]]"#,
            r#"[[1,"esc\"aped","r"]]"#,
            r#"[[99999999999,"big","r"]]"#,
            r#"[[1,"a","b"],]"#,
            r#"[[1,"a"]]"#,
            r#"[[1.5,"a","b"]]"#,
            r#"[[1,"a","b"]"#,
        ] {
            assert_eq!(
                owned_datasets(read_datasets(stored)),
                serde_datasets(stored).unwrap_or_default(),
                "{stored}"
            );
            if plain::datasets(stored).is_some() {
                assert!(
                    serde_datasets(stored).is_some(),
                    "{stored}: read by hand only"
                );
            }
        }
    }

    proptest::proptest! {
        /// Whatever the names, a stored list reads back as it was written.
        #[test]
        fn stored_lists_read_back_what_was_written(
            roles in proptest::collection::btree_set(".{0,12}", 0..5),
            datasets in proptest::collection::btree_map(
                proptest::num::i32::ANY,
                (".{0,12}", "[a-zA-Z_,:\"\\\\]{0,8}"),
                0..4,
            ),
        ) {
            let stored = encode_roles(&roles);
            let read: Vec<String> = read_roles(&stored).into_iter().map(Cow::into_owned).collect();
            proptest::prop_assert_eq!(read, roles.iter().cloned().collect::<Vec<_>>());
            let stored = encode_datasets(&datasets);
            let expected: Vec<(i32, String, String)> = datasets
                .iter()
                .map(|(id, (name, role))| (*id, name.clone(), role.clone()))
                .collect();
            proptest::prop_assert_eq!(owned_datasets(read_datasets(&stored)), expected);
        }
    }

    fn state(status: UserStatus, roles: &[&str]) -> UserState {
        UserState {
            email: "a@example.com".into(),
            name: "A".into(),
            status,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            datasets: BTreeMap::new(),
        }
    }

    #[test]
    fn suspension_is_a_status_and_an_enablement_change() {
        let before = state(UserStatus::Active, &[]);
        let after = state(UserStatus::Suspended, &[]);
        assert_eq!(
            before.diff(&after),
            vec![ChangeType::Enablement, ChangeType::Status]
        );
        let dormant = state(UserStatus::Dormant, &[]);
        assert_eq!(before.diff(&dormant), vec![ChangeType::Status]);
        assert!(before.diff(&before).is_empty());
    }

    #[test]
    fn stored_forms_round_trip() {
        let mut s = state(UserStatus::Active, &["TEAM_USER", "APP_ADMIN"]);
        s.datasets.insert(3, ("Invoices".into(), "ANALYST".into()));
        assert_eq!(decode_roles(&encode_roles(&s.roles)), s.roles_vec());
        assert_eq!(
            decode_datasets(&encode_datasets(&s.datasets)),
            vec![DatasetRole {
                dataset_id: 3,
                dataset_name: "Invoices".into(),
                role: "ANALYST".into(),
            }]
        );
        let types = vec![ChangeType::Created, ChangeType::AppRole];
        assert_eq!(ChangeType::from_mask(ChangeType::mask(&types)), types);
    }

    #[test]
    fn names_with_escapes_read_back() {
        let mut s = state(UserStatus::Active, &["say \"hi\"", "tab\t", "é"]);
        s.datasets.insert(3, ("back\\slash".into(), "\u{1}".into()));
        assert_eq!(decode_roles(&encode_roles(&s.roles)), s.roles_vec());
        let datasets = encode_datasets(&s.datasets);
        let read = read_datasets(&datasets);
        assert_eq!(read[0].dataset_name, "back\\slash");
        assert_eq!(read[0].role, "\u{1}");
        assert!(read_roles("not json").is_empty());
        assert!(read_datasets("[[1]]").is_empty());
    }
}

//! schema.graphql is exactly what the code exports, and the exported schema
//! carries the contract's names for everything the foundation delivers.

use std::collections::BTreeMap;
use std::path::PathBuf;

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};

fn repo_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(name)
}

#[test]
fn schema_graphql_matches_the_code() {
    let path = repo_file("schema.graphql");
    let on_disk =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let exported = headcount::graphql::schema_sdl();
    if on_disk != exported {
        let line = on_disk
            .lines()
            .zip(exported.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || on_disk.lines().count().min(exported.lines().count()) + 1,
                |i| i + 1,
            );
        panic!(
            "schema.graphql differs from the code's schema (first at line {line}); \
             regenerate it with `cargo run -- schema > schema.graphql`"
        );
    }
}

/// Fields (with their arguments) and enum values per type name.
#[derive(Default)]
struct Shape {
    /// field → (type, arguments: name → type)
    fields: BTreeMap<String, (Type, BTreeMap<String, Type>)>,
    values: Vec<String>,
    input: bool,
}

fn shapes(sdl: &str, what: &str) -> BTreeMap<String, Shape> {
    let doc = parse_schema(sdl).unwrap_or_else(|e| panic!("{what} does not parse: {e}"));
    let mut out: BTreeMap<String, Shape> = BTreeMap::new();
    for def in doc.definitions {
        let TypeSystemDefinition::Type(def) = def else {
            continue;
        };
        let def = def.node;
        let shape = out.entry(def.name.node.to_string()).or_default();
        match def.kind {
            TypeKind::Object(o) => {
                for f in o.fields {
                    let f = f.node;
                    let args = f
                        .arguments
                        .into_iter()
                        .map(|a| (a.node.name.node.to_string(), a.node.ty.node))
                        .collect();
                    shape
                        .fields
                        .insert(f.name.node.to_string(), (f.ty.node, args));
                }
            }
            TypeKind::Interface(i) => {
                for f in i.fields {
                    let f = f.node;
                    shape
                        .fields
                        .insert(f.name.node.to_string(), (f.ty.node, BTreeMap::new()));
                }
            }
            TypeKind::InputObject(i) => {
                shape.input = true;
                for f in i.fields {
                    let f = f.node;
                    shape
                        .fields
                        .insert(f.name.node.to_string(), (f.ty.node, BTreeMap::new()));
                }
            }
            TypeKind::Enum(e) => {
                shape.values = e
                    .values
                    .into_iter()
                    .map(|v| v.node.value.node.to_string())
                    .collect();
            }
            TypeKind::Scalar | TypeKind::Union(_) => {}
        }
    }
    out
}

/// An output may be stricter (non-null) than the contract promises.
fn output_compatible(contract: &Type, actual: &Type) -> bool {
    if !contract.nullable && actual.nullable {
        return false;
    }
    base_compatible(&contract.base, &actual.base, output_compatible)
}

/// An input may be looser (nullable) than the contract requires.
fn input_compatible(contract: &Type, actual: &Type) -> bool {
    if contract.nullable && !actual.nullable {
        return false;
    }
    base_compatible(&contract.base, &actual.base, input_compatible)
}

fn base_compatible(
    contract: &BaseType,
    actual: &BaseType,
    inner: fn(&Type, &Type) -> bool,
) -> bool {
    match (contract, actual) {
        (BaseType::Named(a), BaseType::Named(b)) => a == b,
        (BaseType::List(a), BaseType::List(b)) => inner(a, b),
        _ => false,
    }
}

/// What this issue delivers from the contract: whole types, and the root
/// fields of the foundation (later issues add the rest).
const TYPES: &[&str] = &[
    "Node",
    "PageInfo",
    "SortDirection",
    "Scope",
    "Viewer",
    "ApiToken",
    "NewApiToken",
    "CreateApiTokenInput",
    "Realm",
    "UserStatus",
    "UserEdge",
    "UserConnection",
    "Dataset",
    "DatasetEdge",
    "DatasetConnection",
    "DatasetRole",
    "RoleDefinition",
    "RoleKind",
    "UserFilter",
    "UserOrderField",
    "UserOrder",
    "DatasetRoleInput",
    "CreateUserInput",
    "UpdateUserInput",
    "UserChangeType",
    "UserChange",
    "UserChangeEdge",
    "UserChangeConnection",
];
const USER_FIELDS: &[&str] = &[
    "id",
    "userId",
    "email",
    "name",
    "realm",
    "status",
    "enabled",
    "roles",
    "datasets",
    "createdAt",
    "updatedAt",
    "deletedAt",
    "changelog",
];
const QUERY_FIELDS: &[&str] = &[
    "node",
    "nodes",
    "viewer",
    "realms",
    "roles",
    "users",
    "user",
    "datasets",
    "apiTokens",
];
const MUTATION_FIELDS: &[&str] = &[
    "createApiToken",
    "revokeApiToken",
    "createRealm",
    "updateRealm",
    "createDataset",
    "createUser",
    "updateUser",
    "setUserStatus",
    "setUserRoles",
    "addUserRoles",
    "removeUserRoles",
    "setDatasetRole",
    "deleteUser",
];

#[test]
fn exported_schema_follows_the_contract_for_the_foundation() {
    let contract_path = repo_file("../shared/design/contract.graphql");
    let Ok(contract) = std::fs::read_to_string(&contract_path) else {
        eprintln!(
            "{} is not there: the contract check needs the shared design folder beside the repo",
            contract_path.display()
        );
        return;
    };
    let contract = shapes(&contract, "contract.graphql");
    let actual = shapes(&headcount::graphql::schema_sdl(), "the exported schema");

    let mut wanted: Vec<(&str, Option<&[&str]>)> = TYPES.iter().map(|t| (*t, None)).collect();
    wanted.push(("User", Some(USER_FIELDS)));
    wanted.push(("Query", Some(QUERY_FIELDS)));
    wanted.push(("Mutation", Some(MUTATION_FIELDS)));

    let mut problems = Vec::new();
    for (type_name, only) in wanted {
        let expected = &contract[type_name];
        let Some(got) = actual.get(type_name) else {
            problems.push(format!("type {type_name} is missing"));
            continue;
        };
        for value in &expected.values {
            if !got.values.contains(value) {
                problems.push(format!("enum {type_name} lacks {value}"));
            }
        }
        for (field, (ty, args)) in &expected.fields {
            if only.is_some_and(|names| !names.contains(&field.as_str())) {
                continue;
            }
            let Some((got_ty, got_args)) = got.fields.get(field) else {
                problems.push(format!("{type_name}.{field} is missing"));
                continue;
            };
            let fits = if expected.input {
                input_compatible(ty, got_ty)
            } else {
                output_compatible(ty, got_ty)
            };
            if !fits {
                problems.push(format!(
                    "{type_name}.{field}: contract {ty}, schema {got_ty}"
                ));
            }
            for (arg, arg_ty) in args {
                match got_args.get(arg) {
                    None => problems.push(format!("{type_name}.{field}({arg}:) is missing")),
                    Some(got_arg) if !input_compatible(arg_ty, got_arg) => problems.push(format!(
                        "{type_name}.{field}({arg}:): contract {arg_ty}, schema {got_arg}"
                    )),
                    Some(_) => {}
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the schema drifts from the contract:\n{}",
        problems.join("\n")
    );
}

//! Resolving an object's fields one after another, in place.
//!
//! async-graphql resolves every object by boxing one future per selected field
//! and driving them through a `FuturesUnordered`. For objects whose fields are
//! computed from memory (a user of a page, its realm, its dataset roles) that
//! machinery costs far more than the fields: on a 50-user page it was most of
//! the GraphQL time. [`Inline`] resolves the same fields, through the same
//! generated resolvers, by awaiting them in order. The response is identical;
//! only the concurrency between the fields of one object is given up. A field
//! that does I/O still works, it just does not overlap with its siblings.
//!
//! Lists do the same per item: [`InlineList`] resolves its items in order,
//! where async-graphql joins one future per item. Only lists whose items
//! resolve from memory use it: items that load through a DataLoader must
//! resolve concurrently for their loads to be batched (a plain `Vec`).
//!
//! It also keeps response keys in selection order, as the GraphQL spec asks:
//! async-graphql's own path inserts them in the order the fields finish, so a
//! connection's `totalCount` (a count query) came after `edges` and `pageInfo`
//! even when selected first. Connections, edges and nodes all go through here.
//!
//! The selection walk mirrors `async_graphql::resolver_utils::Fields::add_set`
//! (fragment type conditions, `__typename`, merging of repeated response
//! keys); `@skip`/`@include` are already applied when execution starts. When a
//! field carries a custom directive, the object goes through async-graphql's
//! own path instead. Per-field extension hooks do not see these fields: the
//! schema registers no extension (see `build_schema`).
//!
//! The walk uses async-graphql 7.2 items marked `#[doc(hidden)]` (the
//! context's `with_field`, the query's fragments, the registry's
//! `implements`); tests/execution.rs compares pages with async-graphql's own
//! resolution of the same objects, so an upgrade that changes them shows.

use std::borrow::Cow;

use async_graphql::indexmap::IndexMap;
use async_graphql::indexmap::map::Entry;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::{ContainerType, resolve_container};
use async_graphql::{ContextSelectionSet, Name, OutputType, Positioned, ServerResult, Value};

/// An object whose selected fields are resolved in order, without a future
/// per field. Same GraphQL type as `T`.
#[derive(Clone, Debug)]
pub struct Inline<T>(pub T);

impl<T: ContainerType> OutputType for Inline<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn introspection_type_name(&self) -> Cow<'static, str> {
        self.0.introspection_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let mut fields = Vec::new();
        if !collect(ctx, &self.0, &ctx.item.node, &mut fields)? {
            return resolve_container(ctx, &self.0).await;
        }
        let mut results = IndexMap::with_capacity(fields.len());
        for field in fields {
            let ctx_field = ctx.with_field(field);
            let name = field.node.response_key().node.clone();
            if field.node.name.node == "__typename" {
                let typename = self.0.introspection_type_name().into_owned();
                insert_value(&mut results, name, Value::String(typename));
                continue;
            }
            match self.0.resolve_field(&ctx_field).await {
                Ok(value) => insert_value(&mut results, name, value.unwrap_or_default()),
                Err(err) => ctx.add_error(err),
            }
        }
        Ok(if results.is_empty() {
            Value::Null
        } else {
            Value::Object(results)
        })
    }
}

/// A list whose items are resolved one after another. Same GraphQL type as
/// `Vec<T>`; for items that resolve from memory only (see the module notes).
/// Like [`Inline`], it assumes no extension hooks items (none is registered).
#[derive(Clone, Debug)]
pub struct InlineList<T>(pub Vec<T>);

impl<T> From<Vec<T>> for InlineList<T> {
    fn from(items: Vec<T>) -> Self {
        Self(items)
    }
}

impl<T: OutputType> OutputType for InlineList<T> {
    fn type_name() -> Cow<'static, str> {
        Vec::<T>::type_name()
    }

    fn qualified_type_name() -> String {
        Vec::<T>::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        Vec::<T>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let mut items = Vec::with_capacity(self.0.len());
        for (idx, item) in self.0.iter().enumerate() {
            let ctx_idx = ctx.with_index(idx);
            let value = item
                .resolve(&ctx_idx, field)
                .await
                .map_err(|err| ctx_idx.set_error_path(err))?;
            items.push(value);
        }
        Ok(Value::List(items))
    }
}

/// The fields `set` selects on `root`, through fragments whose type condition
/// applies. False when a field carries a directive (left to async-graphql).
fn collect<'a, T: ContainerType>(
    ctx: &ContextSelectionSet<'a>,
    root: &T,
    set: &'a SelectionSet,
    fields: &mut Vec<&'a Positioned<Field>>,
) -> ServerResult<bool> {
    for selection in &set.items {
        let (condition, selection_set) = match &selection.node {
            Selection::Field(field) => {
                if !field.node.directives.is_empty() {
                    return Ok(false);
                }
                fields.push(field);
                continue;
            }
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                let Some(fragment) = ctx.query_env.fragments.get(name) else {
                    return Err(async_graphql::ServerError::new(
                        format!(r#"Unknown fragment "{name}"."#),
                        Some(spread.pos),
                    ));
                };
                (
                    Some(fragment.node.type_condition.node.on.node.as_str()),
                    &fragment.node.selection_set,
                )
            }
            Selection::InlineFragment(fragment) => (
                fragment
                    .node
                    .type_condition
                    .as_ref()
                    .map(|c| c.node.on.node.as_str()),
                &fragment.node.selection_set,
            ),
        };
        let applies = condition.is_none_or(|condition| {
            let concrete = root.introspection_type_name();
            concrete == condition
                || T::type_name() == condition
                || ctx
                    .schema_env
                    .registry
                    .implements
                    .get(&*concrete)
                    .is_some_and(|interfaces| interfaces.contains(condition))
        });
        if applies && !collect(ctx, root, &selection_set.node, fields)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// As async-graphql merges a response key selected more than once.
fn insert_value(target: &mut IndexMap<Name, Value>, name: Name, value: Value) {
    match target.entry(name) {
        Entry::Vacant(entry) => {
            entry.insert(value);
        }
        Entry::Occupied(mut entry) => match (entry.get_mut(), value) {
            (Value::Object(target), Value::Object(object)) => {
                for (key, value) in object {
                    insert_value(target, key, value);
                }
            }
            (Value::List(target), Value::List(list)) => {
                for (idx, value) in list.into_iter().enumerate() {
                    if let (Some(Value::Object(target)), Value::Object(object)) =
                        (target.get_mut(idx), value)
                    {
                        for (key, value) in object {
                            insert_value(target, key, value);
                        }
                    }
                }
            }
            _ => {}
        },
    }
}

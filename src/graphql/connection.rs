//! Relay connections: one shape for every list that can grow. `totalCount`
//! runs its count query only when selected, once per connection.

use std::sync::Arc;

use async_graphql::SimpleObject;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use futures::future::BoxFuture;
use tokio::sync::OnceCell;

use super::error::ApiResult;
use crate::service::page::{DEFAULT_PAGE_SIZE, Page, PageArgs};

#[derive(SimpleObject, Clone, Debug)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

impl PageInfo {
    pub fn of<T>(page: &Page<T>) -> Self {
        Self {
            has_next_page: page.has_next,
            has_previous_page: page.has_previous,
            start_cursor: page.items.first().map(|(c, _)| c.clone()),
            end_cursor: page.items.last().map(|(c, _)| c.clone()),
        }
    }
}

type Count = Arc<dyn Fn() -> BoxFuture<'static, crate::service::Result<i64>> + Send + Sync>;

/// A deferred count: runs only if `totalCount` is selected, and once however
/// many times (aliases) it is.
pub struct TotalCount {
    count: Count,
    value: OnceCell<i64>,
}

impl TotalCount {
    pub fn new<F, Fut>(count: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = crate::service::Result<i64>> + Send + 'static,
    {
        Self {
            count: Arc::new(move || Box::pin(count())),
            value: OnceCell::new(),
        }
    }

    pub async fn get(&self) -> ApiResult<i32> {
        let n = *self.value.get_or_try_init(|| (self.count)()).await?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}

/// What `totalCount` costs: a COUNT reads every matching row, where a page
/// reads at most `first`. Under the default limit (50,000) a request holds a
/// few dozen counts, not hundreds.
pub const TOTAL_COUNT_COST: usize = 1000;

/// Query complexity of a connection field `field`: the page size times the
/// cost of one node (DESIGN.md, "Limits"), plus [`TOTAL_COUNT_COST`] once
/// when `totalCount` may be selected (not per node: it runs once).
///
/// async-graphql gives a complexity function only the sum of its children's
/// costs, in which a count would be multiplied by the page size; whether the
/// count is selected is read from the field itself, which the derive's closure
/// names `__field` (not a documented name: a rename breaks the build, not the
/// limit). A named fragment cannot be looked into from there, so spreading one
/// on a connection costs a count too.
pub fn cost(first: Option<i32>, last: Option<i32>, child: usize, field: &Field) -> usize {
    let size = first.or(last).unwrap_or(DEFAULT_PAGE_SIZE).max(1) as usize;
    let count = if may_count(&field.selection_set.node) {
        TOTAL_COUNT_COST
    } else {
        0
    };
    size.saturating_mul(child)
        .saturating_add(count)
        .saturating_add(1)
}

/// Whether `totalCount` is among `selections`, or may be (in a named fragment).
fn may_count(selections: &SelectionSet) -> bool {
    selections.items.iter().any(|item| match &item.node {
        Selection::Field(field) => field.node.name.node == "totalCount",
        Selection::FragmentSpread(_) => true,
        Selection::InlineFragment(fragment) => may_count(&fragment.node.selection_set.node),
    })
}

pub fn page_args(
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> PageArgs {
    PageArgs {
        first,
        after,
        last,
        before,
    }
}

/// Declares `$conn { edges, pageInfo, totalCount }` and `$edge { cursor, node }`.
///
/// Edges resolve concurrently, so that nodes loading through a DataLoader are
/// batched; `in_memory` declares nodes whose fields never wait on a loader,
/// whose edges then resolve one after another, without a future per edge
/// (`InlineList`). A field that queries the database (a user's `changelog`)
/// still works there, one edge after another.
macro_rules! connection {
    ($conn:ident, $edge:ident, $node:ty) => {
        $crate::graphql::connection::connection!(@ $conn, $edge, $node, Vec);
    };
    ($conn:ident, $edge:ident, $node:ty, in_memory) => {
        $crate::graphql::connection::connection!(
            @ $conn, $edge, $node, $crate::graphql::inline::InlineList
        );
    };
    (@ $conn:ident, $edge:ident, $node:ty, $($list:ident)::+) => {
        pub struct $conn {
            pub page: $crate::service::page::Page<$node>,
            pub total: $crate::graphql::connection::TotalCount,
        }

        #[async_graphql::Object]
        impl $conn {
            async fn edges(&self) -> $($list)::+<$crate::graphql::inline::Inline<$edge<'_>>> {
                self.page
                    .items
                    .iter()
                    .map(|(cursor, node)| {
                        $crate::graphql::inline::Inline($edge {
                            cursor,
                            node: $crate::graphql::inline::Inline(node),
                        })
                    })
                    .collect::<Vec<_>>()
                    .into()
            }

            async fn page_info(&self) -> $crate::graphql::connection::PageInfo {
                $crate::graphql::connection::PageInfo::of(&self.page)
            }

            // Charged by the connection's field (`cost`), not per node.
            #[graphql(complexity = 0)]
            async fn total_count(&self) -> $crate::graphql::error::ApiResult<i32> {
                self.total.get().await
            }
        }

        // Borrows its cursor and node from the page.
        #[derive(async_graphql::SimpleObject)]
        pub struct $edge<'a> {
            pub cursor: &'a str,
            pub node: $crate::graphql::inline::Inline<&'a $node>,
        }
    };
}

pub(crate) use connection;

/// Declares `$conn { edges, pageInfo, totalCount, startDate, endDate }` and
/// `$edge { cursor, node }`: the logs' connections, which echo the time
/// range they were read from.
macro_rules! ranged_connection {
    ($conn:ident, $edge:ident, $node:ty) => {
        pub struct $conn {
            pub page: $crate::service::page::Page<$node>,
            pub total: $crate::graphql::connection::TotalCount,
            pub range: $crate::service::range::TimeRange,
        }

        #[async_graphql::Object]
        impl $conn {
            async fn edges(&self) -> Vec<$edge<'_>> {
                self.page
                    .items
                    .iter()
                    .map(|(cursor, node)| $edge { cursor, node })
                    .collect()
            }

            async fn page_info(&self) -> $crate::graphql::connection::PageInfo {
                $crate::graphql::connection::PageInfo::of(&self.page)
            }

            // Charged by the connection's field (`cost`), not per node.
            #[graphql(complexity = 0)]
            async fn total_count(&self) -> $crate::graphql::error::ApiResult<i32> {
                self.total.get().await
            }

            /// The resolved range, echoed (window or dates, defaults applied).
            async fn start_date(&self) -> $crate::graphql::scalars::Timestamp {
                $crate::graphql::scalars::Timestamp(self.range.start)
            }

            async fn end_date(&self) -> $crate::graphql::scalars::Timestamp {
                $crate::graphql::scalars::Timestamp(self.range.end)
            }
        }

        #[derive(async_graphql::SimpleObject)]
        pub struct $edge<'a> {
            pub cursor: &'a str,
            pub node: &'a $node,
        }
    };
}

pub(crate) use ranged_connection;

//! Jobs per status, for `/metrics`: one grouped count over the status index,
//! run at scrape time (no counter to keep in step with the workers).

use entity::report_job;
use sea_orm::sea_query::Expr;
use sea_orm::{EntityTrait, QuerySelect};

use super::{JobStatus, Reports};
use crate::service::Result;

impl Reports {
    /// How many jobs there are in each status (every status, zeros included).
    pub async fn count_by_status(&self) -> Result<Vec<(JobStatus, i64)>> {
        let rows: Vec<(String, i64)> = report_job::Entity::find()
            .select_only()
            .column(report_job::Column::Status)
            .expr(Expr::cust("COUNT(*)"))
            .group_by(report_job::Column::Status)
            .into_tuple()
            .all(self.db.conn())
            .await?;
        Ok(JobStatus::ALL
            .into_iter()
            .map(|status| {
                let n = rows
                    .iter()
                    .filter(|(s, _)| s == status.as_str())
                    .map(|(_, n)| n)
                    .sum();
                (status, n)
            })
            .collect())
    }
}

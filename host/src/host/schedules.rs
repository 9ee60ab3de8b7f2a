//! A tenant's cron schedules as the API sees and changes them (a manifest's are saved with
//! its deploy, see `deploy`); fired by `workflow::schedules`.

use super::Host;
use crate::schedule::MAX_SCHEDULES_PER_TENANT;
use crate::store::{ScheduleSaved, StoreError, StoredSchedule};

impl Host {
    /// `tenant`'s schedules, by name.
    pub(crate) async fn schedules(&self, tenant: &str) -> Result<Vec<StoredSchedule>, StoreError> {
        self.store.list_schedules(tenant).await
    }

    /// One schedule of `tenant`.
    pub(crate) async fn schedule(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Option<StoredSchedule>, StoreError> {
        self.store.get_schedule(tenant, name).await
    }

    /// Save `schedule` (made over the API), replacing one of its name, unless its tenant
    /// would have more than [`MAX_SCHEDULES_PER_TENANT`].
    pub(crate) async fn save_schedule(
        &self,
        schedule: &StoredSchedule,
    ) -> Result<ScheduleSaved, StoreError> {
        self.store
            .put_schedule(schedule, MAX_SCHEDULES_PER_TENANT)
            .await
    }

    /// Delete a schedule of `tenant`; false when there was none.
    pub(crate) async fn delete_schedule(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<bool, StoreError> {
        self.store.delete_schedule(tenant, name).await
    }
}

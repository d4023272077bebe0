//! `TaskApi`, the `todo.v1.TaskService` implementation: each RPC checks the caller, converts the
//! request, calls [`Tasks`], and converts the answer back.

use dapr_kit::{CallerUser, TrustedCallers};
use todo_core::{
    events::Actor,
    ids::{TaskId, UserId},
};
use todo_proto::todo::v1::{self as proto, task_service_server::TaskService};
use tonic::{Request, Response, Status};

use crate::{
    error::Error,
    tasks::{Acting, Tasks},
};

/// Serves `todo.v1.TaskService`.
#[derive(Clone, Debug)]
pub struct TaskApi {
    tasks: Tasks,
    trusted: TrustedCallers,
}

impl TaskApi {
    /// Serves `tasks` to the `trusted` callers.
    pub fn new(tasks: Tasks, trusted: TrustedCallers) -> Self {
        Self { tasks, trusted }
    }

    fn acting<T>(&self, request: &Request<T>) -> Result<Acting, Status> {
        acting(self.trusted.authorize(request)?)
    }
}

/// Who a vouched-for caller acts for, and as whom the change is recorded.
fn acting(caller: CallerUser) -> Result<Acting, Status> {
    let user = UserId::parse(&caller.user_id)
        .map_err(|_| Status::unauthenticated("the call carries an invalid user id"))?;
    let actor = if caller.role.acts_as_the_user() {
        Actor::user(user)
    } else {
        Actor::service(caller.app_id)
    };
    tracing::Span::current().record("user_id", tracing::field::display(&user));
    Ok(Acting { user, actor })
}

fn task_id(raw: &str) -> Result<TaskId, Status> {
    TaskId::parse(raw).map_err(|_| {
        todo_proto::status::invalid_argument([("task_id", "must be a task id (a UUID)")])
    })
}

#[tonic::async_trait]
impl TaskService for TaskApi {
    #[tracing::instrument(skip_all, fields(user_id))]
    async fn create_task(
        &self,
        request: Request<proto::CreateTaskRequest>,
    ) -> Result<Response<proto::CreateTaskResponse>, Status> {
        let caller = self.trusted.authorize(&request)?;
        let request = request.into_inner();
        let continues_series = !request.series_id.is_empty() || request.occurrence_index != 0;
        if continues_series && !caller.role.may_continue_series() {
            return Err(Error::PermissionDenied(
                "only the recurring service may continue a series",
            )
            .into());
        }
        let acting = acting(caller)?;
        let task = self.tasks.create(&acting, &request).await?;
        Ok(Response::new(proto::CreateTaskResponse {
            task: Some(task),
        }))
    }

    #[tracing::instrument(skip_all, fields(user_id, task_id = %request.get_ref().task_id))]
    async fn get_task(
        &self,
        request: Request<proto::GetTaskRequest>,
    ) -> Result<Response<proto::GetTaskResponse>, Status> {
        let acting = self.acting(&request)?;
        let id = task_id(&request.get_ref().task_id)?;
        let task = self.tasks.get(&acting.user, &id).await?;
        Ok(Response::new(proto::GetTaskResponse { task: Some(task) }))
    }

    #[tracing::instrument(skip_all, fields(user_id))]
    async fn list_tasks(
        &self,
        request: Request<proto::ListTasksRequest>,
    ) -> Result<Response<proto::ListTasksResponse>, Status> {
        let acting = self.acting(&request)?;
        Ok(Response::new(
            self.tasks.list(&acting.user, request.get_ref()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(user_id))]
    async fn update_task(
        &self,
        request: Request<proto::UpdateTaskRequest>,
    ) -> Result<Response<proto::UpdateTaskResponse>, Status> {
        let acting = self.acting(&request)?;
        let task = self.tasks.update(&acting, request.get_ref()).await?;
        Ok(Response::new(proto::UpdateTaskResponse {
            task: Some(task),
        }))
    }

    #[tracing::instrument(skip_all, fields(user_id, task_id = %request.get_ref().task_id))]
    async fn complete_task(
        &self,
        request: Request<proto::CompleteTaskRequest>,
    ) -> Result<Response<proto::CompleteTaskResponse>, Status> {
        let acting = self.acting(&request)?;
        let id = task_id(&request.get_ref().task_id)?;
        let task = self
            .tasks
            .complete(&acting, &id, request.get_ref().expected_version)
            .await?;
        Ok(Response::new(proto::CompleteTaskResponse {
            task: Some(task),
        }))
    }

    #[tracing::instrument(skip_all, fields(user_id, task_id = %request.get_ref().task_id))]
    async fn reopen_task(
        &self,
        request: Request<proto::ReopenTaskRequest>,
    ) -> Result<Response<proto::ReopenTaskResponse>, Status> {
        let acting = self.acting(&request)?;
        let id = task_id(&request.get_ref().task_id)?;
        let task = self
            .tasks
            .reopen(&acting, &id, request.get_ref().expected_version)
            .await?;
        Ok(Response::new(proto::ReopenTaskResponse {
            task: Some(task),
        }))
    }

    #[tracing::instrument(skip_all, fields(user_id, task_id = %request.get_ref().task_id))]
    async fn delete_task(
        &self,
        request: Request<proto::DeleteTaskRequest>,
    ) -> Result<Response<proto::DeleteTaskResponse>, Status> {
        let acting = self.acting(&request)?;
        let id = task_id(&request.get_ref().task_id)?;
        self.tasks
            .delete(&acting, &id, request.get_ref().expected_version)
            .await?;
        Ok(Response::new(proto::DeleteTaskResponse {}))
    }
}

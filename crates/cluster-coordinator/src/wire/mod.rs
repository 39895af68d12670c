//! The coordinator's wire edge: every conversion between proto messages and
//! the scheduler's types happens here, once. Services and links call these;
//! the actor and the scheduler never see a proto type.
//!
//! - `session`: the worker session's own messages (tasks and outputs as
//!   bytes);
//! - `worker`: a worker's hello and reports, and the messages it is sent;
//! - `submit`: a client's tasks and job options;
//! - `results`: a client's results and job summary;
//! - `status`: the status report;
//! - `codes`: failure codes both ways.

mod codes;
mod results;
mod session;
mod status;
mod submit;
#[cfg(test)]
mod tests;
mod worker;

pub(crate) use results::{response, result_messages, stored_result_messages, summary, task_result};
pub(crate) use session::{from_worker, FromWorkerMessage, ToWorkerMessage};
pub(crate) use status::status;
pub(crate) use submit::{fits_in_assignment, job_spec, new_task};
pub(crate) use worker::{finished, held_tasks, session_start, to_worker_messages, worker_desc};

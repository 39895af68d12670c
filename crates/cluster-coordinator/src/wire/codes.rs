//! Failure codes both ways: the protocol's `ErrorCode` and the
//! scheduler's `FailureCode`.

use cluster_proto::ErrorCode;

use crate::sched::FailureCode;

pub(super) fn failure_code(code: i32) -> FailureCode {
    match ErrorCode::try_from(code) {
        Ok(ErrorCode::InvalidInput) => FailureCode::InvalidInput,
        Ok(ErrorCode::UnknownKind) => FailureCode::UnknownKind,
        Ok(ErrorCode::TaskFailed) => FailureCode::TaskFailed,
        Ok(ErrorCode::TimedOut) => FailureCode::TimedOut,
        Ok(ErrorCode::WorkerLost) => FailureCode::WorkerLost,
        Ok(ErrorCode::Cancelled) => FailureCode::Cancelled,
        Ok(ErrorCode::ResultTooLarge) => FailureCode::ResultTooLarge,
        Ok(ErrorCode::Unspecified) | Err(_) => FailureCode::Unspecified,
    }
}

pub(super) fn error_code(code: FailureCode) -> ErrorCode {
    match code {
        FailureCode::InvalidInput => ErrorCode::InvalidInput,
        FailureCode::UnknownKind => ErrorCode::UnknownKind,
        FailureCode::TaskFailed => ErrorCode::TaskFailed,
        FailureCode::TimedOut => ErrorCode::TimedOut,
        FailureCode::WorkerLost => ErrorCode::WorkerLost,
        FailureCode::Cancelled => ErrorCode::Cancelled,
        FailureCode::ResultTooLarge => ErrorCode::ResultTooLarge,
        FailureCode::Unspecified => ErrorCode::Unspecified,
    }
}

//! Typed ids, so a worker id cannot be passed where a job id is expected.

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id_type!(
    /// One session with a worker. A worker that reconnects gets a new id.
    WorkerId
);
id_type!(
    /// One client submission.
    JobId
);
id_type!(
    /// One task, coordinator-wide.
    TaskKey
);

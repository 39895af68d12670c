//! Kinds with typed input and output, for Rust users who bring their own:
//! the values travel as JSON in the task's `custom` bytes, so a client in
//! any language can call them too.
//!
//! ```
//! use cluster_tasks::{CancelToken, Registry, TaskError, TypedKind};
//! use serde::{Deserialize, Serialize};
//!
//! struct WordCount;
//!
//! #[derive(Serialize, Deserialize)]
//! struct Text { text: String }
//!
//! impl TypedKind for WordCount {
//!     const NAME: &'static str = "word-count";
//!     type Input = Text;
//!     type Output = usize;
//!     fn run(&self, input: Text, _cancel: &CancelToken) -> Result<usize, TaskError> {
//!         Ok(input.text.split_whitespace().count())
//!     }
//! }
//!
//! let registry = Registry::builtin().with_typed(WordCount);
//! let input = cluster_tasks::typed::encode_input::<WordCount>(&Text { text: "a b c".into() });
//! let output = registry.run("word-count", &input, &CancelToken::new()).unwrap();
//! assert_eq!(cluster_tasks::typed::decode_output::<WordCount>(&output).unwrap(), 3);
//! ```

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{CancelToken, Input, Output, TaskError, TaskKind};

/// A task kind whose input and output are Rust types.
pub trait TypedKind: Send + Sync + 'static {
    /// The kind's name: what tasks name in `Task.kind`.
    const NAME: &'static str;
    /// What a task gets.
    type Input: Serialize + DeserializeOwned;
    /// What a task returns.
    type Output: Serialize + DeserializeOwned;
    /// The kind always finishes within microseconds and never blocks: see
    /// [`TaskKind::inline`].
    const INLINE: bool = false;
    /// Runs one task (on a blocking thread; poll `cancel` if it is long).
    fn run(&self, input: Self::Input, cancel: &CancelToken) -> Result<Self::Output, TaskError>;
}

/// A [`TypedKind`] as the registry runs it: JSON in, JSON out.
pub struct Typed<K>(pub K);

impl<K: TypedKind> TaskKind for Typed<K> {
    fn run(&self, input: &Input, cancel: &CancelToken) -> Result<Output, TaskError> {
        let Input::Custom(bytes) = input else {
            return Err(TaskError::invalid_input(format!(
                "{} expects custom bytes (JSON), got {}",
                K::NAME,
                input.describe()
            )));
        };
        let input = serde_json::from_slice(bytes).map_err(|e| {
            TaskError::invalid_input(format!("{} input is not the JSON it expects: {e}", K::NAME))
        })?;
        let output = self.0.run(input, cancel)?;
        let bytes = serde_json::to_vec(&output)
            .map_err(|e| TaskError::failed(format!("{} output cannot be encoded: {e}", K::NAME)))?;
        Ok(Output::Custom(bytes.into()))
    }

    fn inline(&self) -> bool {
        K::INLINE
    }
}

/// The input of a task of kind `K`, as a worker's registry gets it.
pub fn encode_input<K: TypedKind>(input: &K::Input) -> Input {
    Input::Custom(to_bytes(input))
}

/// `value` as the JSON bytes a typed kind reads and writes.
pub fn to_bytes(value: &impl Serialize) -> bytes::Bytes {
    // Serializing a value of a derived `Serialize` type to memory does not
    // fail short of a map with non-string keys, which JSON cannot hold.
    serde_json::to_vec(value).unwrap_or_default().into()
}

/// The output of a task of kind `K`.
pub fn decode_output<K: TypedKind>(output: &Output) -> Result<K::Output, TaskError> {
    match output {
        Output::Custom(bytes) => from_bytes::<K>(bytes),
        other => Err(TaskError::failed(format!("{} returned {other:?}, not custom bytes", K::NAME))),
    }
}

/// A typed kind's output from its JSON bytes.
pub fn from_bytes<K: TypedKind>(bytes: &[u8]) -> Result<K::Output, TaskError> {
    serde_json::from_slice(bytes)
        .map_err(|e| TaskError::failed(format!("{} output is not the JSON expected: {e}", K::NAME)))
}

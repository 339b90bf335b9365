//! Placeholder: the tokio adapter is built in a later issue.

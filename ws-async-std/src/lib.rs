//! Placeholder: the futures-io (async-std / smol) adapter is built in a later issue.

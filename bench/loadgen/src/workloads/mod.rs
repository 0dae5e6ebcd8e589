//! One module per workload; each returns the JSON that goes on the `RESULT` line.

pub mod chat;
pub mod closed;
pub mod find;
pub mod floor;
pub mod history;
pub mod idle;
pub mod search;
pub mod seed;
pub mod sidebar;
pub mod upload;

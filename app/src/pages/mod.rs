//! One routed page per file.

pub mod auth;
pub mod home;
pub mod message;
pub mod not_found;
pub mod room;

//! One routed page per file.

pub mod admin;
pub mod auth;
pub mod chat;
pub mod files;
pub mod home;
pub mod message;
pub mod moderation;
pub mod not_found;
pub mod notify;
pub mod report;
pub mod room;
pub mod search;
pub mod sidebar;

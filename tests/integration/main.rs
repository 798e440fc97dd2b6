//! The integration suite: one binary, one module per concern.

mod api;
mod backend;
mod common;
mod fixtures;
mod params;
mod properties;

//! The integration suite: one binary, one module per concern.

mod api;
mod backend;
mod common;
mod fixtures;
mod gpu;
mod params;
mod properties;

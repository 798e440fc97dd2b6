//! The integration suite: one binary, one module per concern.

mod api;
mod backend;
mod baselines;
mod cli;
mod common;
mod families;
mod fixtures;
mod gpu;
mod lasso;
mod multiclass;
mod params;
mod path;
mod properties;
mod stream;

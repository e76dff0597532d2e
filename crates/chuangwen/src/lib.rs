//! 创文通 Chuangwen: the campaign platform of a National Civilized Urban
//! District. See `docs/ARCHITECTURE.md` for the map of this crate.

pub mod api;
pub mod app;
pub mod auth;
pub mod backup;
pub mod bench;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod evaluation;
pub mod files;
pub mod intake;
pub mod jobs;
pub mod open311;
pub mod places;
pub mod progress;
pub mod reports;
pub mod routes;
pub mod sheet;
pub mod statistics;
pub mod store;
pub mod telemetry;
pub mod web;

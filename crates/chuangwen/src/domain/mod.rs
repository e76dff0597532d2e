//! The pure domain: rules without I/O, each with its unit tests.

pub mod assessment;
pub mod calendar;
pub mod cases;
pub mod categories;
pub mod coords;
pub mod dispatch;
pub mod evaluation;
pub mod evidence;
pub mod geometry;
pub mod open311;
pub mod org;
pub mod places;
pub mod rng;
pub mod stats;
pub mod words;

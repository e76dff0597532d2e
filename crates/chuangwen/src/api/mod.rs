//! The JSON API under `/api/v1`, one module per product module.

pub mod cases;
pub mod dispatch;
pub mod map;
pub mod places;
pub mod settings;
pub mod supervision;

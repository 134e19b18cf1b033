//! Alerts over the whole fleet: rules (`rules`), raised as batches land
//! (`database::alerts`), delivered by `serve` (`deliver`).

pub mod deliver;
pub mod rules;

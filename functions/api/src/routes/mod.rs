pub mod health;
pub mod optimize;
pub mod policies;
pub mod regions;
pub mod replicas;
pub mod scaling;
pub mod selection;

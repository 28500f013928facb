pub mod health;
pub mod policies;
pub mod replicas;
pub mod scaling;

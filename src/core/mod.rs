//! The Apache-free core: what a required directory is, how it is checked for an identity, what
//! faults look like and how they are fixed. Nothing here knows about httpd or APR.

pub mod apps;
pub mod audit;
pub mod bounded;
pub mod clues;
pub mod derive;
pub mod dump;
pub mod evaluator;
pub mod explain;
pub mod export;
pub mod fault;
pub mod identity;
pub mod isolate;
pub mod messages;
pub mod monitor;
pub mod permission;
pub mod records;
pub mod repair;
pub mod request;
pub mod scope;
pub mod settings;
pub mod shared;
pub mod spec;
pub mod startup;
pub mod status;
pub mod text;
pub mod wiring;

//! Code shared by the spool's test binaries.

pub mod faults;
pub mod letters;
pub mod reading;
pub mod tmpfs;

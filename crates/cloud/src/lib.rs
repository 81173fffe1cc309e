//! Cloud firewalls for portreeve: the same policy that governs a host's
//! ports written as an AWS security group (AWS CLI input or Terraform JSON)
//! or as GCP Compute Engine firewall rules, and AWS security groups read back
//! from `aws ec2 describe-security-groups` and judged.
//!
//! Everything here is pure: documents in, documents or facts out. Turning
//! facts into findings (the risk catalogue, severities, accepted risks) is
//! the application layer's job (`portreeve_app::cloud`).

pub mod aws;
pub mod describe;
pub mod gcp;
pub mod judge;
pub mod openings;
pub mod render;
pub mod terraform;

pub use render::{Rendered, Target, render};

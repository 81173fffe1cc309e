//! One entry point for `portreeve render`'s cloud targets: the document as
//! text, and the rules it leaves out.

use portreeve_policy::Policy;

use crate::{aws, gcp, terraform};

/// Which document to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// AWS CLI inputs ([`aws::CliInputs`]).
    Aws,
    /// A Terraform JSON configuration ([`terraform::configuration`]).
    AwsTerraform,
    /// GCP firewall insert bodies, as a JSON array ([`gcp::firewalls`]).
    Gcp,
}

/// A rendered document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// Pretty JSON with a trailing newline.
    pub text: String,
    /// Rules left out because they open only through `portreeve grant`.
    pub grant_only: Vec<String>,
}

/// `policy` as a `target` document.
pub fn render(target: Target, policy: &Policy) -> Rendered {
    let (value, grant_only) = match target {
        Target::Aws => {
            let (inputs, left_out) = aws::cli_inputs(policy);
            (to_value(&inputs), left_out)
        }
        Target::AwsTerraform => terraform::configuration(policy),
        Target::Gcp => {
            let (bodies, left_out) = gcp::firewalls(policy);
            (to_value(&bodies), left_out)
        }
    };
    let mut text = serde_json::to_string_pretty(&value).expect("JSON values serialise");
    text.push('\n');
    Rendered { text, grant_only }
}

fn to_value<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("rendered documents serialise")
}

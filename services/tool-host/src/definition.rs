//! A tool as the model is offered it: what every tool family (exec, web, MCP) describes itself
//! with, and the catalogue lists.

use pincer_proto::tools::v1 as pb;

/// A tool as the model is offered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its arguments.
    pub parameters_json: String,
}

impl Definition {
    /// A definition from its parts.
    #[must_use]
    pub fn new(name: &str, description: &str, parameters: serde_json::Value) -> Self {
        Self {
            name: name.to_owned(),
            description: description.to_owned(),
            parameters_json: parameters.to_string(),
        }
    }

    pub(crate) fn into_proto(self) -> pb::ToolDefinition {
        pb::ToolDefinition {
            name: self.name,
            description: self.description,
            parameters_json: self.parameters_json,
        }
    }
}

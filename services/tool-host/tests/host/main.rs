//! The tool host as a process: confinement of exec and MCP servers, and the web tools; one test
//! binary.

mod confinement;
mod support;
mod web;

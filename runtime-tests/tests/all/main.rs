//! One integration-test binary: the real `tsdev` binary over real HTTP.

mod api;
mod cluster;
mod config;
mod dashboard;
mod deploy_files;
mod devloop;
mod errors;
mod hello_server;
mod hostile;
mod invoke;
mod javascript;
mod keyvalue;
mod lifecycle;
mod metrics;
mod orders;
mod outbound;
mod probes;
mod python;
mod rest;
mod schedules;
mod schemathesis;
mod tenants;
mod upgrade;
mod values;
mod wasi_http;
mod workflows;

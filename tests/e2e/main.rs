//! End-to-end tests: the real binary, real plugins, fixture trees.

mod support;

mod cli;
mod dpkg;
mod sandbox;

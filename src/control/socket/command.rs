//! Runtime API commands: parsed from a line, with the level each needs.

//! Parsing and evaluation tests of the ACL engine.

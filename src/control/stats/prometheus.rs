//! stub
pub fn metrics(_p: &super::page::StatsPage) -> String {
    String::new()
}

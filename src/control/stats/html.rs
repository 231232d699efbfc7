//! stub
pub fn page(_p: &super::page::StatsPage) -> String {
    String::new()
}

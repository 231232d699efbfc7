//! stub
pub fn stat_json(_r: &[super::rows::StatRow]) -> String {
    String::new()
}
pub fn stat_typed(_r: &[super::rows::StatRow]) -> String {
    String::new()
}

//! `userlist` sections: `group NAME [users a,b]` and `user NAME (password|insecure-password) X [groups a,b]`.

use super::error::Diagnostics;
use super::lexer::Line;
use super::model::{Group, Password, User, Userlist};

/// Applies one line of a `userlist` section.
pub fn parse_line(list: &mut Userlist, line: &Line, diag: &mut Diagnostics) {
    let at = &line.location;
    let keyword = line.word(0);
    let Some(name) = line.words.get(1).filter(|n| !n.is_empty()) else {
        diag.error(
            at,
            format!("'{keyword}' in userlist '{}' expects a name", list.name),
        );
        return;
    };
    let mut rest = &line.words[2..];
    match keyword {
        "group" => {
            if list.groups.iter().any(|g| &g.name == name) {
                diag.error(
                    at,
                    format!(
                        "group '{name}' is already declared in userlist '{}'",
                        list.name
                    ),
                );
                return;
            }
            let mut users = Vec::new();
            while let Some(option) = rest.first() {
                match (option.as_str(), rest.get(1)) {
                    ("users", Some(names)) => users.extend(split_list(names)),
                    _ => {
                        diag.error(at, format!("'group {name}': unexpected '{option}' (expected 'users <user>,...')"));
                        return;
                    }
                }
                rest = &rest[2..];
            }
            list.groups.push(Group {
                name: name.clone(),
                users,
            });
        }
        "user" => {
            if list.users.iter().any(|u| &u.name == name) {
                diag.error(
                    at,
                    format!(
                        "user '{name}' is already declared in userlist '{}'",
                        list.name
                    ),
                );
                return;
            }
            let mut password = None;
            let mut groups = Vec::new();
            while let Some(option) = rest.first() {
                let Some(value) = rest.get(1) else {
                    diag.error(at, format!("'user {name}': '{option}' expects a value"));
                    return;
                };
                match option.as_str() {
                    "password" => password = Some(Password::Hashed(value.clone())),
                    "insecure-password" => password = Some(Password::Insecure(value.clone())),
                    "groups" => groups.extend(split_list(value)),
                    other => {
                        diag.error(at, format!("'user {name}': unexpected '{other}' (expected password, insecure-password or groups)"));
                        return;
                    }
                }
                rest = &rest[2..];
            }
            let Some(password) = password else {
                diag.error(
                    at,
                    format!(
                        "'user {name}' expects 'password <hash>' or 'insecure-password <password>'"
                    ),
                );
                return;
            };
            list.users.push(User {
                name: name.clone(),
                password,
                groups,
            });
        }
        other => diag.error(
            at,
            format!("unknown keyword '{other}' in 'userlist' section (supported: group, user)"),
        ),
    }
}

fn split_list(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

//! Who may see the stats page and who may act on it: HTTP Basic credentials checked against
//! `stats auth` and `userlist` users, and the `stats http-request auth` / `stats admin`
//! conditions.

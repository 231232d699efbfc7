//! Who may see the stats page and who may act on it: HTTP Basic credentials checked against
//! `stats auth` and `userlist` users, and the `stats http-request auth` / `stats admin`
//! conditions, with HAProxy 2.6's semantics:
//!
//! - `stats http-request auth [realm R] [if|unless COND]` rules run in order and the first
//!   whose condition holds challenges (realm R, else [`DEFAULT_REALM`]);
//! - `stats auth` lines add one last rule, as HAProxy does: challenge (realm `stats realm`,
//!   else [`DEFAULT_REALM`]) unless the credentials match one of them;
//! - with no rule at all the page is open; `stats admin` decides admin rights on its own.
//!
//! HAProxy refuses `stats auth`/`stats realm` together with `stats http-request`; should a
//! configuration get here with both, the `stats auth` rule simply comes after the others.
//! Verifying a crypt(3) hash costs milliseconds (yescrypt also 16 MiB), and a polled page
//! repeats one header, so verdicts are remembered per header value in a small FIFO.

use std::cell::Cell;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::acl::{self, eval::expr_holds, AclExpr, RequestView};
use crate::config::credentials::{parse_basic, password_matches};
use crate::config::{AclRef, AclTest, Condition, Config, ProxyId, Userlist};

/// The realm HAProxy announces when neither the rule nor `stats realm` names one.
pub const DEFAULT_REALM: &str = "HAProxy Statistics";

/// How many verified `Authorization` values are remembered (positive and negative alike).
pub const CACHE_ENTRIES: usize = 64;

/// The outcome of checking one request's credentials against a stats proxy's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Answer 401 with `WWW-Authenticate: Basic realm="<realm>"`.
    Challenge {
        /// The realm to announce.
        realm: String,
    },
    /// Serve the page.
    Granted {
        /// The user whose credentials were valid, if any: for `stats auth` or for a userlist
        /// one of the proxy's ACLs names (the only lists the proxy ever asks about).
        user: Option<String>,
        /// Whether `stats admin` allows this request to change server states.
        admin: bool,
    },
}

/// A stats proxy's access rules compiled from the configuration, with a bounded cache of verified credentials.
#[derive(Debug)]
pub struct StatsAccess {
    /// Only the userlists this proxy's ACLs name: credentials are verified nowhere else.
    userlists: Vec<Userlist>,
    /// `stats auth` pairs: a userlist of its own, as in HAProxy.
    stats_auth: Vec<(String, String)>,
    acls: Vec<(String, Test)>,
    rules: Vec<Rule>,
    admin: Vec<Condition>,
    /// Keyed by a SHA-256 of the header so neither passwords nor huge headers are kept.
    cache: VecDeque<([u8; 32], Option<Verified>)>,
    /// Password comparisons done so far (how tests see that the cache works).
    verifications: u64,
}

#[derive(Debug)]
enum Test {
    /// `http_auth(L)`: index into `userlists`, `None` if the list does not exist.
    Auth(Option<usize>),
    /// `http_auth_group(L) G...`.
    Group(Option<usize>, Vec<String>),
    /// Any other criterion, evaluated by the ACL engine on what the stats page knows of the
    /// request: its client address.
    Expr(Arc<AclExpr>),
}

/// The stats listener hands over only the client's address; every other fetch finds
/// nothing, so such ACLs do not match (their negation does).
struct PeerView(Option<IpAddr>);

impl RequestView for PeerView {
    fn version_minor(&self) -> u8 {
        1
    }
    fn src(&self) -> Option<SocketAddr> {
        self.0.map(|ip| SocketAddr::new(ip, 0))
    }
    fn dst(&self) -> Option<SocketAddr> {
        None
    }
}

#[derive(Debug)]
struct Rule {
    realm: String,
    when: When,
}

#[derive(Debug)]
enum When {
    Always,
    Cond(Condition),
    /// The rule HAProxy derives from `stats auth` lines.
    UnlessStatsAuth,
}

/// What one `Authorization` value proved.
#[derive(Debug, Clone)]
struct Verified {
    user: String,
    /// Per entry of `userlists`: the password is right.
    in_list: Vec<bool>,
    stats_auth: bool,
}

impl Verified {
    fn valid_anywhere(&self) -> bool {
        self.stats_auth || self.in_list.iter().any(|&ok| ok)
    }
}

impl StatsAccess {
    /// Compiles the rules of `proxy`'s stats page.
    pub fn new(config: &Config, proxy: ProxyId) -> Self {
        let Some(px) = config.proxies.get(proxy) else {
            // A caller's bug must not open the page.
            return Self::closed();
        };
        let stats = &px.stats;
        let mut userlists: Vec<Userlist> = Vec::new();
        let mut list_index = |name: &str| {
            if let Some(i) = userlists.iter().position(|l| l.name == name) {
                return Some(i);
            }
            let list = config.userlist(name)?;
            userlists.push(list.clone());
            Some(userlists.len() - 1)
        };
        let acls = px
            .acls
            .iter()
            .map(|acl| {
                let test = match &acl.test {
                    AclTest::HttpAuth { userlist } => Test::Auth(list_index(userlist)),
                    AclTest::HttpAuthGroup { userlist, groups } => {
                        Test::Group(list_index(userlist), groups.clone())
                    }
                    AclTest::Expr(expr) => Test::Expr(Arc::clone(expr)),
                };
                (acl.name.clone(), test)
            })
            .collect();
        let mut rules: Vec<Rule> = stats
            .http_request_auth
            .iter()
            .map(|rule| Rule {
                realm: rule
                    .realm
                    .clone()
                    .unwrap_or_else(|| DEFAULT_REALM.to_string()),
                when: rule.condition.clone().map_or(When::Always, When::Cond),
            })
            .collect();
        if !stats.auth.is_empty() {
            rules.push(Rule {
                realm: stats
                    .realm
                    .clone()
                    .unwrap_or_else(|| DEFAULT_REALM.to_string()),
                when: When::UnlessStatsAuth,
            });
        }
        Self {
            userlists,
            stats_auth: stats.auth.clone(),
            acls,
            rules,
            admin: stats.admin.clone(),
            cache: VecDeque::with_capacity(CACHE_ENTRIES),
            verifications: 0,
        }
    }

    fn closed() -> Self {
        Self {
            userlists: Vec::new(),
            stats_auth: Vec::new(),
            acls: Vec::new(),
            rules: vec![Rule {
                realm: DEFAULT_REALM.to_string(),
                when: When::Always,
            }],
            admin: Vec::new(),
            cache: VecDeque::new(),
            verifications: 0,
        }
    }

    /// `authorization`: the raw value of the request's Authorization header, if any.
    pub fn check(&mut self, authorization: Option<&[u8]>) -> Access {
        self.check_from(authorization, None)
    }

    /// As `check`, for a client at `peer` (HAProxy's predefined `LOCALHOST` ACL looks at it).
    pub fn check_from(&mut self, authorization: Option<&[u8]>, peer: Option<IpAddr>) -> Access {
        let verified = authorization.and_then(|value| self.verify_cached(value));
        let verified = verified.as_ref();
        let request = (verified, peer);
        for rule in &self.rules {
            let applies = match &rule.when {
                When::Always => true,
                When::Cond(cond) => self.holds(cond, request),
                When::UnlessStatsAuth => !verified.is_some_and(|v| v.stats_auth),
            };
            if applies {
                return Access::Challenge {
                    realm: rule.realm.clone(),
                };
            }
        }
        Access::Granted {
            user: verified
                .filter(|v| v.valid_anywhere())
                .map(|v| v.user.clone()),
            // Several `stats admin` lines: any one that holds grants, as in HAProxy.
            admin: self.admin.iter().any(|cond| self.holds(cond, request)),
        }
    }

    fn verify_cached(&mut self, value: &[u8]) -> Option<Verified> {
        let key: [u8; 32] = Sha256::digest(value).into();
        if let Some((_, hit)) = self.cache.iter().find(|(k, _)| *k == key) {
            return hit.clone();
        }
        // A crypt(3) hash costs milliseconds, and the cache does not help against a client
        // that sends a new password each time: past the budget, credentials not seen before
        // are refused unverified (and not cached), so the control thread keeps its time.
        if !CRYPT_BUDGET.with(|b| b.available(Instant::now())) {
            return None;
        }
        let started = Instant::now();
        let verified = parse_basic(value).map(|(user, pass)| self.verify(user, pass));
        CRYPT_BUDGET.with(|b| b.spend(started.elapsed()));
        if self.cache.len() >= CACHE_ENTRIES {
            self.cache.pop_front();
        }
        self.cache.push_back((key, verified.clone()));
        verified
    }

    fn verify(&mut self, user: String, pass: String) -> Verified {
        let mut checks = 0;
        let in_list = self
            .userlists
            .iter()
            .map(|list| {
                list.users.iter().find(|u| u.name == user).is_some_and(|u| {
                    checks += 1;
                    password_matches(&u.password, &pass)
                })
            })
            .collect();
        // Every matching name is compared, so timing does not tell which entry matched.
        let stats_auth = self
            .stats_auth
            .iter()
            .filter(|(name, _)| *name == user)
            .fold(false, |found, (_, expected)| {
                checks += 1;
                bool::from(expected.as_bytes().ct_eq(pass.as_bytes())) | found
            });
        self.verifications += checks;
        Verified {
            user,
            in_list,
            stats_auth,
        }
    }

    fn holds(&self, cond: &Condition, request: (Option<&Verified>, Option<IpAddr>)) -> bool {
        let any = cond.any_of.iter().any(|terms| {
            terms.iter().all(|term| {
                let holds = match &term.acl {
                    AclRef::Named(name) => self.acl(name, request),
                    AclRef::Anonymous(expr) => expr_holds(expr, &PeerView(request.1)),
                };
                holds != term.negated
            })
        });
        any != cond.unless
    }

    /// Lines sharing a name OR together; `TRUE`, `FALSE` and `LOCALHOST` are HAProxy's
    /// predefined ACLs, which a user's own ACL of that name overrides.
    fn acl(&self, name: &str, (verified, peer): (Option<&Verified>, Option<IpAddr>)) -> bool {
        let mut declared = self.acls.iter().filter(|(n, _)| n == name).peekable();
        if declared.peek().is_none() {
            return match name {
                "TRUE" => true,
                // HAProxy's `src 127.0.0.1/8 ::1`.
                "LOCALHOST" => peer.is_some_and(|ip| match ip {
                    IpAddr::V4(v4) => v4.is_loopback(),
                    IpAddr::V6(v6) => {
                        v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
                    }
                }),
                "FALSE" => false,
                // The other predefined ACLs read the request, of which only the peer is
                // known here (parsing them per request is fine at the stats page's rate).
                other => acl::predefined(other).is_some_and(|e| expr_holds(&e, &PeerView(peer))),
            };
        }
        declared.any(|(_, test)| match (test, verified) {
            (Test::Auth(list), Some(v)) => list.is_some_and(|i| v.in_list[i]),
            (Test::Group(list, groups), Some(v)) => list.is_some_and(|i| {
                v.in_list[i]
                    && groups
                        .iter()
                        .any(|g| self.userlists[i].in_group(&v.user, g))
            }),
            (Test::Expr(expr), _) => expr_holds(expr, &PeerView(peer)),
            (_, None) => false,
        })
    }
}

/// Time the control thread may spend verifying new credentials per second (10% of a core).
pub const CRYPT_BUDGET_PER_SECOND: Duration = Duration::from_millis(100);

thread_local! {
    /// Shared by every stats section: they all run on the control thread.
    static CRYPT_BUDGET: CryptBudget = CryptBudget::default();
}

/// A leaky bucket of verification time: what was spent drains at `limit` per second, and
/// a new verification starts only while less than `limit` is owed. One slow hash (longer
/// than a second) is paid back before the next, so the average stays at `limit` per second.
#[derive(Debug)]
struct CryptBudget {
    last: Cell<Option<Instant>>,
    owed: Cell<Duration>,
    limit: Cell<Duration>,
}

impl Default for CryptBudget {
    fn default() -> Self {
        Self {
            last: Cell::new(None),
            owed: Cell::new(Duration::ZERO),
            limit: Cell::new(CRYPT_BUDGET_PER_SECOND),
        }
    }
}

impl CryptBudget {
    fn available(&self, now: Instant) -> bool {
        if let Some(last) = self.last.get() {
            let drained = self
                .limit
                .get()
                .mul_f64(now.saturating_duration_since(last).as_secs_f64());
            self.owed.set(self.owed.get().saturating_sub(drained));
        }
        self.last.set(Some(now));
        self.owed.get() < self.limit.get()
    }

    fn spend(&self, took: Duration) {
        self.owed.set(self.owed.get() + took);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Password;
    use base64::Engine as _;

    /// `openssl passwd -6 -salt saltsalt s3cret`, `-5` and `-1` with the same salt.
    const SHA512: &str = "$6$saltsalt$As4wrv0kZlfch1du9WeH7qhskyLriQWySXrZzynnvi46nFnNxjdpl6ksRegrrKexvhIa/Iny8S8uF3fVWTMuC1";
    const SHA256: &str = "$5$saltsalt$i1q2ZQzc.tl/BQ6CHiENAcVDvEY6nJ1OWlWXKh94b1.";
    const MD5: &str = "$1$saltsalt$RwMqRjSWhXMKbW72DwzGd1";
    /// Python's `crypt.crypt("s3cret", ...)` with libxcrypt, bcrypt cost 4 and yescrypt.
    const BCRYPT: &str = "$2b$04$oHMU5ooqkQbmpaphLv9hSuAtdQiZ4d84TSehMLaFUeJ6MBsUPyEEu";
    const YESCRYPT: &str = "$y$j9T$saltsaltsaltsalt$gIvwkwu59HUpqBIOkVbDR/t2/jSuuzFfOz0l6nwgRw2";

    /// The `userlist` and `listen stats` of the seed configuration.
    const SEED: &str = "\
userlist stats-auth
 group admin users admin
 user admin insecure-password XJsXMFgsr2doAEUg0mCf0
 group readonly users guest
 user guest insecure-password guest

defaults
 mode http
 timeout connect 5000
 timeout client 50000
 timeout server 50000

listen stats
 bind :8000
 mode http
 stats enable
 stats uri /haproxy
 acl AUTH http_auth(stats-auth)
 acl AUTH_ADMIN http_auth_group(stats-auth) admin
 stats http-request auth unless AUTH
 stats admin if AUTH_ADMIN
";

    /// Most tests verify many hashes in a row, slowly in a debug build: the budget is the
    /// subject of one test only.
    fn access(text: &str) -> StatsAccess {
        CRYPT_BUDGET.with(|b| b.limit.set(Duration::from_secs(3600)));
        let config = match crate::config::load_sources(&[("t".into(), text.into())]) {
            Ok(loaded) => loaded.config,
            Err(e) => panic!("config does not load: {e}"),
        };
        let Some(id) = config.proxies.iter().position(|p| p.name == "stats") else {
            panic!("no proxy named stats");
        };
        StatsAccess::new(&config, id)
    }

    /// A stats listen with `body`, after a userlist `L` that has every kind of password.
    fn listen(body: &str) -> StatsAccess {
        access(&format!(
            "userlist L\n group admin users admin\n group readonly users guest\n \
             user admin insecure-password adminpw\n user guest insecure-password guest\n \
             user carol password {SHA512} groups admin\n user dave password {SHA256}\n \
             user erin password {MD5} groups readonly\n\
             listen stats\n bind :1\n mode http\n timeout client 1s\n stats enable\n{body}"
        ))
    }

    fn basic(credentials: &str) -> Vec<u8> {
        let token = base64::engine::general_purpose::STANDARD.encode(credentials);
        format!("Basic {token}").into_bytes()
    }

    fn check(access: &mut StatsAccess, credentials: &str) -> Access {
        access.check(Some(&basic(credentials)))
    }

    fn challenge(realm: &str) -> Access {
        Access::Challenge {
            realm: realm.to_string(),
        }
    }

    fn granted(user: Option<&str>, admin: bool) -> Access {
        Access::Granted {
            user: user.map(str::to_string),
            admin,
        }
    }

    #[test]
    fn a_flood_of_new_passwords_costs_the_control_thread_a_bounded_time() {
        // 20,000 rounds of SHA-512: a few ms per check in release, far more in debug.
        let slow = "$6$rounds=20000$abcdefgh$43ZyvA/sNCkn8aZxxvkki8.WkIk0KB0n.2Y9LXyVNvrsGMKPicv.BHopKmwtaLeR2bGaWpeAOX5V/tzHIoi/w.";
        let mut a = access(&format!(
            "userlist L\n user slow password {slow}\n\
             listen stats\n bind :1\n mode http\n timeout client 1s\n stats enable\n \
             acl AUTH http_auth(L)\n stats http-request auth unless AUTH\n"
        ));
        CRYPT_BUDGET.with(|b| b.limit.set(CRYPT_BUDGET_PER_SECOND));
        let started = Instant::now();
        for i in 0..200 {
            let _ = check(&mut a, &format!("slow:guess{i}"));
        }
        let took = started.elapsed();
        // The budget (100 ms, plus the one check that overran it) was all that was spent.
        assert!(a.verifications < 200, "{} verified", a.verifications);
        let each = took.checked_div(a.verifications as u32).unwrap_or_default();
        assert!(
            took < CRYPT_BUDGET_PER_SECOND + each * 2 + Duration::from_millis(50),
            "{took:?} for {} verifications",
            a.verifications
        );
        // Once the bucket drains, the right password is verified (and then cached).
        let deadline = Instant::now() + Duration::from_secs(30);
        while check(&mut a, "slow:s3cret") != granted(Some("slow"), false) {
            assert!(Instant::now() < deadline, "never verified");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    #[test]
    fn seed_configuration() {
        let mut a = access(SEED);
        assert_eq!(a.check(None), challenge(DEFAULT_REALM));
        assert_eq!(check(&mut a, "guest:guest"), granted(Some("guest"), false));
        assert_eq!(
            check(&mut a, "admin:XJsXMFgsr2doAEUg0mCf0"),
            granted(Some("admin"), true)
        );
        assert_eq!(check(&mut a, "admin:guest"), challenge(DEFAULT_REALM));
        assert_eq!(check(&mut a, "guest:"), challenge(DEFAULT_REALM));
        assert_eq!(check(&mut a, "nobody:guest"), challenge(DEFAULT_REALM));
        // A password holding a colon: only the first one separates the user.
        assert_eq!(check(&mut a, "guest:guest:x"), challenge(DEFAULT_REALM));
    }

    #[test]
    fn malformed_headers_are_no_credentials() {
        let mut a = access(SEED);
        let token = "Z3Vlc3Q6Z3Vlc3Q="; // guest:guest
        for ok in [
            format!("Basic {token}"),
            format!("basic {token}"),
            format!("BASIC {token}"),
            format!("Basic   {token}"),
            format!(" \tBasic {token} \t"),
        ] {
            assert_eq!(
                a.check(Some(ok.as_bytes())),
                granted(Some("guest"), false),
                "{ok:?}"
            );
        }
        let huge = format!("Basic {}", "QUFB".repeat(100_000));
        let bad: Vec<Vec<u8>> = vec![
            format!("Basic\t{token}").into_bytes(),
            format!("Basic {token}=").into_bytes(),
            b"Basic Z3Vlc3Q6Z3Vlc3Q".to_vec(),
            b"Basic !!!!".to_vec(),
            basic("guestguest"),
            basic(""),
            b"Basic".to_vec(),
            b"Basic ".to_vec(),
            b"".to_vec(),
            b"   ".to_vec(),
            format!("Bearer {token}").into_bytes(),
            format!("Digest {token}").into_bytes(),
            b"Basic /+/+".to_vec(),
            b"\xff\xfe Basic".to_vec(),
            huge.into_bytes(),
        ];
        for value in &bad {
            assert_eq!(
                a.check(Some(value)),
                challenge(DEFAULT_REALM),
                "{:?}",
                String::from_utf8_lossy(&value[..value.len().min(40)])
            );
        }
        // Valid base64 of bytes that are not UTF-8.
        let latin1 = base64::engine::general_purpose::STANDARD.encode(b"gu\xe9st:guest");
        let value = format!("Basic {latin1}");
        assert_eq!(a.check(Some(value.as_bytes())), challenge(DEFAULT_REALM));
    }

    #[test]
    fn hashed_passwords() {
        let mut a =
            listen(" acl AUTH http_auth(L)\n stats http-request auth realm R unless AUTH\n");
        for user in ["carol", "dave", "erin"] {
            assert_eq!(
                check(&mut a, &format!("{user}:s3cret")),
                granted(Some(user), false)
            );
            assert_eq!(check(&mut a, &format!("{user}:s3cre")), challenge("R"));
            assert_eq!(check(&mut a, &format!("{user}:s3cret ")), challenge("R"));
        }
        for hash in [BCRYPT, YESCRYPT] {
            let stored = Password::Hashed(hash.to_string());
            assert!(password_matches(&stored, "s3cret"), "{hash}");
            assert!(!password_matches(&stored, "s3cre"), "{hash}");
        }
        for broken in ["$2y$05$xx", "$y$xx", "$6$", "$1$", "s3cret", ""] {
            assert!(!password_matches(
                &Password::Hashed(broken.into()),
                "s3cret"
            ));
            assert!(!password_matches(&Password::Hashed(broken.into()), ""));
        }
    }

    #[test]
    fn stats_auth_only() {
        let mut a = listen(" stats auth sa:sapw\n stats auth x:a:b\n");
        assert_eq!(a.check(None), challenge(DEFAULT_REALM));
        assert_eq!(check(&mut a, "sa:sapw"), granted(Some("sa"), false));
        assert_eq!(check(&mut a, "x:a:b"), granted(Some("x"), false));
        assert_eq!(check(&mut a, "sa:sap"), challenge(DEFAULT_REALM));
        // Userlist users are not `stats auth` users.
        assert_eq!(check(&mut a, "guest:guest"), challenge(DEFAULT_REALM));

        let mut a = listen(" stats auth sa:sapw\n stats realm My\\ Stats\n stats admin if TRUE\n");
        assert_eq!(a.check(None), challenge("My Stats"));
        assert_eq!(check(&mut a, "sa:sapw"), granted(Some("sa"), true));
    }

    #[test]
    fn open_access() {
        let mut a = listen(" stats realm Foo\n");
        assert_eq!(a.check(None), granted(None, false));
        // No ACL names userlist L here, so nobody is authenticated against it.
        assert_eq!(check(&mut a, "guest:guest"), granted(None, false));
        assert_eq!(a.verifications, 0);
        let mut a = listen(" acl AUTH http_auth(L)\n stats admin if AUTH\n");
        assert_eq!(check(&mut a, "guest:guest"), granted(Some("guest"), true));
        assert_eq!(check(&mut a, "guest:nope"), granted(None, false));

        let mut a = listen(" stats admin if TRUE\n");
        assert_eq!(a.check(None), granted(None, true));
        // LOCALHOST looks at the client's address.
        let mut a = listen(" stats admin if LOCALHOST\n");
        let local: IpAddr = "127.0.0.2".parse().unwrap();
        let remote: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(a.check_from(None, Some(local)), granted(None, true));
        assert_eq!(
            a.check_from(None, Some("::1".parse().unwrap())),
            granted(None, true)
        );
        assert_eq!(a.check_from(None, Some(remote)), granted(None, false));
        assert_eq!(a.check(None), granted(None, false));
        // Several `stats admin` lines OR together (HAProxy 2.6 gave the readonly guest
        // admin rights through the first line).
        let mut a = listen(
            " acl GUEST http_auth_group(L) readonly\n acl ADMIN http_auth_group(L) admin\n stats admin if GUEST\n stats admin if ADMIN\n",
        );
        assert_eq!(check(&mut a, "guest:guest"), granted(Some("guest"), true));
        assert_eq!(check(&mut a, "admin:adminpw"), granted(Some("admin"), true));
        assert_eq!(check(&mut a, "dave:s3cret"), granted(Some("dave"), false));
        let mut a = listen(" stats http-request auth if FALSE\n stats admin unless FALSE\n");
        assert_eq!(a.check(None), granted(None, true));
        // A declared ACL shadows the predefined one of the same name.
        let mut a = listen(" acl TRUE http_auth(L)\n stats admin if TRUE\n");
        assert_eq!(a.check(None), granted(None, false));
        assert_eq!(check(&mut a, "guest:guest"), granted(Some("guest"), true));
        let mut a = listen(" stats http-request auth\n");
        assert_eq!(check(&mut a, "guest:guest"), challenge(DEFAULT_REALM));
    }

    #[test]
    fn groups_from_either_side() {
        let mut a = listen(
            " acl AUTH http_auth(L)\n acl ADMIN http_auth_group(L) admin\n \
             acl GUEST http_auth_group(L) readonly\n \
             stats http-request auth unless ADMIN || GUEST\n stats admin if AUTH !GUEST\n",
        );
        assert_eq!(check(&mut a, "guest:guest"), granted(Some("guest"), false));
        assert_eq!(check(&mut a, "erin:s3cret"), granted(Some("erin"), false));
        assert_eq!(check(&mut a, "admin:adminpw"), granted(Some("admin"), true));
        assert_eq!(check(&mut a, "carol:s3cret"), granted(Some("carol"), true));
        // dave is valid but in no group.
        assert_eq!(check(&mut a, "dave:s3cret"), challenge(DEFAULT_REALM));
        assert_eq!(a.check(None), challenge(DEFAULT_REALM));
    }

    #[test]
    fn first_matching_rule_answers() {
        let mut a = listen(
            " acl AUTH http_auth(L)\n acl ADMIN http_auth_group(L) admin\n \
             stats http-request auth realm A if ADMIN\n \
             stats http-request auth realm B unless AUTH\n",
        );
        assert_eq!(a.check(None), challenge("B"));
        assert_eq!(check(&mut a, "admin:adminpw"), challenge("A"));
        assert_eq!(check(&mut a, "guest:guest"), granted(Some("guest"), false));
        assert_eq!(check(&mut a, "guest:x"), challenge("B"));
    }

    #[test]
    fn acl_lines_sharing_a_name_or_together() {
        let mut a = listen(
            " acl OK http_auth_group(L) readonly\n acl OK http_auth_group(L) admin\n \
             stats http-request auth unless OK\n",
        );
        assert_eq!(check(&mut a, "guest:guest"), granted(Some("guest"), false));
        assert_eq!(
            check(&mut a, "admin:adminpw"),
            granted(Some("admin"), false)
        );
        assert_eq!(check(&mut a, "dave:s3cret"), challenge(DEFAULT_REALM));
    }

    #[test]
    fn cache_hit_does_not_verify_again() {
        let mut a = listen(" acl AUTH http_auth(L)\n stats http-request auth unless AUTH\n");
        assert_eq!(check(&mut a, "carol:s3cret"), granted(Some("carol"), false));
        assert_eq!(a.verifications, 1);
        for _ in 0..10 {
            assert_eq!(check(&mut a, "carol:s3cret"), granted(Some("carol"), false));
            assert_eq!(check(&mut a, "carol:wrong"), challenge(DEFAULT_REALM));
        }
        assert_eq!(a.verifications, 2, "negative results are cached too");
        // An unknown user costs no password comparison at all.
        check(&mut a, "nobody:x");
        assert_eq!(a.verifications, 2);
    }

    #[test]
    fn cache_stays_bounded() {
        let mut a = listen(" acl AUTH http_auth(L)\n stats http-request auth unless AUTH\n");
        for i in 0..1000 {
            check(&mut a, &format!("guest:attempt{i}"));
            assert!(a.cache.len() <= CACHE_ENTRIES);
        }
        assert_eq!(a.cache.len(), CACHE_ENTRIES);
        let before = a.verifications;
        // The oldest entries were evicted: asking again verifies again.
        check(&mut a, "guest:attempt0");
        assert_eq!(a.verifications, before + 1);
        check(&mut a, "guest:attempt999");
        assert_eq!(a.verifications, before + 1);
    }

    #[test]
    fn missing_proxy_is_closed() {
        let config = match crate::config::load_sources(&[("t".into(), "".into())]) {
            Ok(loaded) => loaded.config,
            Err(e) => panic!("{e}"),
        };
        let mut a = StatsAccess::new(&config, 7);
        assert_eq!(a.check(None), challenge(DEFAULT_REALM));
        assert_eq!(check(&mut a, "x:y"), challenge(DEFAULT_REALM));
    }
}

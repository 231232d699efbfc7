//! Parsing and evaluation tests of the ACL engine, and its agreement with HAProxy's
//! recorded verdicts (`haproxy_cases.txt`).

use std::net::SocketAddr;
use std::sync::Arc;

use super::eval::{path_of, query_of};
use super::parse::ParsedExpr;
use super::*;
use crate::config::lexer::tokenize;
use crate::config::model::{Acl, AclRef, AclTest, Condition, Location};
use crate::config::{load_sources, ConfigErrors, Loaded};

/// A request as the tests write it: a raw head, from 127.0.0.1 to 127.0.0.1:18099.
struct TestView {
    method: Vec<u8>,
    uri: Vec<u8>,
    minor: u8,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    src: SocketAddr,
    dst: SocketAddr,
    len: u64,
    tls: bool,
}

impl TestView {
    fn new(head: &str) -> Self {
        let mut lines = head.lines();
        let first = lines.next().unwrap_or("");
        let mut parts = first.split(' ');
        let method = parts.next().unwrap_or("").as_bytes().to_vec();
        let uri = parts.next().unwrap_or("").as_bytes().to_vec();
        let minor = u8::from(parts.next() != Some("HTTP/1.0"));
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.as_bytes().to_vec(), v.trim().as_bytes().to_vec()))
            .collect();
        Self {
            method,
            uri,
            minor,
            headers,
            src: "127.0.0.1:40000".parse().unwrap(),
            dst: "127.0.0.1:18099".parse().unwrap(),
            len: head.len() as u64 + 4,
            tls: false,
        }
    }
}

impl RequestView for TestView {
    fn method(&self) -> &[u8] {
        &self.method
    }
    fn uri(&self) -> &[u8] {
        &self.uri
    }
    fn version_minor(&self) -> u8 {
        self.minor
    }
    fn for_each_header<'s>(&'s self, visit: &mut dyn FnMut(&'s [u8], &'s [u8]) -> bool) -> bool {
        self.headers.iter().any(|(n, v)| visit(n, v))
    }
    fn src(&self) -> Option<SocketAddr> {
        Some(self.src)
    }
    fn dst(&self) -> Option<SocketAddr> {
        Some(self.dst)
    }
    fn request_len(&self) -> u64 {
        self.len
    }
    fn is_tls(&self) -> bool {
        self.tls
    }
}

fn words(s: &str) -> Vec<String> {
    let file: Arc<str> = Arc::from("t");
    let (lines, errors) = tokenize(&file, s);
    assert!(errors.is_empty(), "{errors:?}");
    lines
        .into_iter()
        .next()
        .map(|l| l.words)
        .unwrap_or_default()
}

fn parse(s: &str) -> Result<ParsedExpr, AclError> {
    parse_acl_expr(&words(s))
}

fn expr(s: &str) -> AclExpr {
    match parse(s) {
        Ok(p) => p.expr,
        Err(e) => panic!("{s}: {e}"),
    }
}

/// Whether the expression `s` holds for the request `head`.
fn holds(s: &str, head: &str) -> bool {
    eval::expr_holds(&expr(s), &TestView::new(head))
}

fn at() -> Location {
    Location {
        file: Arc::from("t"),
        line: 1,
    }
}

fn acl(name: &str, s: &str) -> Acl {
    Acl {
        name: name.to_string(),
        test: AclTest::Expr(Arc::new(expr(s))),
        location: at(),
    }
}

fn cond(s: &str) -> Condition {
    parse_condition(&words(s)).unwrap().unwrap()
}

const GET: &str = "GET /api/v1/users?id=42&lang=en;x=y HTTP/1.1\n\
                   Host: www.Example.com:8080\n\
                   Accept: text/html, application/json;q=0.9, \"a,b\"\n\
                   Cookie: sid=abc; theme = dark\n\
                   Cookie: sid=def\n\
                   User-Agent: curl/8.0, like x\n\
                   Content-Length: 12\n\
                   X-Forwarded-For: 10.1.2.3, 2001:db8::1";

#[test]
fn haproxy_recorded_verdicts() {
    let text = include_str!("haproxy_cases.txt");
    let mut acls: Vec<Acl> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut head: Vec<&str> = Vec::new();
    let mut checked = 0;
    for line in text.lines() {
        if line.starts_with("acl ") {
            let w = words(line);
            let parsed = parse_acl_expr(&w[2..]).unwrap_or_else(|e| panic!("{line}: {e}"));
            if !names.contains(&w[1]) {
                names.push(w[1].clone());
            }
            acls.push(Acl {
                name: w[1].clone(),
                test: AclTest::Expr(Arc::new(parsed.expr)),
                location: at(),
            });
        } else if let Some(rest) = line.strip_prefix("predefined ") {
            names.extend(rest.split_whitespace().map(String::from));
        } else if let Some(h) = line.strip_prefix("> ") {
            head.push(h);
        } else if let Some(expected) = line.strip_prefix('=') {
            let view = TestView::new(&head.join("\n"));
            let ours: Vec<&str> = names
                .iter()
                .filter(|n| CompiledAcl::named(n, &acls).unwrap().holds(&view))
                .map(String::as_str)
                .collect();
            let theirs: Vec<&str> = expected.split_whitespace().collect();
            assert_eq!(ours, theirs, "request {:?}", head.first());
            head.clear();
            checked += 1;
        }
    }
    assert_eq!(checked, 8);
}

#[test]
fn every_fetch_parses_with_its_type() {
    let cases: &[(&str, SampleType)] = &[
        ("always_true", SampleType::Bool),
        ("always_false", SampleType::Bool),
        ("wait_end", SampleType::Bool),
        ("req.proto_http", SampleType::Bool),
        ("ssl_fc", SampleType::Bool),
        ("int(3)", SampleType::Int),
        ("str(x)", SampleType::Str),
        ("path", SampleType::Str),
        ("url", SampleType::Str),
        ("query", SampleType::Str),
        ("base", SampleType::Str),
        ("url_param(a)", SampleType::Str),
        ("urlp(a,;)", SampleType::Str),
        ("urlp", SampleType::Str),
        ("hdr(host)", SampleType::Str),
        ("hdr(host,-1)", SampleType::Str),
        ("hdr", SampleType::Str),
        ("req.hdr(host)", SampleType::Str),
        ("req.fhdr(user-agent,1)", SampleType::Str),
        ("hdr_cnt(accept)", SampleType::Int),
        ("req.hdr_cnt", SampleType::Int),
        ("req.fhdr_cnt(accept)", SampleType::Int),
        ("hdr_val(content-length)", SampleType::Int),
        ("req.hdr_val(content-length,1)", SampleType::Int),
        ("cook(sid)", SampleType::Str),
        ("req.cook", SampleType::Str),
        ("cook_cnt(sid)", SampleType::Int),
        ("req.cook_cnt", SampleType::Int),
        ("method", SampleType::Meth),
        ("req.ver", SampleType::Str),
        ("req_ver", SampleType::Str),
        ("req.len", SampleType::Int),
        ("req_len", SampleType::Int),
        ("src", SampleType::Ip),
        ("src_port", SampleType::Int),
        ("dst", SampleType::Ip),
        ("dst_port", SampleType::Int),
    ];
    for (criterion, ty) in cases {
        let e = expr(&format!("{criterion} --"));
        assert_eq!(e.fetch.output(), *ty, "{criterion}");
    }
    assert_eq!(expr("method GET").method, MatchMethod::Meth);
    assert_eq!(expr("src 1.2.3.4").method, MatchMethod::Ip);
    assert_eq!(expr("dst_port 80").method, MatchMethod::Int);
    assert_eq!(expr("ssl_fc").method, MatchMethod::Bool);
    assert_eq!(expr("path /").method, MatchMethod::Str);
}

#[test]
fn acl_only_forms_imply_their_method() {
    let methods = [
        ("_beg", MatchMethod::Beg),
        ("_dir", MatchMethod::Dir),
        ("_dom", MatchMethod::Dom),
        ("_end", MatchMethod::End),
        ("_len", MatchMethod::Len),
        ("_reg", MatchMethod::Reg),
        ("_sub", MatchMethod::Sub),
    ];
    for base in ["path", "url", "base", "hdr(host)", "cook(a)", "urlp(a)"] {
        let (name, args) = base.split_once('(').map_or((base, ""), |(n, a)| (n, a));
        for (suffix, method) in methods {
            let criterion = if args.is_empty() {
                format!("{name}{suffix}")
            } else {
                format!("{name}{suffix}({args}")
            };
            let e = expr(&format!("{criterion} 1"));
            assert_eq!(e.method, method, "{criterion}");
        }
    }
    // `-m` overrides the implied method; a converter makes it moot (the output type decides).
    assert_eq!(expr("hdr_dom(host) -m beg www.").method, MatchMethod::Beg);
    assert_eq!(expr("path_beg,lower /a").method, MatchMethod::Str);
    assert_eq!(expr("path_beg,length 3").method, MatchMethod::Int);
    // HAProxy 2.6 has no `req.cook_beg` nor `req.hdr_beg`.
    for unknown in ["req.cook_beg(x) y", "req.hdr_beg(x) y", "query_beg x"] {
        assert!(
            matches!(parse(unknown), Err(AclError::UnknownFetch { .. })),
            "{unknown}"
        );
    }
}

#[test]
fn flags() {
    let e = expr("hdr(host) -i Example.COM");
    assert!(e.patterns.match_str(b"example.com"));
    let e = expr("path -m beg /a /b");
    assert_eq!((e.method, e.patterns.len()), (MatchMethod::Beg, 2));
    // `--` ends the flags, so `-i` is a pattern.
    let e = expr("path -- -i");
    assert!(e.patterns.match_str(b"-i") && !e.patterns.match_str(b"-I"));
    // `-i` after the first pattern is a pattern too.
    let e = expr("path /a -i");
    assert_eq!(e.patterns.len(), 2);
    let e = expr("src -n -u 7 127.0.0.1");
    assert_eq!(e.patterns.len(), 1);
    for m in [
        "found", "bool", "int", "ip", "str", "beg", "end", "sub", "reg", "dom", "dir", "len",
    ] {
        let e = expr(&format!("hdr(x) -m {m} --"));
        assert_eq!(e.method.name(), m);
    }
    assert_eq!(
        parse("path -m nosuch x").unwrap_err(),
        AclError::UnknownMethod("nosuch".into())
    );
    assert_eq!(
        parse("path -m").unwrap_err().to_string(),
        "missing argument after '-m'"
    );
    assert_eq!(
        parse("path -x a").unwrap_err().to_string(),
        "'-x' is not a valid ACL option. Please use '--' before any pattern beginning with a '-'."
    );
    assert!(matches!(parse("path -M -f x"), Err(AclError::Flag(_))));
    assert!(matches!(parse("path -m bin 00"), Err(AclError::Flag(_))));
    assert!(matches!(
        parse("dst_port -m ip 1.2.3.4"),
        Err(AclError::IncompatibleMethod { .. })
    ));
}

#[test]
fn pattern_files() {
    let dir = std::env::temp_dir().join(format!("ringlb-acl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exact = dir.join("exact.lst");
    std::fs::write(
        &exact,
        "# comment\n\n  /Exact\r\n /x\t\n # kept: leading blank\n",
    )
    .unwrap();
    let generic = dir.join("generic.lst");
    std::fs::write(&generic, "/GENERIC\n").unwrap();
    let (e, g) = (exact.display(), generic.display());
    // `-i` applies to what follows it only, as in HAProxy's example.
    let p = expr(&format!("path -f {e} -i -f {g} /Test"));
    assert_eq!(p.patterns.len(), 5);
    assert!(p.patterns.match_str(b"/Exact") && !p.patterns.match_str(b"/exact"));
    assert!(p.patterns.match_str(b"/x\t"));
    assert!(p.patterns.match_str(b"# kept: leading blank"));
    assert!(p.patterns.match_str(b"/generic") && p.patterns.match_str(b"/test"));
    // No warning: patterns came from a file, even an empty one.
    let empty = dir.join("empty.lst");
    std::fs::write(&empty, "# nothing\n").unwrap();
    assert!(parse(&format!("path -f {}", empty.display()))
        .unwrap()
        .warning
        .is_none());
    // Errors name the file and line.
    let bad = dir.join("bad.lst");
    std::fs::write(&bad, "10.0.0.0/8\n# c\nnot-an-ip\n").unwrap();
    let err = parse(&format!("src -f {}", bad.display())).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "'not-an-ip' is not a valid IPv4 or IPv6 address. (file '{}' line 3)",
            bad.display()
        )
    );
    let regex = dir.join("re.lst");
    std::fs::write(&regex, "^/ok\n(\n").unwrap();
    let err = parse(&format!("path -m reg -f {}", regex.display())).unwrap_err();
    assert!(matches!(err, AclError::InFile { line: 2, .. }), "{err}");
    assert_eq!(
        parse("path -f /nonexistent/x.lst").unwrap_err().to_string(),
        "failed to open pattern file </nonexistent/x.lst>."
    );
    // `-m` after `-f` is refused, as HAProxy does.
    assert!(parse(&format!("path -f {e} -m beg")).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn parse_errors_as_haproxy_words_them() {
    let err = |s: &str| parse(s).unwrap_err().to_string();
    assert_eq!(
        err("foo /x"),
        "unknown fetch method 'foo' in ACL expression 'foo'."
    );
    assert_eq!(
        err("hdr(host),nosuchconv foo"),
        "ACL keyword 'hdr' : unknown converter 'nosuchconv'."
    );
    assert!(err("path_reg (").starts_with("regex '(' is invalid ("));
    assert_eq!(
        err("src 1.2.3.4/40"),
        "'1.2.3.4/40' is not a valid IPv4 or IPv6 address."
    );
    assert_eq!(err("dst_port 1:x"), "'1:x' is not a valid number range.");
    assert!(err("path,field(x,/) a").contains("failed to parse 'x' as type 'integer'"));
    assert!(err("path(x) a").contains("takes no argument"));
    assert!(err("hdr(a,1,2) a").contains("at most 2 arguments"));
    assert!(err("hdr(a a").contains("missing closing ')'"));
    assert!(err("int x").contains("exactly 1 argument"));
    assert!(err("urlp(a,xy) 1").contains("one character"));
    assert!(err("path,regsub(a,b,q) x").contains("invalid regex flag 'q'"));
    assert!(err("path,regsub([,b) x").starts_with("regex '[' is invalid"));
    assert!(err("path,field(0,/) x").contains("must not be 0"));
    assert!(err("path,lower(1) x").contains("takes no argument"));
    assert!(err("path,,lower x").contains("missing fetch or converter name"));
    assert!(err("").contains("missing ACL criterion"));
    // No pattern: HAProxy's warning, silenced by `--` or a method that needs none.
    let w = parse("path_beg").unwrap().warning.unwrap();
    assert!(
        w.contains("'path_beg'") && w.contains("will never match"),
        "{w}"
    );
    assert!(parse("path_beg --").unwrap().warning.is_none());
    assert!(parse("hdr(x) -m found").unwrap().warning.is_none());
    assert!(parse("ssl_fc").unwrap().warning.is_none());
    assert!(parse::check_name("a-b_c.d:e9").is_ok());
    assert!(parse::check_name("a b").is_err());
}

#[test]
fn every_converter() {
    let h = "GET /Api/V1/x.PNG?a=b HTTP/1.1\nHost: WWW.Example.com:8080\nX: 42";
    let cases = [
        "path,lower /api/v1/x.png",
        "path,upper /API/V1/X.PNG",
        "hdr(host),host_only www.example.com",
        "hdr(host),port_only 8080",
        "path,length 13",
        "path,field(2,/) Api",
        "path,field(-1,/) x.PNG",
        "path,field(2,/,2) Api/V1",
        "path,field(2,/,0) Api/V1/x.PNG",
        "path,field(-2,/,0) /Api/V1",
        "path,word(1,/) Api",
        "path,word(-1,/,2) V1/x.PNG",
        "path,ltrim(/A) pi/V1/x.PNG",
        "path,rtrim(GNP.) /Api/V1/x",
        "url,url_dec /Api/V1/x.PNG?a=b",
        r#"path,regsub(\"^/([A-Za-z]+)/\",\"/\\1-\",i) /Api-V1/x.PNG"#,
        "path,regsub(/,|,g) |Api|V1|x.PNG",
        "path,regsub(v1,vv,i) /Api/vv/x.PNG",
        "hdr(x),bool -m bool",
        "hdr(x),not,bool -m int 0",
        "path,lower,field(3,/),upper V1",
    ];
    for c in cases {
        assert!(holds(c, h), "{c}");
    }
    assert!(holds("path,field(9,/) -m len 0", h));
    assert!(holds("hdr(host),host_only,length 15", h));
    assert!(holds("str([::1]:80),host_only [::1]", h));
    assert!(holds("str([::1]:80),port_only 80", h));
    assert!(holds("str(host),port_only 0", h));
    assert!(holds("str(a+b%2Fc?d+e),url_dec a+b/c?d\\ e", h));
    assert!(holds("str(a+b),url_dec(1) a\\ b", h));
    assert!(holds("str(f1_f2_f3__f5),field(5,_) f5", h));
    assert!(holds("str(f1_f2_f3__f5),field(2,_,2) f2_f3", h));
    assert!(holds("str(f1_f2_f3__f5),field(-2,_,3) f2_f3_", h));
    assert!(holds("str(f1_f2_f3__f5),field(-3,_,0) f1_f2_f3", h));
    assert!(holds("str(f1_f2_f3__f5),word(4,_) f5", h));
    assert!(holds("str(f1_f2_f3__f5),word(3,_,2) f3__f5", h));
    assert!(holds("str(f1_f2_f3__f5),word(-2,_,3) f1_f2_f3", h));
    assert!(holds("str(f1_f2_f3__f5),word(-3,_,0) f1_f2", h));
    assert!(holds("str(/f1/f2/f3/f4),word(1,/) f1", h));
    // Past the inline buffer, converters spill to the heap and still work.
    let long = format!("GET /{} HTTP/1.1", "A".repeat(300));
    assert!(holds(&format!("path,lower /{}", "a".repeat(300)), &long));
    assert!(holds("path,lower,length 301", &long));
    assert!(holds("int(7),lower 7", h));
    assert!(holds("src,lower 127.0.0.1", h));
}

#[test]
fn fetch_semantics() {
    let h = GET;
    // Path, query and URL as sent: no decoding.
    assert!(holds("path /api/v1/users", h));
    assert!(holds("query id=42&lang=en;x=y", h));
    assert!(holds("url_param(id) 42", h));
    assert!(holds("url_param(x) y", h));
    assert!(holds("urlp(lang) en", h));
    assert!(!holds("url_param(ID) 42", h));
    assert!(holds("urlp en", h));
    assert!(holds("urlp(b,/) c", "GET /a/b=c HTTP/1.1"));
    assert!(!holds("query -m found", "GET /a HTTP/1.1"));
    assert!(holds("query -m found", "GET /a? HTTP/1.1"));
    assert!(holds("query -m len 0", "GET /a? HTTP/1.1"));
    assert!(holds("path /a%20b", "GET /a%20b HTTP/1.1"));
    assert!(!holds("path -m found", "GET http://h HTTP/1.1"));
    assert!(holds("path /p", "GET http://h/p?q HTTP/1.1"));
    // Base: the first Host value, then the path.
    assert!(holds("base www.Example.com:8080/api/v1/users", h));
    assert!(holds("base /x", "GET /x?y HTTP/1.1"));
    // Headers: every comma-separated value (quoted strings kept), names without case.
    assert!(holds("hdr(accept) application/json;q=0.9", h));
    assert!(holds(r#"hdr(ACCEPT) '"a,b"'"#, h));
    assert!(holds("hdr(accept,1) text/html", h));
    assert!(holds(r#"hdr(accept,-1) '"a,b"'"#, h));
    assert!(!holds("hdr(accept,4) -m found", h));
    assert!(!holds("hdr(accept,-4) -m found", h));
    assert!(holds("hdr_cnt(accept) 3", h));
    assert!(holds("req.fhdr_cnt(accept) 1", h));
    assert!(holds("req.fhdr(user-agent) curl/8.0,\\ like\\ x", h));
    assert!(holds("hdr(user-agent) like\\ x", h));
    assert!(holds("hdr_cnt 11", h));
    assert!(holds("hdr 12", h) && holds("hdr(x-forwarded-for) -m ip 2001:db8::/32", h));
    assert!(holds("hdr_val(content-length) gt 10", h));
    assert!(holds("hdr_cnt(nosuch) 0", h));
    assert!(!holds("hdr(nosuch) -m found", h));
    // Cookies: every Cookie line, spaces around names and values ignored.
    assert!(holds("cook(sid) def", h) && holds("cook(sid) abc", h));
    assert!(holds("cook(theme) dark", h));
    assert!(holds("cook_cnt(sid) 2", h) && holds("cook_cnt 3", h));
    assert!(holds("cook abc", h) && holds("cook dark", h) && !holds("cook sid", h));
    assert!(!holds("cook(SID) abc", h));
    // Connection.
    assert!(holds("src 127.0.0.1", h) && holds("src_port 40000", h));
    assert!(holds("dst 127.0.0.0/8", h) && holds("dst_port 18099", h));
    assert!(!holds("ssl_fc", h));
    let mut tls = TestView::new(h);
    tls.tls = true;
    assert!(eval::expr_holds(&expr("ssl_fc"), &tls));
    assert!(holds("req.len gt 100", h));
    assert!(holds("req.ver 1.1", h) && holds("req.ver 1.0", "GET / HTTP/1.0"));
    assert!(holds("always_true", h) && !holds("always_false", h));
    assert!(holds("int(5) 5", h) && holds("str(abc) abc", h));
    assert!(holds("str(12) -m int 12", h) && holds("str(12x) -m int 12", h));
    assert!(!holds("str(x) -m int 0", h));
    assert!(holds("str(1) -m bool", h) && !holds("str(0) -m bool", h));
    assert!(holds("int(1) -m str 1", h));
    assert!(holds("method -m str GET", h) && holds("method -m beg G", h));
    assert!(holds("path,length -m int gt 5", h));
    assert_eq!(query_of(b"/a?b?c"), Some(&b"b?c"[..]));
    assert_eq!(path_of(b"*"), None);
    assert_eq!(path_of(b"host:443"), None);
    assert_eq!(path_of(b"https://h:1/p?q"), Some(&b"/p"[..]));
}

#[test]
fn matchers_through_the_engine() {
    let h = "GET /images/png/logo.png HTTP/1.1\nHost: www1.dc-eu.example.com:80";
    assert!(holds("path_dir png", h) && !holds("path_dir logo", h));
    assert!(holds("hdr_dom(host) example", h) && !holds("hdr_dom(host) eu", h));
    assert!(holds("path_len 20", h) && holds("path_len 15:30", h));
    assert!(holds("path_reg ^/images/[a-z]+/", h) && !holds("path_reg ^/IMAGES", h));
    assert!(holds("path_reg -i ^/IMAGES", h));
    assert!(holds("path_sub -i LOGO", h) && !holds("path_sub LOGO", h));
    assert!(holds("hdr(host) -i -m dom DC-EU", h));
    assert!(holds("hdr_end(host) :80", h) && holds("hdr_beg(host) www1.", h));
    assert!(!holds("path_beg", h));
    assert!(holds("path -m found", h) && holds("path -m found x", h));
    assert!(holds(
        "hdr(host) -m ip 10.0.0.0/8",
        "GET / HTTP/1.1\nHost: 10.1.1.1"
    ));
    assert!(!holds("hdr(host) -m ip 10.0.0.0/8", h));
}

#[test]
fn methods() {
    for (m, yes, no) in [
        ("GET", "method GET HEAD", "method POST"),
        ("HEAD", "method GET HEAD", "method get"),
        ("PURGE", "method PURGE", "method purge"),
        ("PURGE", "method -i purge", "method GET"),
        ("purge", "method purge", "method PURGE"),
    ] {
        let h = format!("{m} / HTTP/1.1");
        assert!(holds(yes, &h), "{m} {yes}");
        assert!(!holds(no, &h), "{m} {no}");
    }
}

#[test]
fn predefined_acls() {
    let all = [
        "TRUE",
        "FALSE",
        "HTTP",
        "HTTP_1.0",
        "HTTP_1.1",
        "HTTP_2.0",
        "HTTP_CONTENT",
        "HTTP_URL_ABS",
        "HTTP_URL_SLASH",
        "HTTP_URL_STAR",
        "LOCALHOST",
        "METH_CONNECT",
        "METH_DELETE",
        "METH_GET",
        "METH_HEAD",
        "METH_OPTIONS",
        "METH_POST",
        "METH_PUT",
        "METH_TRACE",
        "REQ_CONTENT",
        "RDP_COOKIE",
        "WAIT_END",
    ];
    for name in all {
        assert!(predefined(name).is_some(), "{name}");
    }
    assert_eq!(PREDEFINED.len(), all.len());
    assert!(predefined("true").is_none());
    let check = |name: &str, head: &str| {
        CompiledAcl::named(name, &[])
            .unwrap()
            .holds(&TestView::new(head))
    };
    assert!(check("REQ_CONTENT", "GET / HTTP/1.1"));
    let mut empty = TestView::new("GET / HTTP/1.1");
    empty.len = 0;
    assert!(!CompiledAcl::named("REQ_CONTENT", &[])
        .unwrap()
        .holds(&empty));
    assert!(check("HTTP_CONTENT", "POST / HTTP/1.1\nContent-Length: 1"));
    assert!(!check("HTTP_CONTENT", "POST / HTTP/1.1\nContent-Length: 0"));
    assert!(check("METH_CONNECT", "CONNECT h:443 HTTP/1.1"));
    assert!(check("METH_PUT", "PUT / HTTP/1.1") && check("METH_TRACE", "TRACE / HTTP/1.1"));
    assert!(check("LOCALHOST", "GET / HTTP/1.1"));
    let mut remote = TestView::new("GET / HTTP/1.1");
    remote.src = "192.0.2.1:1".parse().unwrap();
    assert!(!CompiledAcl::named("LOCALHOST", &[]).unwrap().holds(&remote));
    remote.src = "[::1]:1".parse().unwrap();
    assert!(CompiledAcl::named("LOCALHOST", &[]).unwrap().holds(&remote));
}

#[test]
fn conditions_with_anonymous_acls() {
    let acls = vec![
        acl("api", "path_beg /api"),
        acl("static", "path_end .css"),
        // Lines sharing a name OR together.
        acl("static", "path_beg /static"),
        acl("www", "hdr(host) -i www.example.com"),
    ];
    let run = |c: &str, head: &str| {
        CompiledCondition::compile(&cond(c), &acls)
            .unwrap()
            .holds(&TestView::new(head))
    };
    let www = |path: &str| format!("GET {path} HTTP/1.1\nHost: WWW.example.com");
    assert!(run("if api www", &www("/api/x")));
    assert!(!run("if api www", "GET /api/x HTTP/1.1\nHost: other"));
    assert!(run("if static", &www("/static/a")) && run("if static", &www("/a.css")));
    assert!(run("if api || static", &www("/a.css")));
    assert!(run("if api or static", &www("/a.css")));
    assert!(run("if !api", &www("/x")) && !run("if !api", &www("/api")));
    assert!(run("if ! api", &www("/x")));
    assert!(run("unless api", &www("/x")) && !run("unless api", &www("/api")));
    assert!(run("if { path_beg /x }", &www("/x/1")));
    assert!(run(
        "if www { path_beg /x } || METH_POST",
        "POST /y HTTP/1.1"
    ));
    assert!(run("if ! { path_beg /x }", &www("/y")));
    assert!(run("if !{ path_beg /x }", &www("/y")));
    assert!(run(
        "if { hdr(host) -i www.example.com } !{ path_end .css }",
        &www("/a")
    ));
    assert!(!run(
        "if { hdr(host) -i www.example.com } !{ path_end .css }",
        &www("/a.css")
    ));
    assert!(run("if TRUE", &www("/")) && !run("if FALSE", &www("/")));
    let c = cond("if a { path_beg /x } || !b");
    assert_eq!(c.any_of.len(), 2);
    assert!(matches!(&c.any_of[0][1].acl, AclRef::Anonymous(e) if e.source == "path_beg /x"));
    assert!(c.any_of[1][0].negated);
    let err = |s: &str| parse_condition(&words(s)).unwrap_err().to_string();
    assert_eq!(err("if { path_beg /x"), "missing closing '}' in condition.");
    assert!(err("if }").contains("unexpected '}'"));
    assert!(err("if { }").contains("empty"));
    assert!(err("if a ||").contains("missing ACL name"));
    assert!(err("if a !").contains("'!' must be followed"));
    assert!(err("if { nosuch x }").contains("unknown fetch method 'nosuch'"));
    assert!(parse_condition(&words("realm x")).unwrap().is_none());
    let missing = CompiledCondition::compile(&cond("if api nosuch"), &acls).unwrap_err();
    assert_eq!(missing.to_string(), "no such ACL : 'nosuch'.");
    // A declared ACL shadows a predefined one.
    let shadow = vec![acl("TRUE", "always_false")];
    let c = CompiledCondition::compile(&cond("if TRUE"), &shadow).unwrap();
    assert!(!c.holds(&TestView::new("GET / HTTP/1.1")));
}

fn load(text: &str) -> Result<Loaded, ConfigErrors> {
    load_sources(&[("t.cfg".to_string(), text.to_string())])
}

#[test]
fn acl_lines_in_a_configuration() {
    let base = "defaults\n mode http\nfrontend f\n bind :8080\n";
    let loaded = load(&format!(
        "{base} acl api path_beg /api\n acl api hdr(host) -i api.example.com\n acl e path_beg\n"
    ))
    .unwrap();
    let fe = &loaded.config.proxies[0];
    assert_eq!(fe.acls.len(), 3);
    assert!(matches!(&fe.acls[0].test, AclTest::Expr(e) if e.method == MatchMethod::Beg));
    assert!(loaded.warnings.iter().any(|w| w
        .to_string()
        .starts_with("parsing [t.cfg:7] : parsing acl keyword 'path_beg'")));
    let errors = |text: &str| match load(&format!("{base}{text}")) {
        Ok(_) => panic!("valid: {text}"),
        Err(e) => e.0.iter().map(ToString::to_string).collect::<Vec<_>>(),
    };
    assert_eq!(
        errors(" acl a foo /x\n"),
        ["parsing [t.cfg:5] : error detected while parsing ACL 'a' : unknown fetch method 'foo' in ACL expression 'foo'."]
    );
    assert!(errors(" acl a path_reg (\n")[0].starts_with(
        "parsing [t.cfg:5] : error detected while parsing ACL 'a' : regex '(' is invalid"
    ));
    assert!(errors(" acl a\n")[0].contains("'acl' expects a name and a criterion"));
    assert!(errors(" acl a!b path /\n")[0].contains("contains invalid character '!'"));
    // Conditions of the stats page take anonymous ACLs and every predefined ACL now.
    let loaded = load(&format!(
        "{base} stats enable\n stats admin if LOCALHOST {{ src 127.0.0.0/8 }} || METH_POST\n"
    ))
    .unwrap();
    assert_eq!(loaded.config.proxies[0].stats.admin.len(), 1);
    let e = errors(" stats enable\n stats admin if NOSUCH\n");
    assert!(e[0].contains("no such ACL : 'NOSUCH'"), "{e:?}");
    let e = errors(" stats enable\n stats admin if { path_beg /x\n");
    assert!(e[0].contains("missing closing '}' in condition."), "{e:?}");
}

/// Counts this thread's allocations, so the evaluation path can prove it makes none.
struct Counting;

thread_local! {
    static ALLOCATIONS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller upholds `alloc`'s contract, which we pass on.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn evaluation_does_not_allocate() {
    let acls = vec![
        acl("api", "path_beg /api /v2 /static"),
        acl("host", "hdr(host) -i www.example.com api.example.com"),
        acl("host", "hdr_dom(host) -i example"),
        acl("re", "path_reg ^/api/v[0-9]+/ ^/x"),
        acl("img", "path_end -i .png .jpg"),
        acl("low", "path,lower -m beg /api/v1"),
        acl("field", "hdr(host),host_only,field(1,.) www"),
        acl("net", "src 10.0.0.0/8 127.0.0.0/8"),
        acl("sid", "cook(sid) -m found"),
        acl("q", "url_param(id) -m int gt 10"),
        acl("sub", "hdr_sub(user-agent) -i bot crawler"),
    ];
    let rules: Vec<CompiledCondition> = [
        "if api host re",
        "if img || low field",
        "if net !sid q",
        "unless sub",
        "if METH_GET HTTP_1.1 { base_beg -i www.example.com:8080/api } LOCALHOST",
        "if { hdr_cnt(accept) ge 1 } { req.len gt 0 } !FALSE",
    ]
    .iter()
    .map(|c| CompiledCondition::compile(&cond(c), &acls).unwrap())
    .collect();
    let view = TestView::new(GET);
    let run = || rules.iter().filter(|r| r.holds(&view)).count();
    // The first run may fill the regex engine's per-thread cache.
    let expected = run();
    let before = ALLOCATIONS.with(std::cell::Cell::get);
    for _ in 0..100 {
        assert_eq!(run(), expected);
    }
    assert_eq!(ALLOCATIONS.with(std::cell::Cell::get) - before, 0);
    assert_eq!(expected, 5);
}

#[test]
fn no_allocation_paths_stay_in_place() {
    // Field/word/trim slices keep borrowing the request; only building converters copy.
    // (Checked indirectly: a 10 KB header goes through slicing converters unharmed.)
    let long = format!("GET / HTTP/1.1\nX: a/{}/b", "z".repeat(10_000));
    assert!(holds("hdr(x),field(3,/) b", &long));
    assert!(holds("hdr(x),field(2,/),length 10000", &long));
    assert!(holds("hdr(x),ltrim(a/),rtrim(/b),length 10000", &long));
}

#[test]
fn compiled_conditions_are_shareable_and_views_may_be_dyn() {
    fn shareable<T: Send + Sync>() {}
    shareable::<CompiledCondition>();
    shareable::<AclExpr>();
    let c = CompiledCondition::compile(&cond("if { path_beg /api }"), &[]).unwrap();
    let view = TestView::new(GET);
    let dynamic: &dyn RequestView = &view;
    assert!(c.holds(dynamic));
}

//! Generates a corpus of realistic JSON application log lines for
//! `bench/logs/run.sh`.
//!
//! `gen-corpus --bytes 1G --out corpus.jsonl [--seed N]`
//!
//! Lines come from 12 services x 3 pods, ~1 ms apart with jitter, with
//! 196 message templates (HTTP access, DB, cache, auth, payments, queues,
//! jobs, errors with stack-ish detail) carrying variable parts: random trace
//! and span ids (traces of 1-20 lines across services), user ids from a pool
//! of 50,000 users active in sessions, emails, IPs, order/payment ids,
//! durations, sizes, SQL tables, URLs. Besides the corpus it writes
//! `<out>.needles.tsv`: `kind<TAB>needle<TAB>occurrences` for search tests.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufWriter, Write};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
    fn f64(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
    /// Log-normal-ish positive value with the given median.
    fn lognormal(&mut self, median: f64, spread: f64) -> f64 {
        let u = (self.f64() + self.f64() + self.f64() + self.f64() - 2.0) * 1.7;
        median * (u * spread).exp()
    }
}

const SERVICES: &[&str] = &[
    "api-gateway",
    "auth",
    "billing",
    "checkout",
    "catalog",
    "search",
    "notifications",
    "inventory",
    "shipping",
    "recommendations",
    "user-profile",
    "reporting",
];
const FIRST: &[&str] = &[
    "james",
    "mary",
    "robert",
    "patricia",
    "john",
    "jennifer",
    "michael",
    "linda",
    "david",
    "elizabeth",
    "william",
    "barbara",
    "richard",
    "susan",
    "joseph",
    "jessica",
    "thomas",
    "sarah",
    "chris",
    "karen",
    "daniel",
    "lisa",
    "matthew",
    "nancy",
    "anthony",
    "betty",
    "mark",
    "sandra",
    "paul",
    "ashley",
    "steven",
    "kimberly",
    "andrew",
    "emily",
    "kenneth",
    "donna",
    "joshua",
    "michelle",
    "kevin",
    "carol",
    "brian",
    "amanda",
    "george",
    "melissa",
    "timothy",
    "deborah",
    "ronald",
    "stephanie",
    "jason",
    "rebecca",
    "wei",
    "yuki",
    "priya",
    "arjun",
    "fatima",
    "omar",
    "lucas",
    "sofia",
    "mateo",
    "chloe",
];
const LAST: &[&str] = &[
    "smith",
    "johnson",
    "williams",
    "brown",
    "jones",
    "garcia",
    "miller",
    "davis",
    "rodriguez",
    "martinez",
    "hernandez",
    "lopez",
    "gonzalez",
    "wilson",
    "anderson",
    "thomas",
    "taylor",
    "moore",
    "jackson",
    "martin",
    "lee",
    "perez",
    "thompson",
    "white",
    "harris",
    "sanchez",
    "clark",
    "ramirez",
    "lewis",
    "robinson",
    "walker",
    "young",
    "allen",
    "king",
    "wright",
    "scott",
    "torres",
    "nguyen",
    "hill",
    "flores",
    "green",
    "adams",
    "nelson",
    "baker",
    "hall",
    "rivera",
    "campbell",
    "mitchell",
    "carter",
    "roberts",
    "chen",
    "wang",
    "kumar",
    "singh",
    "kowalski",
    "muller",
    "rossi",
    "silva",
    "tanaka",
    "ivanov",
];
const DOMAINS: &[&str] = &[
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "proton.me",
    "example.org",
    "acme-corp.com",
    "fastmail.com",
    "company.io",
];
const RESOURCES: &[&str] = &[
    "orders",
    "users",
    "carts",
    "products",
    "payments",
    "invoices",
    "sessions",
    "addresses",
    "reviews",
    "coupons",
    "shipments",
    "wishlists",
    "refunds",
    "subscriptions",
];
const TABLES: &[&str] = &[
    "orders",
    "order_items",
    "users",
    "accounts",
    "payments",
    "ledger_entries",
    "products",
    "inventory",
    "shipments",
    "sessions",
    "audit_log",
    "coupons",
];
const QUEUES: &[&str] = &[
    "orders.created",
    "payments.settled",
    "emails.outbound",
    "inventory.sync",
    "search.reindex",
];
const CURRENCIES: &[&str] = &["USD", "EUR", "GBP", "JPY", "CAD"];
const ERRORS: &[&str] = &[
    "connection reset by peer",
    "context deadline exceeded",
    "i/o timeout",
    "too many connections",
    "deadlock detected",
    "upstream returned 503",
    "invalid signature",
    "record not found",
    "lock wait timeout exceeded",
    "TLS handshake timeout",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "okhttp/4.12.0",
    "python-requests/2.31.0",
    "Go-http-client/2.0",
];

/// Message templates: `{}` slots are filled by kind letters after the `|`.
/// Kinds: i=int, h=hex8, u=user, e=email, p=ip, d=duration, r=resource,
/// t=table, q=queue, c=currency amount, x=error, o=order id, s=service, n=small int.
fn templates() -> Vec<(&'static str, &'static str)> {
    let mut v: Vec<(&'static str, &'static str)> = vec![
        ("user {} logged in from {}", "ep"),
        ("user {} logged out", "e"),
        ("failed login for {} from {}: invalid password", "ep"),
        ("password reset requested for {}", "e"),
        ("session {} refreshed for user {}", "hu"),
        ("session {} expired", "h"),
        ("issued access token for user {} (ttl {}s)", "ui"),
        ("token validation failed: {}", "x"),
        ("order {} created by user {} with {} items", "oun"),
        ("order {} paid: {}", "oc"),
        ("order {} shipped via {} tracking {}", "osh"),
        ("order {} cancelled by user {}", "ou"),
        ("payment {} authorized for {}", "hc"),
        ("payment {} declined: {}", "hx"),
        ("refund {} issued for order {}: {}", "hoc"),
        ("invoice {} generated for {}", "hc"),
        ("cache miss for key {}:{}", "rh"),
        ("cache hit ratio {}% over last {} requests", "ni"),
        ("evicted {} keys from {} cache", "ir"),
        ("query on {} took {}ms ({} rows)", "tdi"),
        ("slow query on {} took {}ms", "td"),
        ("transaction rolled back on {}: {}", "tx"),
        ("connection pool for {} exhausted ({} waiting)", "tn"),
        ("migrated {} rows in {}", "it"),
        ("published message {} to {}", "hq"),
        ("consumed {} messages from {} in {}ms", "iqd"),
        (
            "message {} on {} moved to dead letter queue after {} attempts",
            "hqn",
        ),
        ("retrying request to {} (attempt {}/5): {}", "snx"),
        ("circuit breaker for {} opened after {} failures", "sn"),
        ("circuit breaker for {} closed", "s"),
        ("upstream {} responded in {}ms", "sd"),
        ("call to {} failed: {}", "sx"),
        ("rate limit exceeded for user {} ({} req/min)", "ui"),
        ("feature flag {} evaluated to true for user {}", "hu"),
        ("scheduled job {} started", "h"),
        ("scheduled job {} finished in {}ms", "hd"),
        ("reindexed {} documents in {}ms", "id"),
        ("search for {} returned {} results in {}ms", "rid"),
        ("recommendations computed for user {}: {} items", "un"),
        ("inventory for sku {} dropped to {}", "hn"),
        ("shipment {} delivered to {}", "hp"),
        ("email {} sent to {}", "he"),
        ("email delivery to {} bounced: {}", "ex"),
        ("push notification {} delivered to user {}", "hu"),
        ("profile updated for user {} ({} fields)", "un"),
        ("address {} validated for user {}", "hu"),
        ("coupon {} applied to order {}: {}", "hoc"),
        ("report {} exported with {} rows in {}ms", "hid"),
        ("health check failed for {}: {}", "sx"),
        ("config reloaded ({} keys changed)", "n"),
        ("gc pause {}ms, heap {} MB", "di"),
        ("worker {} restarted after panic: {}", "nx"),
        ("TLS certificate for {} expires in {} days", "sn"),
        ("webhook {} delivered to {} in {}ms", "hpd"),
        ("unhandled exception in handler for /{}: {}", "rx"),
        ("two-factor code sent to {}", "e"),
        ("two-factor verification failed for user {} ({} attempts)", "un"),
        ("account {} locked after {} failed logins", "un"),
        ("api key {} rotated for service {}", "hs"),
        ("permission denied for user {} on /{}", "ur"),
        ("cart {} abandoned by user {} with {} items", "hun"),
        ("price for sku {} changed to {}", "hc"),
        ("tax computed for order {}: {}", "oc"),
        ("fraud score {} for payment {}", "nh"),
        ("chargeback {} received for order {}", "ho"),
        ("stock reserved for order {}: {} units of sku {}", "onh"),
        ("warehouse sync finished: {} skus updated in {}ms", "id"),
        ("label {} printed for shipment {}", "hh"),
        ("carrier {} rejected shipment {}: {}", "shx"),
        ("index {} rebuilt with {} documents", "ri"),
        ("query cache warmed with {} entries in {}ms", "id"),
        ("model {} loaded in {}ms", "hd"),
        ("A/B experiment {} assigned variant {} to user {}", "hnu"),
        ("sms {} sent to user {}", "hu"),
        ("newsletter batch {} queued with {} recipients", "hi"),
        ("avatar uploaded for user {} ({} KB)", "un"),
        ("export {} for {} ready for download", "he"),
        ("dns lookup for {} took {}ms", "sd"),
        ("leader election won by {} for shard {}", "sn"),
        ("snapshot {} of {} written ({} MB)", "hti"),
        ("replica lag on {} is {}ms", "td"),
    ];
    // HTTP access lines for every method/resource mix: a large template family.
    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH"];
    let verbs = ["completed", "served", "handled"];
    let mut k = 0;
    for r in RESOURCES {
        for m in methods {
            let s: &'static str =
                Box::leak(format!("{m} /api/v1/{r}/{{}} {} with status {{}}", verbs[k % 3]).into_boxed_str());
            v.push((s, "iS"));
            k += 1;
        }
    }
    for t in TABLES {
        let s: &'static str =
            Box::leak(format!("SELECT * FROM {t} WHERE id = {{}} took {{}}ms").into_boxed_str());
        v.push((s, "id"));
        let s: &'static str = Box::leak(
            format!("UPDATE {t} SET updated_at = now() WHERE id = {{}} ({{}} rows)").into_boxed_str(),
        );
        v.push((s, "in"));
        let s: &'static str = Box::leak(
            format!("DELETE FROM {t} WHERE created_at < now() - interval '{{}} days' ({{}} rows)")
                .into_boxed_str(),
        );
        v.push((s, "ni"));
    }
    for q in QUEUES {
        let s: &'static str =
            Box::leak(format!("consumer group lag on {q} is {{}} messages").into_boxed_str());
        v.push((s, "i"));
        let s: &'static str = Box::leak(format!("rebalanced {q} across {{}} consumers").into_boxed_str());
        v.push((s, "n"));
    }
    v
}

struct Trace {
    id: String,
    left: u32,
}

struct Session {
    user: usize,
    left: u32,
}

fn hex(rng: &mut Rng, n: usize, out: &mut String) {
    const H: &[u8; 16] = b"0123456789abcdef";
    for _ in 0..n {
        out.push(H[rng.below(16) as usize] as char);
    }
}

fn civil(days: i64) -> (i64, u32, u32) {
    // days since 1970-01-01 to (y, m, d), proleptic Gregorian
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn rfc3339_micros(ns: i64, out: &mut String) {
    let secs = ns.div_euclid(1_000_000_000);
    let micros = ns.rem_euclid(1_000_000_000) / 1000;
    let (y, m, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    );
}

fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 1u64 << 10),
        'm' | 'M' => (&s[..s.len() - 1], 1 << 20),
        'g' | 'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<f64>().ok().map(|n| (n * mult as f64) as u64)
}

fn main() {
    let mut bytes = 200u64 << 20;
    let mut out_path = String::from("corpus.jsonl");
    let mut seed = 42u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--bytes" => bytes = parse_size(&v).unwrap_or_else(|| die(&format!("bad --bytes {v:?}"))),
            "--out" => out_path = v,
            "--seed" => seed = v.parse().unwrap_or_else(|_| die("bad --seed")),
            _ => die("usage: gen-corpus --bytes 1G --out corpus.jsonl [--seed N]"),
        }
    }
    let mut rng = Rng(seed);
    let tpls = templates();
    // users: id, email
    let users: Vec<(String, String)> = (0..50_000)
        .map(|_| {
            let mut id = String::from("usr_");
            hex(&mut rng, 10, &mut id);
            let email = format!(
                "{}.{}{}@{}",
                rng.pick(FIRST),
                rng.pick(LAST),
                rng.below(1000),
                rng.pick(DOMAINS)
            );
            (id, email)
        })
        .collect();
    let pods: Vec<Vec<String>> = SERVICES
        .iter()
        .map(|s| {
            let mut rs = String::new();
            hex(&mut rng, 10, &mut rs);
            (0..3)
                .map(|_| {
                    let mut p = format!("{s}-{}-", &rs[..10]);
                    const A: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
                    for _ in 0..5 {
                        p.push(A[rng.below(A.len() as u64) as usize] as char);
                    }
                    p
                })
                .collect()
        })
        .collect();
    let f = std::fs::File::create(&out_path).unwrap_or_else(|e| die(&format!("{out_path}: {e}")));
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let mut ts: i64 = 1_795_000_000_000_000_000; // 2026-11-18
    let mut traces: Vec<Trace> = Vec::new();
    let mut sessions: Vec<Session> = Vec::new();
    let mut written = 0u64;
    let mut lines = 0u64;
    let mut line = String::with_capacity(1024);
    let mut msg = String::with_capacity(256);
    let mut user_counts: HashMap<usize, u32> = HashMap::new();
    let mut trace_needle: Option<String> = None;
    let mut email_needle: Option<(usize, u32)> = None;
    while written < bytes {
        ts += 200_000 + rng.below(1_600_000) as i64;
        // trace: continue an active one (70%) or start a new one
        let ti = if traces.len() >= 100 || (!traces.is_empty() && rng.below(10) < 7) {
            rng.below(traces.len() as u64) as usize
        } else {
            let mut id = String::with_capacity(32);
            hex(&mut rng, 32, &mut id);
            traces.push(Trace {
                id,
                left: 1 + rng.below(20) as u32,
            });
            traces.len() - 1
        };
        // session: continue (90%) or start
        let si = if sessions.len() > 200 || (!sessions.is_empty() && rng.below(10) < 9) {
            rng.below(sessions.len() as u64) as usize
        } else {
            sessions.push(Session {
                user: rng.below(users.len() as u64) as usize,
                left: 5 + rng.below(60) as u32,
            });
            sessions.len() - 1
        };
        let user = sessions[si].user;
        let svc = rng.below(SERVICES.len() as u64) as usize;
        let pod = &pods[svc][rng.below(3) as usize];
        let (tpl, kinds) = *rng.pick(&tpls);
        let level = if tpl.contains("failed") || tpl.contains("declined") || tpl.contains("exception") {
            if rng.below(4) == 0 {
                "warn"
            } else {
                "error"
            }
        } else {
            match rng.below(100) {
                0..=79 => "info",
                80..=91 => "debug",
                92..=97 => "warn",
                _ => "error",
            }
        };
        // message
        msg.clear();
        let status = *rng.pick(&[200, 200, 200, 200, 200, 201, 204, 304, 400, 401, 404, 500, 503]);
        let mut table = *rng.pick(TABLES);
        let mut parts = tpl.split("{}");
        msg.push_str(parts.next().unwrap_or(""));
        let mut used_email = false;
        for (k, rest) in kinds.bytes().zip(parts) {
            match k {
                b'i' => {
                    let _ = write!(msg, "{}", rng.below(100_000));
                }
                b'n' => {
                    let _ = write!(msg, "{}", 1 + rng.below(50));
                }
                b'h' => {
                    let n = 8 + 4 * rng.below(3) as usize;
                    hex(&mut rng, n, &mut msg)
                }
                b'u' => msg.push_str(&users[user].0),
                b'e' => {
                    msg.push_str(&users[user].1);
                    used_email = true;
                }
                b'p' => {
                    let _ = write!(
                        msg,
                        "{}.{}.{}.{}",
                        10 + rng.below(200),
                        rng.below(256),
                        rng.below(256),
                        1 + rng.below(254)
                    );
                }
                b'd' => {
                    let _ = write!(msg, "{:.1}", rng.lognormal(12.0, 0.9));
                }
                b'r' => msg.push_str(rng.pick::<&str>(RESOURCES)),
                b't' => {
                    table = *rng.pick(TABLES);
                    msg.push_str(table)
                }
                b'S' => {
                    let _ = write!(msg, "{status}");
                }
                b'q' => msg.push_str(rng.pick::<&str>(QUEUES)),
                b'c' => {
                    let _ = write!(msg, "{:.2} {}", rng.lognormal(40.0, 0.8), rng.pick(CURRENCIES));
                }
                b'x' => msg.push_str(rng.pick::<&str>(ERRORS)),
                b'o' => {
                    let _ = write!(msg, "ord-{}", 10_000_000 + rng.below(89_999_999));
                }
                b's' => msg.push_str(rng.pick::<&str>(SERVICES)),
                _ => {}
            }
            msg.push_str(rest);
        }
        // span id
        let mut span = String::with_capacity(16);
        hex(&mut rng, 16, &mut span);
        line.clear();
        line.push_str("{\"ts\":\"");
        rfc3339_micros(ts, &mut line);
        let _ = write!(
            line,
            "\",\"level\":\"{level}\",\"service\":\"{}\",\"pod\":\"{pod}\",\"trace_id\":\"{}\",\"span_id\":\"{span}\",\"user_id\":\"{}\",\"msg\":\"{}\"",
            SERVICES[svc], traces[ti].id, users[user].0, msg
        );
        if tpl.contains(" /api/v1/") {
            let _ = write!(
                line,
                ",\"http\":{{\"method\":\"{}\",\"status\":{status},\"bytes\":{},\"client_ip\":\"{}.{}.{}.{}\",\"user_agent\":\"{}\"}}",
                tpl.split(' ').next().unwrap_or("GET"),
                rng.below(50_000),
                10 + rng.below(200),
                rng.below(256),
                rng.below(256),
                1 + rng.below(254),
                rng.pick(AGENTS)
            );
        }
        if tpl.contains("SELECT")
            || tpl.contains("UPDATE")
            || tpl.contains("DELETE FROM")
            || tpl.contains("query")
        {
            let _ = write!(
                line,
                ",\"db\":{{\"table\":\"{table}\",\"rows\":{}}}",
                rng.below(500)
            );
        }
        let _ = write!(line, ",\"duration_ms\":{:.3}}}", rng.lognormal(8.0, 1.0));
        line.push('\n');
        w.write_all(line.as_bytes())
            .unwrap_or_else(|e| die(&e.to_string()));
        written += line.len() as u64;
        lines += 1;
        // bookkeeping for needles
        *user_counts.entry(user).or_default() += 1;
        if used_email && email_needle.is_none() && lines > 1000 {
            email_needle = Some((user, 0));
        }
        if trace_needle.is_none() && written > bytes / 2 && traces[ti].left > 3 {
            trace_needle = Some(traces[ti].id.clone());
        }
        traces[ti].left -= 1;
        if traces[ti].left == 0 {
            traces.swap_remove(ti);
        }
        sessions[si].left -= 1;
        if sessions[si].left == 0 {
            sessions.swap_remove(si);
        }
    }
    w.flush().unwrap_or_else(|e| die(&e.to_string()));
    drop(w);
    // needles: exact occurrence counts by a scan of the written file
    let mut needles: Vec<(String, String)> = Vec::new();
    if let Some(t) = trace_needle {
        needles.push(("trace_id".into(), t));
    }
    // a user with ~100-600 lines, and the rarest/most active users
    let mut uc: Vec<(u32, usize)> = user_counts.iter().map(|(u, c)| (*c, *u)).collect();
    uc.sort();
    if let Some(&(_, u)) = uc.iter().find(|(c, _)| *c >= 100 && *c <= 600) {
        needles.push(("user_id".into(), users[u].0.clone()));
    }
    if let Some(&(_, u)) = uc.last() {
        needles.push(("user_id_most_active".into(), users[u].0.clone()));
    }
    if let Some((u, _)) = email_needle {
        needles.push(("email".into(), users[u].1.clone()));
    }
    needles.push(("absent".into(), "f00dfacecafebeef".into()));
    let data = std::fs::read(&out_path).unwrap_or_else(|e| die(&e.to_string()));
    let mut tsv = String::new();
    for (kind, n) in needles {
        let count = data
            .split(|&b| b == b'\n')
            .filter(|l| memchr::memmem::find(l, n.as_bytes()).is_some())
            .count();
        let _ = writeln!(tsv, "{kind}\t{n}\t{count}");
    }
    std::fs::write(format!("{out_path}.needles.tsv"), &tsv).unwrap_or_else(|e| die(&e.to_string()));
    eprintln!("wrote {written} bytes, {lines} lines to {out_path}");
    eprint!("{tsv}");
}

fn die(msg: &str) -> ! {
    eprintln!("gen-corpus: {msg}");
    std::process::exit(2)
}

#[cfg(test)]
mod tests {
    #[test]
    fn about_two_hundred_distinct_templates() {
        let t = super::templates();
        let mut names: Vec<&str> = t.iter().map(|x| x.0).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), t.len());
        assert!((190..=210).contains(&t.len()), "{}", t.len());
        for (tpl, kinds) in &t {
            assert_eq!(tpl.matches("{}").count(), kinds.len(), "{tpl}");
        }
    }

    #[test]
    fn timestamps_format_like_rfc3339() {
        let mut s = String::new();
        super::rfc3339_micros(1_795_000_000_000_460_000, &mut s);
        assert_eq!(s, "2026-11-18T11:06:40.000460Z");
    }
}

//! A small user-agent parser for the `user_agent` stage: browser family and
//! major.minor version, operating system and version, device class.
//!
//! It recognizes the common families by their product tokens, in the order
//! that disambiguates them (Edge and Opera before Chrome, Chrome before
//! Safari); anything else is `Other`. It is not a full ua-parser database.

/// What a user agent says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserAgent {
    pub browser: String,
    pub browser_version: String,
    pub os: String,
    pub os_version: String,
    /// `bot`, `mobile`, `tablet` or `desktop`.
    pub device: String,
}

/// The version digits after `token` (`Chrome/120.0.1` -> `120.0`).
fn version_after(ua: &str, token: &str) -> Option<String> {
    let i = ua.find(token)? + token.len();
    let v: String = ua[i..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '_')
        .collect();
    let v = v.replace('_', ".");
    let parts: Vec<&str> = v.split('.').filter(|p| !p.is_empty()).take(2).collect();
    (!parts.is_empty()).then(|| parts.join("."))
}

pub fn parse(ua: &str) -> UserAgent {
    let lower = ua.to_ascii_lowercase();
    let mut out = UserAgent::default();
    const BOTS: [(&str, &str); 9] = [
        ("googlebot", "Googlebot"),
        ("bingbot", "Bingbot"),
        ("curl/", "curl"),
        ("wget/", "Wget"),
        ("python-requests/", "python-requests"),
        ("go-http-client/", "Go-http-client"),
        ("prometheus/", "Prometheus"),
        ("bot", "Other bot"),
        ("spider", "Other bot"),
    ];
    if let Some((tok, name)) = BOTS.iter().find(|(t, _)| lower.contains(t)) {
        out.browser = (*name).to_string();
        out.browser_version = if tok.ends_with('/') {
            version_after(&lower, tok).unwrap_or_default()
        } else {
            String::new()
        };
        out.device = "bot".into();
    } else {
        let families: [(&str, &str); 8] = [
            ("Edg/", "Edge"),
            ("EdgA/", "Edge"),
            ("OPR/", "Opera"),
            ("SamsungBrowser/", "Samsung Internet"),
            ("Firefox/", "Firefox"),
            ("CriOS/", "Chrome"),
            ("Chrome/", "Chrome"),
            ("MSIE ", "Internet Explorer"),
        ];
        if let Some((tok, name)) = families.iter().find(|(t, _)| ua.contains(t)) {
            out.browser = (*name).to_string();
            out.browser_version = version_after(ua, tok).unwrap_or_default();
        } else if ua.contains("Trident/") {
            out.browser = "Internet Explorer".into();
            out.browser_version = version_after(ua, "rv:").unwrap_or_default();
        } else if ua.contains("Safari/") {
            out.browser = "Safari".into();
            out.browser_version = version_after(ua, "Version/").unwrap_or_default();
        } else {
            out.browser = "Other".into();
        }
        out.device = if ua.contains("iPad") || (ua.contains("Android") && !ua.contains("Mobile")) {
            "tablet".into()
        } else if ua.contains("Mobile") || ua.contains("iPhone") {
            "mobile".into()
        } else {
            "desktop".into()
        };
    }
    let (os, ver) = if ua.contains("Windows NT") {
        let v = version_after(ua, "Windows NT ").unwrap_or_default();
        let name = match v.as_str() {
            "10.0" => "10",
            "6.3" => "8.1",
            "6.2" => "8",
            "6.1" => "7",
            _ => v.as_str(),
        };
        ("Windows", name.to_string())
    } else if ua.contains("Android") {
        ("Android", version_after(ua, "Android ").unwrap_or_default())
    } else if ua.contains("iPhone") || ua.contains("iPad") {
        ("iOS", version_after(ua, " OS ").unwrap_or_default())
    } else if ua.contains("Mac OS X") {
        ("macOS", version_after(ua, "Mac OS X ").unwrap_or_default())
    } else if ua.contains("CrOS") {
        ("Chrome OS", String::new())
    } else if ua.contains("Linux") {
        ("Linux", String::new())
    } else {
        ("Other", String::new())
    };
    out.os = os.into();
    out.os_version = ver;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(ua: &str) -> (String, String, String, String, String) {
        let u = parse(ua);
        (u.browser, u.browser_version, u.os, u.os_version, u.device)
    }

    fn t(a: &str, b: &str, c: &str, d: &str, e: &str) -> (String, String, String, String, String) {
        (a.into(), b.into(), c.into(), d.into(), e.into())
    }

    #[test]
    fn common_agents() {
        assert_eq!(
            p("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36"),
            t("Chrome", "120.0", "Windows", "10", "desktop")
        );
        assert_eq!(
            p("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91"),
            t("Edge", "120.0", "Windows", "10", "desktop")
        );
        assert_eq!(
            p("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1"),
            t("Safari", "17.1", "iOS", "17.1", "mobile")
        );
        assert_eq!(
            p("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"),
            t("Firefox", "121.0", "Linux", "", "desktop")
        );
        assert_eq!(
            p("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36"),
            t("Chrome", "120.0", "Android", "14", "mobile")
        );
        assert_eq!(
            p("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15"),
            t("Safari", "17.2", "macOS", "10.15", "desktop")
        );
        assert_eq!(p("curl/8.4.0"), t("curl", "8.4", "Other", "", "bot"));
        assert_eq!(
            p("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
            t("Googlebot", "", "Other", "", "bot")
        );
        assert_eq!(
            p("Mozilla/4.08 [en] (Win98; I ;Nav)"),
            t("Other", "", "Other", "", "desktop")
        );
        assert_eq!(p(""), t("Other", "", "Other", "", "desktop"));
    }

    #[test]
    fn garbage_never_panics() {
        for s in [
            "Chrome/",
            "Windows NT ",
            "rv:",
            " OS é_",
            "Firefox/....",
            "Android",
            "Trident/ rv:11.0é",
        ] {
            let _ = parse(s);
        }
    }
}

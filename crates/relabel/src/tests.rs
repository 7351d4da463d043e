use super::*;

fn rule(yaml: &str) -> Relabeler {
    serde_yaml::from_str::<Relabeler>(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
}

fn rule_err(yaml: &str) -> String {
    match serde_yaml::from_str::<Relabeler>(yaml) {
        Ok(r) => panic!("{yaml}: accepted as {r:?}"),
        Err(e) => e.to_string(),
    }
}

fn ls(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// Runs one table case: rules in YAML (a list), input labels, expected output (None = dropped).
fn check(rules_yaml: &str, input: &[(&str, &str)], want: Option<&[(&str, &str)]>) {
    let rules: Vec<Relabeler> =
        serde_yaml::from_str(rules_yaml).unwrap_or_else(|e| panic!("{rules_yaml}: {e}"));
    let got = process_labels(&ls(input), &rules);
    assert_eq!(got, want.map(ls), "rules:\n{rules_yaml}\ninput: {input:?}");
}

#[test]
fn defaults_match_prometheus() {
    let c: RelabelConfig = serde_yaml::from_str("{}").unwrap();
    assert_eq!(c.separator, ";");
    assert_eq!(c.regex, "(.*)");
    assert_eq!(c.replacement, "$1");
    assert_eq!(c.action, Action::Replace);
    assert_eq!(c.modulus, 0);
}

#[test]
fn replace() {
    // Joined with the separator; capture groups.
    check(
        "- source_labels: [a, b]\n  regex: '(.*);(.*)'\n  target_label: c\n  replacement: '${2}-$1'",
        &[("a", "x"), ("b", "y")],
        Some(&[("a", "x"), ("b", "y"), ("c", "y-x")]),
    );
    // Custom separator.
    check(
        "- source_labels: [a, b]\n  separator: '/'\n  target_label: c",
        &[("a", "x"), ("b", "y")],
        Some(&[("a", "x"), ("b", "y"), ("c", "x/y")]),
    );
    // Missing source label reads as "": a;<missing> = "x;".
    check(
        "- source_labels: [a, missing]\n  target_label: c",
        &[("a", "x")],
        Some(&[("a", "x"), ("c", "x;")]),
    );
    // Regex not matching: no change (regex is anchored, so a substring match is no match).
    check(
        "- source_labels: [a]\n  regex: 'x'\n  target_label: c\n  replacement: hit",
        &[("a", "xyz")],
        Some(&[("a", "xyz")]),
    );
    // Empty replacement result deletes the target.
    check(
        "- source_labels: [a]\n  regex: '.*'\n  target_label: b\n  replacement: ''",
        &[("a", "x"), ("b", "old")],
        Some(&[("a", "x")]),
    );
    // Default regex on an empty value: fast path sets the literal replacement.
    check(
        "- target_label: env\n  replacement: prod",
        &[("a", "x")],
        Some(&[("a", "x"), ("env", "prod")]),
    );
    // Target label with a variable; invalid expansion leaves labels unchanged.
    check(
        "- source_labels: [a]\n  regex: '(.*)'\n  target_label: 'l_${1}'\n  replacement: v",
        &[("a", "foo")],
        Some(&[("a", "foo"), ("l_foo", "v")]),
    );
    check(
        "- source_labels: [a]\n  regex: '(.*)'\n  target_label: '${1}'\n  replacement: v",
        &[("a", "1bad")],
        Some(&[("a", "1bad")]),
    );
    // (?s): dot matches newline.
    check(
        "- source_labels: [a]\n  regex: 'x.y'\n  target_label: b\n  replacement: ok",
        &[("a", "x\ny")],
        Some(&[("a", "x\ny"), ("b", "ok")]),
    );
    // Overwrites an existing label; setting __name__ works.
    check(
        "- source_labels: [__name__]\n  regex: 'old_(.*)'\n  target_label: __name__\n  replacement: 'new_$1'",
        &[("__name__", "old_metric")],
        Some(&[("__name__", "new_metric")]),
    );
}

#[test]
fn expansion_follows_go_regexp_expand() {
    let re = compile_regex("(?P<first>a)(b)?(c)").unwrap();
    let caps = re.captures("ac").unwrap();
    let cases = [
        ("$1", "a"),
        ("${1}", "a"),
        ("$first", "a"),
        ("${first}", "a"),
        ("$$1", "$1"),
        ("$2", ""),  // did not participate
        ("$9", ""),  // no such group
        ("$1x", ""), // the group named "1x"
        ("${1}x", "ax"),
        ("$", "$"),     // malformed: literal
        ("${1", "${1"), // unclosed brace: literal $
        ("$-", "$-"),
        ("a$3b", "a"), // "$3b" is the group named "3b"
        ("$3.b", "c.b"),
        ("$01", ""), // leading zero: a name, not a number
        ("x$0y", "x"),
        ("$0", "ac"),
    ];
    for (tpl, want) in cases {
        let mut out = String::new();
        expand(&re, &caps, tpl, &mut out);
        assert_eq!(out, want, "template {tpl:?}");
    }
}

#[test]
fn keep_and_drop() {
    check(
        "- source_labels: [job]\n  regex: 'api|web'\n  action: keep",
        &[("job", "api")],
        Some(&[("job", "api")]),
    );
    check(
        "- source_labels: [job]\n  regex: 'api|web'\n  action: keep",
        &[("job", "apix")],
        None,
    );
    // Missing label is "", which `.+` does not match.
    check(
        "- source_labels: [job]\n  regex: '.+'\n  action: keep",
        &[("a", "b")],
        None,
    );
    check(
        "- source_labels: [job]\n  regex: 'api'\n  action: drop",
        &[("job", "api")],
        None,
    );
    check(
        "- source_labels: [job]\n  regex: 'api'\n  action: DROP",
        &[("job", "web")],
        Some(&[("job", "web")]),
    );
    // Later rules do not run once dropped; earlier ones did.
    check(
        "- target_label: x\n  replacement: y\n- source_labels: [x]\n  regex: y\n  action: drop",
        &[("a", "b")],
        None,
    );
}

#[test]
fn keepequal_and_dropequal() {
    let keep = "- source_labels: [a]\n  target_label: b\n  action: keepequal";
    check(keep, &[("a", "1"), ("b", "1")], Some(&[("a", "1"), ("b", "1")]));
    check(keep, &[("a", "1"), ("b", "2")], None);
    // Both missing: "" == "".
    check(keep, &[("c", "1")], Some(&[("c", "1")]));
    let drop = "- source_labels: [a]\n  target_label: b\n  action: dropequal";
    check(drop, &[("a", "1"), ("b", "1")], None);
    check(drop, &[("a", "1"), ("b", "2")], Some(&[("a", "1"), ("b", "2")]));
}

#[test]
fn hashmod_matches_prometheus() {
    // Values computed independently: int.from_bytes(md5(s)[8:], 'big') % m.
    for (s, m, want) in [
        ("", 10, 8),
        ("foo", 10, 6),
        ("10.0.0.1:9100", 8, 5),
        ("a;b", 1000, 74),
        ("localhost:9090", 3, 1),
    ] {
        assert_eq!(hashmod(s, m), want, "hashmod({s:?}, {m})");
    }
    check(
        "- source_labels: [a, b]\n  target_label: shard\n  modulus: 1000\n  action: hashmod",
        &[("a", "a"), ("b", "b")],
        Some(&[("a", "a"), ("b", "b"), ("shard", "74")]),
    );
}

#[test]
fn labelmap() {
    check(
        "- regex: '__meta_kubernetes_pod_label_(.+)'\n  action: labelmap",
        &[
            ("__meta_kubernetes_pod_label_app", "web"),
            ("__meta_kubernetes_pod_label_tier", "fe"),
            ("job", "j"),
        ],
        Some(&[
            ("__meta_kubernetes_pod_label_app", "web"),
            ("__meta_kubernetes_pod_label_tier", "fe"),
            ("app", "web"),
            ("job", "j"),
            ("tier", "fe"),
        ]),
    );
    check(
        "- regex: '(a)(b)'\n  replacement: 'x_${2}_$1'\n  action: labelmap",
        &[("ab", "v"), ("abc", "w")],
        Some(&[("ab", "v"), ("abc", "w"), ("x_b_a", "v")]),
    );
}

#[test]
fn labeldrop_and_labelkeep() {
    check(
        "- regex: '__meta_.*|tmp'\n  action: labeldrop",
        &[("__meta_x", "1"), ("tmp", "2"), ("tmpx", "3")],
        Some(&[("tmpx", "3")]),
    );
    check(
        "- regex: 'job|instance|__name__'\n  action: labelkeep",
        &[("__name__", "up"), ("job", "j"), ("pod", "p")],
        Some(&[("__name__", "up"), ("job", "j")]),
    );
    // Removing every label drops the set.
    check("- regex: '.*'\n  action: labeldrop", &[("a", "1")], None);
}

#[test]
fn lowercase_and_uppercase() {
    check(
        "- source_labels: [a, b]\n  target_label: c\n  action: lowercase",
        &[("a", "HeLLo"), ("b", "WÖRLD")],
        Some(&[("a", "HeLLo"), ("b", "WÖRLD"), ("c", "hello;wörld")]),
    );
    check(
        "- source_labels: [a]\n  target_label: a\n  action: Uppercase",
        &[("a", "abc")],
        Some(&[("a", "ABC")]),
    );
}

#[test]
fn builder_api_keeps_going_and_reports_drop() {
    let rules: Vec<Relabeler> = serde_yaml::from_str(
        "- target_label: a\n  replacement: '1'\n- source_labels: [a]\n  regex: '2'\n  action: drop",
    )
    .unwrap();
    let mut lb = ls(&[("b", "x")]).builder();
    assert!(process(&mut lb, &rules));
    assert_eq!(lb.build(), ls(&[("a", "1"), ("b", "x")]));
    assert_eq!(process_labels(&ls(&[("b", "x")]), &[]), Some(ls(&[("b", "x")])));
}

#[test]
fn validation_errors_have_prometheus_messages() {
    let cases = [
        (
            "action: hashmod\ntarget_label: x",
            "relabel configuration for hashmod requires non-zero modulus",
        ),
        (
            "action: replace",
            "relabel configuration for replace action requires 'target_label' value",
        ),
        (
            "action: lowercase",
            "relabel configuration for lowercase action requires 'target_label' value",
        ),
        (
            "action: keepequal\nsource_labels: [a]",
            "requires 'target_label' value",
        ),
        (
            "target_label: '1x'",
            "\"1x\" is invalid 'target_label' for replace action",
        ),
        (
            "target_label: 'a-b'",
            "is invalid 'target_label' for replace action",
        ),
        (
            "target_label: '${1'",
            "is invalid 'target_label' for replace action",
        ),
        (
            "action: uppercase\ntarget_label: 'x'\nreplacement: y",
            "'replacement' can not be set for uppercase action",
        ),
        (
            "action: hashmod\nmodulus: 2\ntarget_label: '$1'",
            "is invalid 'target_label' for hashmod action",
        ),
        (
            "action: labelmap\nreplacement: 'a-$1'",
            "\"a-$1\" is invalid 'replacement' for labelmap action",
        ),
        (
            "action: dropequal\nsource_labels: [a]\ntarget_label: b\nregex: x",
            "dropequal action requires only 'source_labels' and 'target_label'",
        ),
        (
            "action: labeldrop\nsource_labels: [a]",
            "labeldrop action requires only 'regex'",
        ),
        (
            "action: labelkeep\ntarget_label: a",
            "labelkeep action requires only 'regex'",
        ),
        ("action: nope", "unknown relabel action \"nope\""),
        (
            "regex: '(unclosed'\ntarget_label: a",
            "invalid regex \"(unclosed\"",
        ),
        (
            "source_labels: ['']\ntarget_label: a",
            "is not a valid label name in 'source_labels'",
        ),
        ("target_label: a\nbogus: 1", "unknown field `bogus`"),
    ];
    for (yaml, want) in cases {
        let err = rule_err(yaml);
        assert!(
            err.contains(want),
            "{yaml:?}: error {err:?} does not contain {want:?}"
        );
    }
    // Valid forms.
    rule("target_label: 'l_${1}_$name'");
    rule("action: labelmap\nreplacement: 'x_${1}'");
    rule("action: keep\nregex: 'a|b'\nsource_labels: [a]");
}

#[test]
fn serde_round_trip() {
    let r = rule("source_labels: [a]\nregex: 'x'\naction: Keep");
    let back: Relabeler = serde_yaml::from_str(&serde_yaml::to_string(&r).unwrap()).unwrap();
    assert_eq!(r, back);
    assert_eq!(r.action(), Action::Keep);
    assert!(r.regex().is_match("x") && !r.regex().is_match("xx"));
    assert_eq!(
        compile_all(&[RelabelConfig::default()]).unwrap_err(),
        (0, RelabelError::MissingTargetLabel(Action::Replace))
    );
}

#[test]
fn label_name_checks() {
    for ok in ["a", "_", "a_1", "__name__", "ABC"] {
        assert!(is_valid_label_name(ok), "{ok}");
    }
    for bad in ["", "1a", "a-b", "a.b", "é"] {
        assert!(!is_valid_label_name(bad), "{bad}");
    }
    for ok in ["$1", "${1}", "a_$1", "${a}b$c", "x${1}y"] {
        assert!(is_valid_label_name_with_vars(ok), "{ok}");
    }
    for bad in ["", "$", "${}", "${1", "1$a", "a-$1", "$-"] {
        assert!(!is_valid_label_name_with_vars(bad), "{bad}");
    }
}

#[test]
fn long_joined_values_use_the_heap_path() {
    let long = "x".repeat(600);
    check(
        "- source_labels: [a, b]\n  regex: '(x+);(y)'\n  target_label: c\n  replacement: '$2'",
        &[("a", &long), ("b", "y")],
        Some(&[("a", &long), ("b", "y"), ("c", "y")]),
    );
    // Exactly at the stack buffer's size and one past it.
    for n in [510, 511, 512] {
        let a = "é".repeat(n / 2);
        let rules = "- source_labels: [a, b]\n  separator: ''\n  target_label: c";
        let want = format!("{a}z");
        check(
            rules,
            &[("a", &a), ("b", "z")],
            Some(&[("a", &a), ("b", "z"), ("c", &want)]),
        );
    }
}

#[test]
fn labels_convenience() {
    let rules: Vec<Relabeler> = serde_yaml::from_str("- regex: 'b'\n  action: labeldrop").unwrap();
    assert_eq!(
        ls(&[("a", "1"), ("b", "2")]).relabel(&rules),
        Some(ls(&[("a", "1")]))
    );
}

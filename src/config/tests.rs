//! The settings read into [`Config`]: defaults, lists, every malformed
//! value named without quoting it, and the secrets kept out of debug output.

use super::*;

fn raw(pairs: &[(&'static str, &str)]) -> RawSettings {
    RawSettings::from_pairs(pairs, true)
}

#[test]
fn defaults_apply_when_nothing_is_set() {
    let c = Config::from_raw(&raw(&[])).unwrap();
    assert_eq!(c.api_base, DEFAULT_API_BASE);
    assert_eq!(c.timeout_ms, 25_000);
    assert_eq!(c.webhook_max_bytes, 10 * 1024 * 1024);
    assert_eq!(c.callback_ttl_days, 30);
    assert_eq!(c.task_poll_ms, 5_000);
    assert!(c.scale_api_key.is_none() && c.callback_keys.is_empty());
    assert!(!c.read_only && c.tools.is_none() && c.exclude_tools.is_empty());
    assert!(c.scale_projects.is_none() && c.callback_hosts.is_empty());
    assert!(!c.callback_emails && !c.live_writes && c.team_invite_domains.is_none());
    assert_eq!(c.rate_limit_period, 60);
}

#[test]
fn lists_are_split_and_trimmed() {
    let c = Config::from_raw(&raw(&[
        (
            "SCALE_CALLBACK_AUTH_KEY",
            " aaaaaaaaaaaaaaaa , bbbbbbbbbbbbbbbbbb ,",
        ),
        (
            "ALLOWED_ORIGINS",
            "https://A.example.com, http://localhost:3000/",
        ),
        ("SCALE_API_BASE", "http://127.0.0.1:9/v1/"),
    ]))
    .unwrap();
    assert_eq!(c.callback_keys.len(), 2);
    assert_eq!(
        c.allowed_origins,
        vec!["https://a.example.com", "http://localhost:3000"]
    );
    assert_eq!(c.api_base, "http://127.0.0.1:9/v1");
}

#[test]
fn malformed_values_name_the_setting_and_hide_the_value() {
    let errs = Config::from_raw(&raw(&[
        ("SCALE_API_BASE", "ftp://x"),
        ("SCALE_TIMEOUT_MS", "soon"),
        ("SUBREQUEST_LIMIT", "1"),
        ("SCALE_CALLBACK_AUTH_KEY", "short-secret"),
        ("WEBHOOK_MAX_BYTES", "99999999999"),
        ("CALLBACK_TTL_DAYS", "0"),
        ("TASK_POLL_MS", "50"),
        ("ALLOWED_ORIGINS", "https://x.com/path"),
        ("DEFAULT_CALLBACK_URL", "mailto:x"),
        ("SCALE_API_KEY", "live key"),
    ]))
    .unwrap_err();
    let names: Vec<_> = errs.iter().map(|e| e.name).collect();
    for n in [
        "SCALE_API_BASE",
        "SCALE_TIMEOUT_MS",
        "SUBREQUEST_LIMIT",
        "SCALE_CALLBACK_AUTH_KEY",
        "WEBHOOK_MAX_BYTES",
        "CALLBACK_TTL_DAYS",
        "TASK_POLL_MS",
        "ALLOWED_ORIGINS",
        "DEFAULT_CALLBACK_URL",
        "SCALE_API_KEY",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    let text: String = errs.iter().map(|e| e.to_string()).collect();
    assert!(!text.contains("short-secret") && !text.contains("live key"));
}

#[test]
fn scale_api_base_is_https_except_to_loopback() {
    for ok in [
        "https://api.scale.com/v1",
        "HTTPS://proxy.example/v1",
        "http://127.0.0.1:9/v1",
        "http://127.8.0.1/v1",
        "http://localhost:8080/v1",
        "http://[::1]:9/v1",
    ] {
        let c = Config::from_raw(&raw(&[("SCALE_API_BASE", ok)]));
        assert!(c.is_ok(), "{ok}");
    }
    for bad in [
        "http://api.scale.com/v1",
        "http://10.0.0.1/v1",
        "http://127.0.0.1.evil.example/v1",
        "http://localhost.evil.example/v1",
        "http://128.0.0.1/v1",
    ] {
        let errs = Config::from_raw(&raw(&[("SCALE_API_BASE", bad)])).unwrap_err();
        assert_eq!(errs[0].name, "SCALE_API_BASE", "{bad}");
        assert!(errs[0].message.contains("https"), "{bad}");
    }
    let c = Config::from_raw(&raw(&[(
        "SCALE_API_BASE",
        "https://Api.Scale.example:8443/v1",
    )]))
    .unwrap();
    assert_eq!(c.api_host, "api.scale.example");
}

#[test]
fn narrowing_and_guard_settings() {
    let c = Config::from_raw(&raw(&[
        ("READ_ONLY", "TRUE"),
        ("TOOLS", "get_task, list_tasks,"),
        ("EXCLUDE_TOOLS", "list_tasks"),
        ("SCALE_PROJECTS", r#"["a,b", " c "]"#),
        ("CALLBACK_HOSTS", "hooks.example.com,b.example.org"),
        ("CALLBACK_EMAILS", "1"),
        ("LIVE_WRITES", "yes"),
        ("TEAM_INVITE_DOMAINS", "example.com"),
        ("RATE_LIMIT_PERIOD", "10"),
    ]))
    .unwrap();
    assert!(c.read_only && c.callback_emails && c.live_writes);
    assert_eq!(
        c.tools.as_deref(),
        Some(&["get_task".to_string(), "list_tasks".into()][..])
    );
    assert_eq!(c.exclude_tools, vec!["list_tasks"]);
    assert_eq!(c.scale_projects, Some(vec!["a,b".to_string(), "c".into()]));
    assert_eq!(c.callback_hosts, vec!["hooks.example.com", "b.example.org"]);
    assert_eq!(c.team_invite_domains, Some(vec!["example.com".to_string()]));
    assert_eq!(c.rate_limit_period, 10);
    let c = Config::from_raw(&raw(&[("SCALE_PROJECTS", "p1, p2")])).unwrap();
    assert_eq!(c.scale_projects, Some(vec!["p1".to_string(), "p2".into()]));

    let errs = Config::from_raw(&raw(&[
        ("READ_ONLY", "sometimes"),
        ("TOOLS", " , "),
        ("EXCLUDE_TOOLS", "Get-Task"),
        ("SCALE_PROJECTS", "[1]"),
        ("CALLBACK_HOSTS", "https://hooks.example.com/x"),
        ("CALLBACK_EMAILS", "2"),
        ("LIVE_WRITES", "on"),
        ("TEAM_INVITE_DOMAINS", "@example.com"),
        ("RATE_LIMIT_PERIOD", "30"),
    ]))
    .unwrap_err();
    let names: Vec<_> = errs.iter().map(|e| e.name).collect();
    assert_eq!(
        names,
        [
            "READ_ONLY",
            "TOOLS",
            "EXCLUDE_TOOLS",
            "SCALE_PROJECTS",
            "CALLBACK_HOSTS",
            "CALLBACK_EMAILS",
            "LIVE_WRITES",
            "TEAM_INVITE_DOMAINS",
            "RATE_LIMIT_PERIOD"
        ]
    );
    for e in &errs {
        for quoted in ["https://hooks", "@example", "sometimes", "Get-Task", "30"] {
            assert!(!e.message.contains(quoted), "{e}");
        }
    }
}

#[test]
fn oauth_settings() {
    let c = Config::from_raw(&raw(&[
        ("PUBLIC_URL", "https://MCP.example.com/"),
        ("OAUTH_BYOK", "True"),
        (
            "OAUTH_SECRET",
            &format!("{}, {}", "a".repeat(32), "b".repeat(40)),
        ),
    ]))
    .unwrap();
    assert_eq!(c.public_url.as_deref(), Some("https://mcp.example.com"));
    assert!(c.oauth_byok);
    assert_eq!(c.oauth_secrets.len(), 2);
    let c = Config::from_raw(&raw(&[("PUBLIC_URL", "http://127.0.0.1:8787")])).unwrap();
    assert_eq!(c.public_url.as_deref(), Some("http://127.0.0.1:8787"));
    for (name, bad) in [
        ("PUBLIC_URL", "http://mcp.example.com"),
        ("PUBLIC_URL", "https://mcp.example.com/mcp"),
        ("OAUTH_BYOK", "maybe"),
        ("OAUTH_SECRET", "too-short-secret-value"),
    ] {
        let errs = Config::from_raw(&raw(&[(name, bad)])).unwrap_err();
        assert_eq!(errs[0].name, name, "{bad}");
        assert!(!errs[0].to_string().contains(bad), "{bad}");
    }
}

#[test]
fn secrets_do_not_debug_print() {
    let c = Config::from_raw(&raw(&[("SCALE_API_KEY", "live_abcdef")])).unwrap();
    assert!(!format!("{c:?}").contains("live_abcdef"));
}

#[test]
fn the_settings_digest_changes_with_any_value_and_shows_none() {
    let a = RawSettings::from_pairs(
        &[
            ("SCALE_API_KEY", "live_secret_value_1"),
            ("READ_ONLY", "false"),
        ],
        true,
    );
    let d = a.compute_digest();
    assert_eq!(d.len(), 32);
    assert_eq!(d, a.compute_digest(), "stable");
    for other in [
        RawSettings::from_pairs(
            &[
                ("SCALE_API_KEY", "live_secret_value_2"),
                ("READ_ONLY", "false"),
            ],
            true,
        ),
        RawSettings::from_pairs(
            &[
                ("SCALE_API_KEY", "live_secret_value_1"),
                ("READ_ONLY", "true"),
            ],
            true,
        ),
        RawSettings::from_pairs(&[("SCALE_API_KEY", "live_secret_value_1")], true),
    ] {
        assert_ne!(other.compute_digest(), d);
    }
    assert!(!d.contains("secret"));
}

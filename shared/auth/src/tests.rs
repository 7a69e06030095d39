use super::*;

const SECRET: &str = "test-secret-that-is-long-enough-0123456789";

fn keys() -> TokenKeys {
    TokenKeys::from_secret(SECRET).expect("strong secret")
}

/// A token for Ann (`u1`, `a@b.co`) in `role`.
fn anns_token(role: Role) -> String {
    keys().issue("u1", "a@b.co", "Ann", role).expect("issued")
}

/// Ann's user claims, valid for `valid_for` and issued by `issuer`, signed by nothing yet.
fn claims(valid_for: Duration, issuer: &str) -> JWTClaims<ProfileClaims> {
    Claims::with_custom_claims(
        ProfileClaims {
            email: "a@b.co".into(),
            name: "Ann".into(),
            role: Role::User,
            sgen: 0,
            sat: None,
        },
        valid_for,
    )
    .with_subject("u1")
    .with_issuer(issuer)
}

/// `claims` signed with the test secret, HS256 as the service signs.
fn signed(claims: JWTClaims<ProfileClaims>) -> String {
    HS256Key::from_bytes(SECRET.as_bytes())
        .authenticate(claims)
        .expect("signed")
}

fn b64(bytes: &[u8]) -> String {
    use jwt_simple::reexports::ct_codecs::{Base64UrlSafeNoPadding, Encoder};
    Base64UrlSafeNoPadding::encode_to_string(bytes).expect("encodes")
}

#[test]
fn issued_token_verifies_with_the_contract_claims() {
    let token = anns_token(Role::Admin);
    let identity = keys().verify(&token).expect("valid");
    assert_eq!(identity.user_id, "u1");
    assert_eq!(identity.email, "a@b.co");
    assert_eq!(identity.name, "Ann");
    assert_eq!(identity.role, Role::Admin);
    let payload = token.split('.').nth(1).expect("payload");
    use jwt_simple::reexports::ct_codecs::{Base64UrlSafeNoPadding, Decoder};
    let json = Base64UrlSafeNoPadding::decode_to_vec(payload, None).expect("base64");
    let claims: serde_json::Value = serde_json::from_slice(&json).expect("json");
    for claim in ["sub", "email", "name", "role", "iat", "exp", "iss"] {
        assert!(claims.get(claim).is_some(), "missing claim {claim}");
    }
    assert_eq!(claims["role"], "admin");
    assert_eq!(claims["iss"], ISSUER);
    let iat = claims["iat"].as_u64().expect("iat");
    assert_eq!(identity.expires_at - iat, TOKEN_LIFETIME_HOURS * 3600);
}

#[test]
fn short_or_empty_secrets_are_refused() {
    assert!(TokenKeys::from_secret("").is_err());
    assert!(TokenKeys::from_secret("short").is_err());
}

#[test]
fn token_signed_with_another_key_is_rejected() {
    let other = TokenKeys::from_secret("another-secret-that-is-long-enough-987654").expect("ok");
    let token = other
        .issue("u1", "a@b.co", "Ann", Role::User)
        .expect("issued");
    assert!(matches!(keys().verify(&token), Err(TokenError::Invalid(_))));
}

#[test]
fn expired_token_is_rejected() {
    let mut claims = claims(Duration::from_secs(1), ISSUER);
    let past = Clock::now_since_epoch() - Duration::from_hours(2);
    claims.issued_at = Some(past);
    claims.expires_at = Some(past + Duration::from_secs(60));
    let token = signed(claims);
    assert!(matches!(keys().verify(&token), Err(TokenError::Invalid(_))));
}

#[test]
fn alg_none_token_is_rejected() {
    let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = b64(
        br#"{"sub":"u1","email":"a@b.co","name":"A","role":"admin","iss":"storefront-user-service","iat":1,"exp":99999999999}"#,
    );
    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}"),
    ] {
        assert!(keys().verify(&token).is_err(), "{token}");
    }
}

#[test]
fn tampered_payload_is_rejected() {
    let token = anns_token(Role::User);
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    parts[1] = b64(
        br#"{"sub":"u1","email":"a@b.co","name":"Ann","role":"admin","iss":"storefront-user-service","iat":1,"exp":99999999999}"#,
    );
    assert!(keys().verify(&parts.join(".")).is_err());
}

#[test]
fn wrong_issuer_is_rejected() {
    let token = signed(claims(Duration::from_hours(1), "someone-else"));
    assert!(keys().verify(&token).is_err());
}

#[test]
fn other_hmac_algorithms_are_rejected() {
    let token = HS512Key::from_bytes(SECRET.as_bytes())
        .authenticate(claims(Duration::from_hours(1), ISSUER))
        .expect("signed");
    assert!(keys().verify(&token).is_err());
}

#[test]
fn bearer_header_parsing() {
    assert_eq!(bearer_token("Bearer abc"), Some("abc"));
    assert_eq!(bearer_token("bearer abc"), Some("abc"));
    assert_eq!(bearer_token("Basic abc"), None);
    assert_eq!(bearer_token("Bearer"), None);
    assert_eq!(bearer_token("Bearer "), None);
    assert_eq!(bearer_token("Bearer a b"), None);
    assert_eq!(keys().verify_header(None), Err(TokenError::Missing));
    assert_eq!(
        keys().verify_header(Some("Token x")),
        Err(TokenError::Malformed)
    );
}

#[test]
fn roles_and_ownership() {
    let token = anns_token(Role::User);
    let user = keys().verify(&token).expect("valid");
    assert!(!user.is_admin());
    assert!(user.owns_or_admin("u1"));
    assert!(!user.owns_or_admin("u2"));
    let token = keys()
        .issue("u9", "root@b.co", "Root", Role::Admin)
        .expect("issued");
    assert!(keys().verify(&token).expect("valid").owns_or_admin("u1"));
}

#[test]
fn email_keys_fold_case_and_compatibility_forms() {
    assert_eq!(email_key(" Ann@Example.COM "), "ann@example.com");
    assert_eq!(email_key("\u{212A}ate@x.io"), email_key("kate@x.io"));
    assert_eq!(email_key("ｂob@x.io"), "bob@x.io");
}

#[test]
fn admin_emails_match_by_key_and_ignore_blanks() {
    assert!(listed_as_admin(
        "Root@Example.com",
        "ops@example.com, ROOT@example.com"
    ));
    assert!(!listed_as_admin("root@example.com", ""));
    assert!(!listed_as_admin("root@example.com", " , other@example.com"));
    assert!(!listed_as_admin("", " , other@example.com"));
}

#[test]
fn an_admin_token_keeps_its_role_only_while_admin_emails_lists_the_address() {
    let token = keys()
        .issue("u9", "Root@b.co", "Root", Role::Admin)
        .expect("issued");
    let admin = keys().verify(&token).expect("valid");

    let still = admin
        .clone()
        .with_role_still_granted(|| "ops@b.co, root@b.co".into());
    let dropped = admin.with_role_still_granted(|| "ops@b.co".into());

    assert!(still.is_admin());
    assert_eq!(dropped.role, Role::User);
    assert!(!dropped.owns_or_admin("u1"));
    assert!(dropped.owns_or_admin("u9"));
}

#[test]
fn a_user_token_is_never_raised_to_admin_by_the_list() {
    let token = keys()
        .issue("u1", "ann@b.co", "Ann", Role::User)
        .expect("issued");

    let user = keys()
        .verify(&token)
        .expect("valid")
        .with_role_still_granted(|| "ann@b.co".into());

    assert_eq!(user.role, Role::User);
}

#[test]
fn password_hash_round_trip_uses_argon2id_phc() {
    let hash = hash_password("correct horse battery").expect("hashed");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(verify_password("correct horse battery", &hash));
    assert!(!verify_password("wrong password", &hash));
    assert_ne!(
        hash,
        hash_password("correct horse battery").expect("hashed"),
        "salted"
    );
}

#[test]
fn malformed_hash_never_matches_and_decoy_is_a_valid_hash() {
    assert!(!verify_password("x", "not a phc string"));
    assert!(PasswordHash::new(decoy_hash()).is_ok());
    assert!(!verify_password("anything", decoy_hash()));
}

#[test]
fn decoy_and_new_hashes_share_the_configured_cost() {
    let expected = format!("m={HASH_MEMORY_KIB},t={HASH_PASSES},p=1");
    let fresh = hash_password("correct horse battery").expect("hashed");
    for phc in [decoy_hash(), fresh.as_str()] {
        let params = PasswordHash::new(phc)
            .expect("valid PHC")
            .params
            .to_string();
        assert_eq!(params, expected, "{phc}");
    }
}

#[test]
fn hashes_made_with_the_previous_cost_still_verify() {
    let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
    let old = Argon2::default()
        .hash_password(b"correct horse battery", &salt)
        .expect("hashed")
        .to_string();
    assert!(old.contains("m=19456,t=2"), "{old}");

    assert!(verify_password("correct horse battery", &old));
    assert!(!verify_password("wrong password", &old));
}

fn service_keys() -> ServiceKeys {
    ServiceKeys::from_secret("service-secret-that-is-long-enough-012345").expect("strong secret")
}

#[test]
fn a_service_token_names_its_caller_and_opens_only_its_target() {
    let token = service_keys()
        .issue("order-service", "product-service")
        .expect("issued");

    assert_eq!(
        service_keys().verify(&token, "product-service"),
        Ok("order-service".to_string())
    );
    assert!(
        service_keys()
            .verify(&token, "notification-service")
            .is_err()
    );
}

#[test]
fn user_tokens_and_other_keys_are_not_service_tokens() {
    let user_token = anns_token(Role::Admin);
    let same_secret = ServiceKeys::from_secret(SECRET).expect("strong secret");
    let other_key =
        ServiceKeys::from_secret("another-service-secret-0123456789abcdef").expect("strong secret");
    let token = service_keys()
        .issue("order-service", "product-service")
        .expect("issued");

    assert!(same_secret.verify(&user_token, "product-service").is_err());
    assert!(other_key.verify(&token, "product-service").is_err());
    assert!(
        keys().verify(&token).is_err(),
        "a service token is no user token"
    );
    assert!(ServiceKeys::from_secret("short").is_err());
}

#[test]
fn a_token_carries_its_session_and_a_refresh_can_keep_the_start() {
    let started = Session {
        generation: 3,
        started_at: 1_000,
    };
    let token = keys()
        .issue_in_session("u1", "a@b.co", "Ann", Role::User, started)
        .expect("issue");

    let identity = keys().verify(&token).expect("valid");

    assert_eq!(identity.session, started);
    assert!(identity.session.older_than_hours(1, 1_000 + 3601));
    assert!(!identity.session.older_than_hours(1, 1_000 + 3600));
    let fresh = keys().verify(&anns_token(Role::User));
    assert_eq!(fresh.expect("valid").session.generation, 0);
}

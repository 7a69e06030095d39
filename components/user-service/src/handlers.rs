//! User-service handlers: parse, apply the rules, call storage, answer.

use std::rc::Rc;

use auth::{Identity, Session, TokenKeys, email_key};
use http_service::{ApiError, ApiResult, Reply, RequestContext, page_from};
use platform::Service;
use platform::variables::names::{ADMIN_BOOTSTRAP_TOKEN, ADMIN_EMAILS, SESSION_MAX_HOURS};
use serde_json::json;

use crate::domain::{Account, AdminClaim, Login, Registration, admin_claim};
use crate::storage::{self, NewAccount};
use crate::throttle::{self, Subjects};

/// The header that carries the operator's bootstrap token.
const BOOTSTRAP_HEADER: &str = "x-admin-bootstrap-token";
/// How long a session may be refreshed, unless `session_max_hours` says otherwise.
const DEFAULT_SESSION_MAX_HOURS: u64 = 168;

fn admin_emails(ctx: &RequestContext) -> String {
    ctx.variables()
        .text(ADMIN_EMAILS)
        .map(|list| list.to_string())
        .unwrap_or_default()
}

/// What the request's bootstrap header says about `email` (the operator's token is read only
/// when the address is listed).
fn claim(ctx: &RequestContext, email: &str, required: bool) -> Result<AdminClaim, ApiError> {
    let list = admin_emails(ctx);
    if !auth::listed_as_admin(email, &list) {
        return Ok(AdminClaim::NotListed);
    }
    let expected = match ctx.variables().text(ADMIN_BOOTSTRAP_TOKEN) {
        Some(_) => Some(ctx.variables().secret(ADMIN_BOOTSTRAP_TOKEN)?),
        None => None,
    };
    Ok(admin_claim(
        email,
        &list,
        ctx.header(BOOTSTRAP_HEADER),
        expected.as_deref(),
        required,
    ))
}

fn refused_admin() -> ApiError {
    ApiError::forbidden("This address is reserved for an administrator")
        .with_details(json!({ "header": "X-Admin-Bootstrap-Token" }))
}

/// A token for `account` in `session`, with the role the rules give now.
fn token_for(
    ctx: &RequestContext,
    keys: &TokenKeys,
    account: &Account,
    session: Session,
) -> Result<String, ApiError> {
    keys.issue_in_session(
        &account.id,
        &account.email,
        &account.name,
        account.role(&admin_emails(ctx)),
        session,
    )
    .map_err(ApiError::internal)
}

/// `POST /api/users/register`: `{email, password, name}` -> 201 `{user, token}`. An address
/// in `admin_emails` needs the operator's bootstrap token (else 403, nothing created).
pub async fn register(ctx: Rc<RequestContext>) -> ApiResult {
    // The keys first: with an unusable secret nothing is created.
    let keys = ctx.token_keys()?;
    let registration = Registration::parse(ctx.json()?)?;
    let admin = match claim(&ctx, registration.email.as_str(), true)? {
        AdminClaim::Granted => true,
        AdminClaim::NotListed | AdminClaim::Unclaimed => false,
        AdminClaim::Refused => return Err(refused_admin()),
    };
    let password_hash = auth::hash_password(registration.password.expose())
        .map_err(|error| ApiError::internal(error.0))?;
    let account = storage::insert(
        ctx.db()?,
        &NewAccount {
            email: &registration.email,
            name: &registration.name,
            password_hash: &password_hash,
            admin,
        },
    )?;
    let token = token_for(&ctx, &keys, &account, Session::starting_now(0))?;
    Ok(Reply::created(
        &json!({ "user": account.view(&admin_emails(&ctx)), "token": token }),
        "User registered successfully",
    ))
}

/// `POST /api/users/login`: `{email, password}` -> 200 `{user, token}`; the same 401 for an
/// unknown email and a wrong password; 429 once the account or the client address has
/// failed too often. A listed address that sends the bootstrap token is confirmed as admin.
pub async fn login(ctx: Rc<RequestContext>) -> ApiResult {
    let keys = ctx.token_keys()?;
    let login = Login::parse(ctx.json()?)?;
    let key = email_key(&login.email);
    let subjects = Subjects::new(&key, &ctx.client_bucket());
    let db = ctx.db()?;
    if let Err(locked) = throttle::begin(db, &subjects, platform::clock::now_millis())? {
        return Err(ApiError::too_many_requests(locked.retry_after_secs));
    }
    let credentials = storage::find_credentials(db, &key)?;
    // Verify against a decoy hash when the email is unknown, so both failures cost the same.
    let hash = credentials
        .as_ref()
        .map_or(auth::decoy_hash(), |c| c.password_hash.as_str());
    let matches = auth::verify_password(&login.password, hash);
    let Some(credentials) = credentials.filter(|_| matches) else {
        return Err(ApiError::unauthorized("Invalid credentials"));
    };
    throttle::succeeded(db, &subjects)?;
    let mut account = credentials.account;
    match claim(&ctx, &account.email, false)? {
        AdminClaim::Granted if !account.admin_confirmed => {
            storage::confirm_admin(db, &account.id)?;
            account.admin_confirmed = true;
        }
        AdminClaim::Refused => return Err(refused_admin()),
        _ => {}
    }
    let generation = edge::session_generation(ctx.edge_db()?, &account.id)?;
    let token = token_for(&ctx, &keys, &account, Session::starting_now(generation))?;
    Ok(Reply::ok(
        &json!({ "user": account.view(&admin_emails(&ctx)), "token": token }),
        "Login successful",
    ))
}

/// The caller's account; a token whose account is gone is no longer valid (401).
fn own_account(ctx: &RequestContext, identity: &Identity) -> Result<Account, ApiError> {
    storage::find(ctx.db()?, &identity.user_id)?
        .ok_or_else(|| ApiError::unauthorized("Invalid or expired token"))
}

/// `GET /api/users/me`: the caller's profile.
pub async fn me(ctx: Rc<RequestContext>) -> ApiResult {
    let identity = ctx.identity()?;
    let account = own_account(&ctx, &identity)?;
    Ok(Reply::ok(
        &account.view(&admin_emails(&ctx)),
        "Profile retrieved successfully",
    ))
}

/// `POST /api/users/token/refresh`: a fresh token in the same session, with the role the
/// rules give now; 401 once the session is older than `session_max_hours`.
pub async fn refresh(ctx: Rc<RequestContext>) -> ApiResult {
    let identity = ctx.identity()?;
    let max_hours = ctx
        .variables()
        .u64_or(SESSION_MAX_HOURS, DEFAULT_SESSION_MAX_HOURS);
    let now = u64::try_from(platform::clock::now_millis() / 1000).unwrap_or(0);
    if identity.session.older_than_hours(max_hours, now) {
        return Err(ApiError::unauthorized("Session expired; log in again")
            .with_details(json!({ "sessionMaxHours": max_hours })));
    }
    let account = own_account(&ctx, &identity)?;
    let token = token_for(&ctx, &ctx.token_keys()?, &account, identity.session)?;
    Ok(Reply::ok(
        &json!({ "user": account.view(&admin_emails(&ctx)), "token": token }),
        "Token refreshed",
    ))
}

/// `POST /api/users/logout`: every token of the caller issued before now stops working, in
/// every component.
pub async fn logout(ctx: Rc<RequestContext>) -> ApiResult {
    let identity = ctx.identity()?;
    edge::end_sessions(ctx.edge_db()?, &identity.user_id)?;
    Ok(Reply::ok(
        &json!({ "userId": identity.user_id, "loggedOut": true }),
        "Logged out",
    ))
}

/// `GET /api/users` (admin): newest first, paginated.
pub async fn list(ctx: Rc<RequestContext>) -> ApiResult {
    ctx.admin()?;
    let page = page_from(ctx.query(), 20, 100)?;
    let (accounts, total) = storage::list(ctx.db()?, page)?;
    let list = admin_emails(&ctx);
    let users: Vec<_> = accounts.iter().map(|account| account.view(&list)).collect();
    Ok(Reply::page(
        &users,
        page,
        total,
        "Users retrieved successfully",
    ))
}

/// `POST /auth/verify` (the app's services only): the original design's token check.
pub async fn verify(ctx: Rc<RequestContext>) -> ApiResult {
    ctx.calling_service(&Service::ALL)?;
    let identity = ctx.identity()?;
    Ok(Reply::ok(
        &json!({ "id": identity.user_id, "email": identity.email, "name": identity.name, "role": identity.role }),
        "Token valid",
    ))
}

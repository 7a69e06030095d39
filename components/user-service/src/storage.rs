//! Accounts in SQLite (label `users`). Every statement is parameterised.

use auth::Role;
use contracts::events::{EventPayload, UserCreated};
use platform::{Service, clock};
use store::{Database, FromRow, Listing, Page, RowView, StoreError, Value};

use crate::domain::{Account, Email, Name};
use crate::error::Error;

const COLUMNS: &str = "id, email, name, admin_confirmed, created_at";

impl FromRow for Account {
    fn from_row(row: &RowView<'_>) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.text("id")?,
            email: row.text("email")?,
            name: row.text("name")?,
            admin_confirmed: row.flag("admin_confirmed")?,
            created_at: row.text("created_at")?,
        })
    }
}

/// An account with the hash needed to check a login.
pub struct Credentials {
    pub account: Account,
    pub password_hash: String,
}

impl FromRow for Credentials {
    fn from_row(row: &RowView<'_>) -> Result<Self, StoreError> {
        Ok(Self {
            account: Account::from_row(row)?,
            password_hash: row.text("password_hash")?,
        })
    }
}

/// A new account: who, and whether the operator's token made it an admin.
pub struct NewAccount<'a> {
    pub email: &'a Email,
    pub name: &'a Name,
    pub password_hash: &'a str,
    pub admin: bool,
}

/// Inserts an account and records `user.created` in the same transaction. The unique index
/// on the normalised email decides duplicates, also under concurrent registrations.
pub fn insert(db: &Database, new: &NewAccount<'_>) -> Result<Account, Error> {
    let account = Account {
        id: format!("usr_{}", uuid::Uuid::new_v4().simple()),
        email: new.email.as_str().to_string(),
        name: new.name.as_str().to_string(),
        admin_confirmed: new.admin,
        created_at: clock::now_rfc3339(),
    };
    let role = if new.admin { Role::Admin } else { Role::User };
    db.transaction(|db| {
        let inserted = db.execute(
            "INSERT INTO users (id, email, email_normalized, name, password_hash, role,
                                admin_confirmed, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (email_normalized) DO NOTHING
             RETURNING id",
            &[
                Value::Text(account.id.clone()),
                Value::Text(account.email.clone()),
                Value::Text(new.email.normalized().to_string()),
                Value::Text(account.name.clone()),
                Value::Text(new.password_hash.to_string()),
                Value::Text(role.as_str().to_string()),
                Value::Integer(i64::from(new.admin)),
                Value::Text(account.created_at.clone()),
            ],
        )?;
        if inserted.rows.is_empty() {
            return Err(Error::EmailTaken {
                email: account.email.clone(),
            });
        }
        outbox::record(
            db,
            Service::Users,
            &EventPayload::UserCreated(UserCreated {
                user_id: account.id.clone(),
                email: account.email.clone(),
                name: account.name.clone(),
            }),
        )?;
        Ok(account.clone())
    })
}

/// The account and password hash for an email key (see `auth::email_key`).
pub fn find_credentials(db: &Database, email_key: &str) -> Result<Option<Credentials>, Error> {
    Ok(db.query_one(
        &format!("SELECT {COLUMNS}, password_hash FROM users WHERE email_normalized = ?"),
        &[Value::Text(email_key.to_string())],
    )?)
}

pub fn find(db: &Database, id: &str) -> Result<Option<Account>, Error> {
    Ok(db.query_one(
        &format!("SELECT {COLUMNS} FROM users WHERE id = ?"),
        &[Value::Text(id.to_string())],
    )?)
}

/// A page of accounts, newest first, and how many there are.
pub fn list(db: &Database, page: Page) -> Result<(Vec<Account>, u64), Error> {
    Ok(db.page(
        &Listing {
            columns: COLUMNS,
            from: "FROM users",
            order_by: "created_at DESC, rowid DESC",
            parameters: Vec::new(),
        },
        page,
    )?)
}

/// Records that the operator's token confirmed this account as admin.
pub fn confirm_admin(db: &Database, id: &str) -> Result<(), Error> {
    db.execute(
        "UPDATE users SET admin_confirmed = 1, role = 'admin' WHERE id = ? AND admin_confirmed = 0",
        &[Value::Text(id.to_string())],
    )?;
    Ok(())
}

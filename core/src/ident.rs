//! Validated names: which resource is leased, and who holds it.
//!
//! Names arrive from HTTP paths, request bodies and database rows. Each type here can only be
//! built through its validating constructor, so the rules never see a name that breaks the model.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{quote, LeaseError};

/// Longest scope, in characters.
pub const MAX_SCOPE_LEN: usize = 32;
/// Longest resource id, in characters.
pub const MAX_RESOURCE_ID_LEN: usize = 64;
/// Longest owner, in characters.
pub const MAX_OWNER_LEN: usize = 128;
/// Longest session id, in characters.
pub const MAX_SESSION_ID_LEN: usize = 128;
/// The rule [`ResourceId`] enforces, as a regular expression for API documents (`OpenAPI`).
pub const RESOURCE_ID_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$";

/// The kind of thing leased: `project`, `deployment`, or another lowercase word.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scope(String);

impl Scope {
    /// Checks that `value` is 1 to 32 characters of `[a-z0-9_]` starting with a letter.
    pub fn new(value: impl Into<String>) -> Result<Self, LeaseError> {
        let value = value.into();
        let mut chars = value.chars();
        let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !starts_with_letter || !rest_ok || value.len() > MAX_SCOPE_LEN {
            return Err(LeaseError::InvalidScope {
                value: quote(&value),
            });
        }
        Ok(Self(value))
    }

    /// The scope as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The id of one resource within its scope, matching `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResourceId(String);

impl ResourceId {
    /// Checks `value` against the id pattern, naming the field `id` on error.
    pub fn new(value: impl Into<String>) -> Result<Self, LeaseError> {
        Self::for_field("id", value)
    }

    /// Like [`ResourceId::new`], naming `field` (say `project_id`) on error.
    pub fn for_field(field: &'static str, value: impl Into<String>) -> Result<Self, LeaseError> {
        let value = value.into();
        let mut chars = value.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !first_ok || !rest_ok || value.len() > MAX_RESOURCE_ID_LEN {
            return Err(LeaseError::InvalidResourceId {
                field,
                value: quote(&value),
            });
        }
        Ok(Self(value))
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A leased resource: its scope and its id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ResourceKey {
    /// The kind of resource.
    pub scope: Scope,
    /// The resource within that scope.
    pub id: ResourceId,
}

impl ResourceKey {
    /// Validates both parts.
    pub fn new(scope: &str, id: &str) -> Result<Self, LeaseError> {
        Ok(Self {
            scope: Scope::new(scope)?,
            id: ResourceId::new(id)?,
        })
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.scope.as_str(), self.id.as_str())
    }
}

/// The authenticated principal that holds or asks for a lease: 1 to 128 printable characters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Owner(String);

impl Owner {
    /// Checks that `value` has 1 to 128 characters and no control character.
    pub fn new(value: impl Into<String>) -> Result<Self, LeaseError> {
        let value = value.into();
        let length = value.chars().count();
        let printable = !value.chars().any(char::is_control);
        if length == 0 || length > MAX_OWNER_LEN || !printable {
            return Err(LeaseError::InvalidOwner {
                value: quote(&value),
            });
        }
        Ok(Self(value))
    }

    /// The owner as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One editing client of an owner (a browser tab, a deploy attempt): 1 to 128 characters of
/// `[A-Za-z0-9_.:-]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionId(String);

impl SessionId {
    /// Checks the length and the character set of `value`.
    pub fn new(value: impl Into<String>) -> Result<Self, LeaseError> {
        let value = value.into();
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-');
        if value.is_empty() || value.len() > MAX_SESSION_ID_LEN || !value.chars().all(allowed) {
            return Err(LeaseError::InvalidSessionId {
                value: quote(&value),
            });
        }
        Ok(Self(value))
    }

    /// The session id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who holds a lease: an owner and the session of that owner.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Holder {
    /// The principal.
    pub owner: Owner,
    /// The client instance of that principal.
    pub session_id: SessionId,
}

impl Holder {
    /// Validates both parts.
    pub fn new(owner: &str, session_id: &str) -> Result<Self, LeaseError> {
        Ok(Self {
            owner: Owner::new(owner)?,
            session_id: SessionId::new(session_id)?,
        })
    }
}

macro_rules! text_conversions {
    ($($name:ident),*) => {$(
        impl TryFrom<String> for $name {
            type Error = LeaseError;

            fn try_from(value: String) -> Result<Self, LeaseError> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}

text_conversions!(Scope, ResourceId, Owner, SessionId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_ids_follow_the_backend_pattern() {
        for good in ["a", "Z9", "proj_1.x-y", &"a".repeat(64)] {
            assert!(ResourceId::new(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", ".a", "_a", "a/b", "a b", "é", &"a".repeat(65)] {
            let err = ResourceId::for_field("project_id", bad).unwrap_err();
            assert_eq!(err.code().as_str(), "invalid_resource_id");
            assert!(err.to_string().starts_with("project_id"), "{err}");
        }
    }

    #[test]
    fn scopes_are_lowercase_words() {
        assert!(Scope::new("project").is_ok());
        assert!(Scope::new("deploy_2").is_ok());
        for bad in ["", "Project", "2d", "a-b", &"a".repeat(33)] {
            assert!(Scope::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn owners_are_printable_and_bounded_in_characters() {
        assert!(Owner::new("Zoë O'Brien").is_ok());
        assert!(
            Owner::new("é".repeat(128)).is_ok(),
            "128 characters, 256 bytes"
        );
        for bad in ["", "a\nb", "tab\there", &"a".repeat(129)] {
            assert_eq!(
                Owner::new(bad).unwrap_err().code().as_str(),
                "invalid_owner"
            );
        }
    }

    #[test]
    fn session_ids_use_a_narrow_alphabet() {
        assert!(SessionId::new("tab:1f2e-3.x_y").is_ok());
        for bad in ["", "a b", "a/b", "ü", &"s".repeat(129)] {
            assert_eq!(
                SessionId::new(bad).unwrap_err().code().as_str(),
                "invalid_session_id"
            );
        }
    }
}

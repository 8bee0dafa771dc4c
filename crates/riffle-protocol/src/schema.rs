//! The service-neutral schema language: members, types and constraints as
//! botocore models describe them, in the order AWS checks and reports them.
//! Each service's module (e.g. [`crate::kinesis::schema`]) writes its input
//! tables in it; the type checker and validator only read these types.

use std::fmt;

#[derive(Debug)]
pub enum Ty {
    Str,
    Int,
    /// A floating-point number (botocore `double`).
    Double,
    Bool,
    Blob,
    Timestamp,
    /// A list; the element is described by a member named `member`.
    List(&'static Member),
    /// A map with string keys; the value is described by a member named `member`.
    Map(&'static Member),
    Struct(&'static [Member]),
}

#[derive(Debug)]
pub enum Con {
    Min(i64),
    Max(i64),
    Pattern(&'static dyn Pattern),
    Enum(&'static [&'static str]),
    MinLen(u64),
    MaxLen(u64),
    /// Every element of a list of strings has a length in `[min, max]`.
    ChildLen(u64, u64),
    /// Every element of a list of strings is one of these. Like `ChildLen`, AWS
    /// reports it once, at the list, not per element.
    ChildEnum(&'static [&'static str]),
    /// Every element of a list of strings matches this pattern; reported at the list.
    ChildPattern(&'static dyn Pattern),
    /// Every key of a map has a length in `[min, max]`.
    KeyLen(u64, u64),
    /// Every value of a map (of strings) has a length in `[min, max]`.
    ValLen(u64, u64),
}

#[derive(Debug)]
pub struct Member {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
    pub cons: &'static [Con],
    /// How AWS renders an element of a list of structures in a message.
    pub member_str: Option<&'static str>,
}

/// A string pattern from a botocore model. `source` is printed in AWS's
/// validation messages exactly as the model spells it; `is_match` applies it
/// to the whole string with Java's semantics (ASCII-only `\d`, `\S`).
pub trait Pattern: fmt::Debug + Sync {
    fn source(&self) -> &'static str;
    fn is_match(&self, s: &str) -> bool;
}

/// An optional member.
pub const fn m(name: &'static str, ty: Ty, cons: &'static [Con]) -> Member {
    Member {
        name,
        ty,
        required: false,
        cons,
        member_str: None,
    }
}
/// A required member.
pub const fn req(name: &'static str, ty: Ty, cons: &'static [Con]) -> Member {
    Member {
        name,
        ty,
        required: true,
        cons,
        member_str: None,
    }
}

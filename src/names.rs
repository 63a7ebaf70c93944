//! The text names of closed sets (`ErrorKind::Io` is `io`), taken from their
//! serde form so each name is written once: in the enum's
//! `#[serde(rename_all = ...)]`, which also names it on the wire and in the
//! OpenAPI document.
//!
//! Shared by every stage; no I/O, no state. [`serde_name`] reads a unit
//! variant's name through a serializer that accepts nothing else, and
//! [`named!`](crate::named) gives an enum `as_str` and `Display` from it.

use serde::Serialize;
use serde::ser::{self, Impossible};
use std::fmt;

/// The serde name of a unit variant (`""` for any other value: the
/// [`named!`](crate::named) enums have only unit variants, which a test of
/// each checks).
pub fn serde_name<T: Serialize + ?Sized>(value: &T) -> &'static str {
    value.serialize(VariantName).unwrap_or("")
}

/// `as_str` (the serde name) and `Display` (the same text) for enums of unit
/// variants that derive `Serialize`.
#[macro_export]
macro_rules! named {
    ($($ty:ty),+ $(,)?) => {$(
        impl $ty {
            /// The name clients see (the serde form).
            pub fn as_str(self) -> &'static str {
                $crate::names::serde_name(&self)
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )+};
}

/// A serializer that answers the name of a unit variant and refuses the rest.
struct VariantName;

#[derive(Debug)]
struct NotAUnitVariant;

impl fmt::Display for NotAUnitVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a unit variant")
    }
}

impl std::error::Error for NotAUnitVariant {}

impl ser::Error for NotAUnitVariant {
    fn custom<T: fmt::Display>(_: T) -> Self {
        NotAUnitVariant
    }
}

type Refused = Impossible<&'static str, NotAUnitVariant>;

macro_rules! refuse {
    ($($method:ident($($arg:ty),*)),+ $(,)?) => {$(
        fn $method(self, $(_: $arg),*) -> Result<&'static str, NotAUnitVariant> {
            Err(NotAUnitVariant)
        }
    )+};
}

impl ser::Serializer for VariantName {
    type Ok = &'static str;
    type Error = NotAUnitVariant;
    type SerializeSeq = Refused;
    type SerializeTuple = Refused;
    type SerializeTupleStruct = Refused;
    type SerializeTupleVariant = Refused;
    type SerializeMap = Refused;
    type SerializeStruct = Refused;
    type SerializeStructVariant = Refused;

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<&'static str, NotAUnitVariant> {
        Ok(variant)
    }

    refuse!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
    );

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<Self::Ok, Self::Error> {
        Err(NotAUnitVariant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<Self::Ok, Self::Error> {
        Err(NotAUnitVariant)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Self::Ok, Self::Error> {
        Err(NotAUnitVariant)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Refused, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }

    fn serialize_tuple(self, _: usize) -> Result<Refused, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }

    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Refused, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Refused, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Refused, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Refused, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Refused, NotAUnitVariant> {
        Err(NotAUnitVariant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ErrorCode;
    use crate::diagnostic::{EntityKind, ErrorKind, Severity};
    use crate::diff::patch::PatchKind;
    use crate::diff::semantic::ChangeOp;
    use crate::diff::text::LineTag;
    use crate::engine::CauseKind;
    use crate::integrations::{FailureKind, State};
    use crate::model::IntegrationKind;

    #[test]
    fn a_unit_variant_is_named_as_serde_writes_it() {
        let table: &[(&dyn erased::Named, &str)] = &[
            (&ErrorKind::Io, "io"),
            (&EntityKind::Settings, "settings"),
            (&Severity::Warning, "warning"),
            (&PatchKind::Modified, "modified"),
            (&ChangeOp::Rename, "rename"),
            (&LineTag::Delete, "delete"),
            (&CauseKind::BranchSwitch, "branch_switch"),
            (&CauseKind::HeadMoved, "head_moved"),
            (&State::Disabled, "disabled"),
            (&FailureKind::Tls, "tls"),
            (&IntegrationKind::Testmo, "testmo"),
            (
                &ErrorCode::JsonContentTypeRequired,
                "json_content_type_required",
            ),
        ];
        for (value, name) in table {
            assert_eq!(value.name(), *name);
            assert_eq!(value.json(), format!("\"{name}\""));
        }
    }

    #[test]
    fn anything_but_a_unit_variant_has_no_name() {
        assert_eq!(serde_name(&3_u8), "");
        assert_eq!(serde_name("io"), "");
        assert_eq!(serde_name(&Some(ErrorKind::Io)), "");
    }

    mod erased {
        pub trait Named {
            fn name(&self) -> &'static str;
            fn json(&self) -> String;
        }

        impl<T: serde::Serialize> Named for T {
            fn name(&self) -> &'static str {
                super::serde_name(self)
            }

            fn json(&self) -> String {
                serde_json::to_string(self).unwrap_or_default()
            }
        }
    }
}
